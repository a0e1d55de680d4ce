"""The claims system: claims, their status history, and payments and reserve changes.

Frequency per exposure-year rises with vehicle age and mileage (up to 3x the product's base);
severity is lognormal per failed component and capped by the tier's limit; notification delays
have a heavy tail (claims notified after the cover ended, or after the as-of date, are the
book's IBNR). Each claim's life is simulated whole (possibly past the as-of date); a delivery
shows only what had happened by its date.

Transactions follow case-reserve accounting, so that the actuarial marts can build triangles:

* `reserve_change` is the signed change of the outstanding case reserve;
* `payment` is cash paid (>= 0), always booked with a `reserve_change` of minus the payment on
  the same date (topped up first if the reserve would not cover it);
* at notification an initial estimate is reserved; the estimate may be revised; on closing the
  remaining reserve is released to 0; a declined claim's reserve is released with no payment.

Hence incurred = cumulative payments + cumulative reserve changes, and the outstanding reserve
(cumulative reserve changes) is never negative.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.sources.banking import ibans
from transforms.sources.common import prefixed, rng_for, weighted_choice
from transforms.sources.contracts import Book
from transforms.sources.geography import FR_DEPARTEMENTS, UK_AREAS, region_centroids
from transforms.sources.shards import CLAIM_NUMBERS, TRANSACTION_IDS, Shard, issue

COMPONENTS = ["engine", "gearbox", "turbo", "electrics", "cooling", "fuel_system", "suspension",
              "brakes", "air_conditioning", "battery", "clutch", "steering", "hybrid_system",
              "ev_battery", "tyres", "keys"]
_LABEL_FR = ["moteur", "boîte de vitesses", "turbo", "circuit électrique", "refroidissement",
             "alimentation carburant", "suspension", "freins", "climatisation", "batterie",
             "embrayage", "direction", "système hybride", "batterie de traction", "pneumatiques",
             "clés"]
_LABEL_EN = ["engine", "gearbox", "turbo", "electrical system", "cooling system", "fuel system",
             "suspension", "brakes", "air conditioning", "battery", "clutch", "steering",
             "hybrid system", "traction battery", "tyres", "keys"]
# Median repair cost (GBP) and log-sd per component, for warranty and breakdown cover.
_SEVERITY = np.array([
    (2200, 0.75), (1800, 0.70), (1150, 0.60), (450, 0.80), (550, 0.70), (700, 0.70),
    (420, 0.60), (320, 0.55), (520, 0.60), (160, 0.40), (850, 0.50), (650, 0.60),
    (2600, 0.70), (5200, 0.60), (140, 0.40), (180, 0.40),
])
# Component weights: warranty / mechanical breakdown, then assistance callouts.
_W_REPAIR = np.array([8, 6, 5, 16, 8, 7, 12, 6, 8, 3, 6, 5, 6, 4, 0, 0], dtype=float)
_W_ASSIST = np.array([8, 1, 1, 12, 6, 8, 1, 3, 0, 30, 3, 1, 1, 5, 18, 7], dtype=float)
_ICE_ONLY = [COMPONENTS.index(c) for c in ("turbo", "fuel_system", "clutch")]
_NOT_BRONZE = [COMPONENTS.index(c) for c in ("electrics", "air_conditioning", "suspension",
                                             "steering")]
_BASE_FREQUENCY = np.array([0.10, 0.13, 0.28])  # per exposure-year, by product
_TIER_FREQUENCY = np.array([0.85, 1.0, 1.15])
_LIMIT = np.array([1500.0, 3000.0, 6000.0])  # per claim by tier (assistance: 600)
_DESC_WEIGHTS = [16, 14, 12, 12, 12, 5, 5, 6, 6, 5, 7]  # 5 generic, 2 name, 2 plate, phone, null


@dataclass(frozen=True)
class ClaimsHistory:
    """Everything the claims system will ever hold for the book, dated.

    `claims` carries the classification's columns except `status` (which depends on the date)
    plus internal columns: `_notif` (day number), `_mentions` (what the description leaks).
    `status_events` lists (claim, day, status); `transactions` the dated ledger.
    """

    claims: pl.DataFrame
    status_events: pl.DataFrame
    transactions: pl.DataFrame


def _component_weights(product: np.ndarray, fuel: np.ndarray) -> np.ndarray:
    """(n, components) weights by product and fuel type."""
    w = np.where((product == 2)[:, None], _W_ASSIST, _W_REPAIR).copy()
    electric, hybrid = fuel == 3, fuel == 2
    w[np.ix_(electric, _ICE_ONLY)] = 0
    w[~electric, COMPONENTS.index("ev_battery")] = 0
    w[~hybrid, COMPONENTS.index("hybrid_system")] = 0
    return w


def _notification_delay(rng: np.random.Generator, product: np.ndarray) -> np.ndarray:
    """Days from loss to notification: mostly days, some weeks, a tail of months."""
    n = len(product)
    kind = weighted_choice(rng, [65, 28, 7], n)
    quick = rng.exponential(3.0, n)
    weeks = rng.lognormal(np.log(18), 0.7, n)
    months = rng.lognormal(np.log(90), 0.8, n)
    delay = np.choose(kind, [quick, weeks, months])
    assist = np.where(rng.random(n) < 0.9, 0, rng.integers(1, 4, n))
    return np.minimum(np.where(product == 2, assist, delay), 900).astype(np.int32)


def _round_reserve(amount_cents: np.ndarray, floor_cents: np.ndarray) -> np.ndarray:
    """Case reserves are set in round amounts (tens of currency units)."""
    return np.maximum(np.round(amount_cents / 1000) * 1000, floor_cents).astype(np.int64)


def _split(rng: np.random.Generator, total: np.ndarray, parts: np.ndarray) -> np.ndarray:
    """(n, 3) partial payments summing to `total` over `parts` (1-3) slots, in cents."""
    n = len(total)
    w = rng.gamma(2.0, 1.0, (n, 3)) * (np.arange(3)[None, :] < parts[:, None])
    w /= w.sum(axis=1, keepdims=True)
    amounts = np.floor(total[:, None] * w).astype(np.int64)
    last = parts - 1
    amounts[np.arange(n), last] += total - amounts.sum(axis=1)
    return amounts


def build_claims(seed: int, book: Book) -> ClaimsHistory:
    """Claims, status history and transactions for every contract of the book."""
    rng = rng_for(seed, "claims/frequency")
    c = book.contracts
    start = c["_start"].to_numpy()
    cancel = c["_cancel"].to_numpy()
    cover_end = np.minimum(np.where(cancel >= 0, cancel, c["_end"].to_numpy()), book.as_of + 1)
    exposure = np.maximum(cover_end - start, 0)
    product = c["_product"].to_numpy()
    tier = c["_tier"].to_numpy()
    age = c["_vehicle_age"].to_numpy()
    mileage = c["mileage_at_start"].to_numpy()
    factor = np.minimum((1 + 0.11 * age) * (1 + 0.5 * np.minimum(mileage / 150_000, 1.5)), 3.0)
    lam = _BASE_FREQUENCY[product] * factor * _TIER_FREQUENCY[tier]
    counts = rng.poisson(lam * exposure / 365.25)
    k = np.repeat(np.arange(c.height), counts)  # contract of each claim
    n = len(k)
    loss = (start[k] + np.floor(rng.random(n) * exposure[k])).astype(np.int32)
    prod = product[k]
    gb = (c["country"].to_numpy() == "GB")[k]
    fuel = c["fuel_type"].replace_strict({"petrol": 0, "diesel": 1, "hybrid": 2,
                                         "electric": 3}).to_numpy()[k]

    srng = rng_for(seed, "claims/severity")
    w = _component_weights(prod, fuel)
    cdf = np.cumsum(w, axis=1)
    component = (srng.random(n)[:, None] * cdf[:, -1:] > cdf).sum(axis=1)
    median, sigma = _SEVERITY[component, 0], _SEVERITY[component, 1]
    currency = np.where(gb, 1.0, 1.12)
    severity = np.where(prod == 2, srng.lognormal(np.log(190), 0.5, n),
                        srng.lognormal(np.log(median), sigma) * (1 + 0.02 * age[k]))
    limit = np.where(prod == 2, 600.0, _LIMIT[tier[k]])
    total = np.maximum(np.round(np.minimum(severity, limit) * currency * 100), 3000)
    total = total.astype(np.int64)
    notif = loss + _notification_delay(srng, prod)
    early = (loss - start[k] < 30) & (prod != 2)
    not_covered = (tier[k] == 0) & np.isin(component, _NOT_BRONZE)
    declined = srng.random(n) < 0.045 + 0.3 * early + 0.15 * not_covered

    claim_no = np.empty(n, dtype=np.int64)
    order = np.lexsort((np.arange(n), notif))
    claim_no[order] = issue(srng, n, CLAIM_NUMBERS, book.shard)
    claim_numbers = prefixed("CLM-", claim_no, 8)

    life = _simulate_lives(rng_for(seed, "claims/lifecycle"), notif, total, declined, prod)
    repairers = _repairers(rng_for(seed, "claims/repairers"), book.shard, c.height, gb)
    rrng = rng_for(seed, "claims/text")
    pays_customer = rrng.random(n) < 0.15
    payee = pl.select(pl.when(pl.Series(pays_customer)).then(c["iban"].gather(k))
                      .otherwise(repairers["iban"]).alias("payee_iban")).to_series()

    mileage_at_claim = np.round(mileage[k] + c["_annual_km"].to_numpy()[k] * (loss - start[k])
                                / 365.25 * rrng.lognormal(0, 0.05, n)).astype(np.int64)
    lat, lon = _breakdown_position(rrng, c, k, gb)
    claims = pl.DataFrame({
        "claim_number": claim_numbers,
        "contract_number": c["contract_number"].gather(k),
        "loss_date": pl.Series(loss).cast(pl.Date),
        "notification_date": pl.Series(notif).cast(pl.Date),
        "failed_component": np.array(COMPONENTS)[component],
        "mileage_at_claim": mileage_at_claim,
        "repairer_id": repairers["repairer_id"],
        "breakdown_latitude": pl.select(pl.when(pl.Series(prod == 2)).then(pl.Series(lat)))
        .to_series(),
        "breakdown_longitude": pl.select(pl.when(pl.Series(prod == 2)).then(pl.Series(lon)))
        .to_series(),
        "_claim": np.arange(n),
        "_contract": k,
        "_notif": notif,
        "_loss": loss,
        "_component": component,
        "_gb": gb,
    })
    claims = _with_descriptions(rrng, claims, c, k)

    ledger = life.ledger
    transactions = _transactions(rng_for(seed, "claims/ids"), book.shard, ledger, claim_numbers,
                                 payee)
    return ClaimsHistory(claims=claims, status_events=life.status, transactions=transactions)


@dataclass(frozen=True)
class _Lives:
    ledger: dict[str, np.ndarray]  # claim, day, seq, kind (0 reserve, 1 payment), amount
    status: pl.DataFrame


def _simulate_lives(rng: np.random.Generator, notif: np.ndarray, total: np.ndarray,
                    declined: np.ndarray, product: np.ndarray) -> _Lives:
    """The dated ledger and status history of every claim (vectorised over claims, looped over
    the at most three partial payments)."""
    n = len(notif)
    idx = np.arange(n)
    assist = product == 2
    floor = np.where(assist, 2000, 5000)
    r0 = _round_reserve(total * rng.lognormal(0, 0.35, n), floor)
    parts = np.where(assist, 1, weighted_choice(rng, [60, 28, 12], n) + 1)
    paid = _split(rng, total, parts)
    first_delay = np.where(assist, rng.lognormal(np.log(10), 0.5, n),
                           rng.lognormal(np.log(28), 0.8, n))
    gaps = rng.lognormal(np.log(30), 0.7, (n, 3))
    pay_day = np.empty((n, 3), dtype=np.int64)
    pay_day[:, 0] = notif + np.clip(first_delay, 1, 720).astype(np.int64)
    for j in (1, 2):
        pay_day[:, j] = pay_day[:, j - 1] + np.clip(gaps[:, j], 1, 365).astype(np.int64)
    has_re = ~declined & (pay_day[:, 0] - notif >= 3) & (rng.random(n) < 0.6)
    re_day = notif + 1 + (rng.random(n) * (pay_day[:, 0] - notif - 2)).astype(np.int64)
    r1 = _round_reserve(total * rng.lognormal(0, 0.15, n), floor)

    events: list[tuple[np.ndarray, ...]] = []

    def add(mask: np.ndarray, day: np.ndarray, seq: int, kind: int, amount: np.ndarray) -> None:
        events.append((idx[mask], np.asarray(day)[mask], np.full(int(mask.sum()), seq),
                       np.full(int(mask.sum()), kind), np.asarray(amount)[mask]))

    everyone = np.ones(n, dtype=bool)
    add(everyone, notif, 0, 0, r0)
    decision = notif + rng.integers(3, 46, n)
    add(declined, decision, 1, 0, -r0)
    add(has_re & (r1 != r0), re_day, 1, 0, r1 - r0)
    outstanding = np.where(has_re, r1, r0)
    for j in range(3):
        active = ~declined & (j < parts)
        top_up = np.maximum(paid[:, j] - outstanding, 0)
        add(active & (top_up > 0), pay_day[:, j], 2 + 3 * j, 0, top_up)
        add(active, pay_day[:, j], 3 + 3 * j, 1, paid[:, j])
        add(active, pay_day[:, j], 4 + 3 * j, 0, -paid[:, j])
        outstanding = np.where(active, outstanding + top_up - paid[:, j], outstanding)
    last_pay = pay_day[idx, parts - 1]
    close = last_pay + rng.geometric(0.3, n) - 1
    settled = ~declined
    add(settled & (outstanding > 0), close, 11, 0, -outstanding)

    # A few closed claims come back (a repeat failure of the same repair).
    reopened = settled & ~assist & (rng.random(n) < 0.06)
    reopen_day = close + 20 + rng.geometric(1 / 60, n)
    r_re = _round_reserve(total * rng.uniform(0.1, 0.5, n), floor)
    p_re = np.maximum(np.round(r_re * rng.lognormal(0, 0.3, n)), 100).astype(np.int64)
    pay_re_day = reopen_day + rng.integers(10, 91, n)
    top_re = np.maximum(p_re - r_re, 0)
    close2 = pay_re_day + rng.geometric(0.3, n) - 1
    add(reopened, reopen_day, 12, 0, r_re)
    add(reopened & (top_re > 0), pay_re_day, 13, 0, top_re)
    add(reopened, pay_re_day, 14, 1, p_re)
    add(reopened, pay_re_day, 15, 0, -p_re)
    release2 = r_re + top_re - p_re
    add(reopened & (release2 > 0), close2, 16, 0, -release2)

    ledger = {name: np.concatenate([e[i] for e in events])
              for i, name in enumerate(("claim", "day", "seq", "kind", "amount"))}

    st_claim = [idx, idx[declined], idx[settled], idx[reopened], idx[reopened]]
    st_day = [notif, decision[declined], close[settled], reopen_day[reopened], close2[reopened]]
    st_name = ["open", "declined", "closed", "reopened", "closed"]
    status = pl.DataFrame({
        "_claim": np.concatenate(st_claim),
        "_day": np.concatenate(st_day).astype(np.int32),
        "status": np.concatenate([np.full(len(a), s) for a, s in zip(st_claim, st_name,
                                                                     strict=True)]),
    }).sort("_claim", "_day")
    return _Lives(ledger=ledger, status=status)


def _transactions(rng: np.random.Generator, shard: Shard, ledger: dict[str, np.ndarray],
                  claim_numbers: pl.Series, payee: pl.Series) -> pl.DataFrame:
    """The ledger as the claims system's transaction table, numbered in booking order."""
    order = np.lexsort((ledger["seq"], ledger["claim"], ledger["day"]))
    led = {k: v[order] for k, v in ledger.items()}
    m = len(order)
    ids = issue(rng, m, TRANSACTION_IDS, shard)
    is_payment = led["kind"] == 1
    claim = led["claim"]
    return pl.DataFrame({
        "transaction_id": prefixed("TX", ids, 10),
        "claim_number": claim_numbers.gather(claim),
        "transaction_date": pl.Series(led["day"].astype(np.int32)).cast(pl.Date),
        "transaction_type": np.where(is_payment, "payment", "reserve_change"),
        "amount": led["amount"].astype(np.int64),
        "payee_iban": pl.select(pl.when(pl.Series(is_payment)).then(payee.gather(claim)))
        .to_series(),
        "_claim": claim,
        "_day": led["day"].astype(np.int32),
    })


def _repairer_network(rng: np.random.Generator, n_contracts: int) -> tuple[pl.DataFrame, int]:
    """The repairers (number and bank account), GB first, and how many are in GB."""
    total = min(max(30, n_contracts // 150), 80_000)  # R + 5 digits
    numbers = 10_000 + rng.choice(90_000, size=total, replace=False)
    n_gb = int(total * 0.7)
    network_gb = np.zeros(total, dtype=bool)
    network_gb[:n_gb] = True
    return pl.DataFrame({"repairer_id": prefixed("R", numbers, 5),
                         "iban": ibans(rng, network_gb)}), n_gb


def _repairers(rng: np.random.Generator, shard: Shard, n_contracts: int,
               gb: np.ndarray) -> pl.DataFrame:
    """The repairer of each claim from a per-country network with a long-tailed share.

    A sharded book's network is the book's (its own stream, sized by the book's contracts), the
    same in every shard: a repairer number never stands for two repairers."""
    if shard.sharded:
        network, n_gb = _repairer_network(rng_for(shard.book_seed, "claims/repairer_network"),
                                          shard.book_contracts)
    else:
        network, n_gb = _repairer_network(rng, n_contracts)
    total = network.height
    n = len(gb)
    pick_gb = weighted_choice(rng, 1.0 / np.arange(1, n_gb + 1) ** 0.7, n)
    pick_fr = n_gb + weighted_choice(rng, 1.0 / np.arange(1, total - n_gb + 1) ** 0.7, n)
    return network[np.where(gb, pick_gb, pick_fr)]


def _breakdown_position(rng: np.random.Generator, c: pl.DataFrame, k: np.ndarray,
                        gb: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where an assistance call came from, in hundredths of a degree: mostly near home, some on
    a trip elsewhere in the country."""
    n = len(k)
    lat = c["_lat"].to_numpy()[k] + rng.normal(0, 0.15, n)
    lon = c["_lon"].to_numpy()[k] + rng.normal(0, 0.2, n)
    away = rng.random(n) < 0.12
    region = np.where(gb, rng.integers(0, len(UK_AREAS), n),
                      rng.integers(0, len(FR_DEPARTEMENTS), n))
    far_lat, far_lon = region_centroids(np.where(gb, "GB", "FR"), region)
    lat = np.where(away, far_lat + rng.normal(0, 0.1, n), lat)
    lon = np.where(away, far_lon + rng.normal(0, 0.1, n), lon)
    return np.round(lat * 100).astype(np.int64), np.round(lon * 100).astype(np.int64)


# (template, fields, what it mentions) per language; {} are filled in order.
_TEMPLATES = {
    "GB": [
        ("Customer reports a problem with the {}; vehicle taken to the repairer for diagnosis.",
         ["comp"], ""),
        ("Customer reports a fault with the {} at {} km. Diagnostic authorised.",
         ["comp", "km"], ""),
        ("Repairer confirms failure of the {}, estimate received and under review.", ["comp"], ""),
        ("Broke down on the road, {} suspected. Recovery arranged.", ["comp"], ""),
        ("Warning light on, {} inspected, parts on order.", ["comp"], ""),
        ("{} {} called to report a problem with the {}, garage to inspect.",
         ["title", "surname", "comp"], "name"),
        ("Customer {} {} says the {} failed on the motorway.", ["first", "surname", "comp"],
         "name"),
        ("Vehicle {} recovered to garage, failure of the {} confirmed.", ["plate", "comp"],
         "plate"),
        ("{} repaired on {} under the cover.", ["Comp", "plate"], "plate"),
        ("Please call the customer back on {} about the {} claim.", ["phone", "comp"], "phone"),
    ],
    "FR": [
        ("Panne {} déclarée par le client, véhicule déposé chez le réparateur.", ["comp"], ""),
        ("Le client signale un défaut {} à {} km. Diagnostic accordé.", ["comp", "km"], ""),
        ("Le réparateur confirme la panne {}, devis reçu, en cours d'étude.", ["comp"], ""),
        ("Panne sur la route, {} en cause. Remorquage organisé.", ["comp"], ""),
        ("Voyant allumé, {} contrôlé, pièces commandées.", ["comp"], ""),
        ("{} {} a appelé pour un problème de {}, le garage doit examiner.",
         ["title", "surname", "comp"], "name"),
        ("Le client {} {} indique une panne {} sur l'autoroute.", ["first", "surname", "comp"],
         "name"),
        ("Véhicule {} remorqué au garage, panne {} confirmée.", ["plate", "comp"], "plate"),
        ("Réparation {} effectuée sur {} au titre de la garantie.", ["comp", "plate"], "plate"),
        ("Rappeler le client au {} au sujet du sinistre {}.", ["phone", "comp"], "phone"),
    ],
}


def _with_descriptions(rng: np.random.Generator, claims: pl.DataFrame, c: pl.DataFrame,
                       k: np.ndarray) -> pl.DataFrame:
    """Free-text notes as handlers type them: some name the customer, the plate or a phone
    number. The pipeline drops the column; the leak tests rely on these mentions existing."""
    n = claims.height
    choice = weighted_choice(rng, _DESC_WEIGHTS, n)  # index 10 = no description
    comp = claims["_component"].to_numpy()
    gb = claims["_gb"].to_numpy()
    label = np.where(gb, np.array(_LABEL_EN)[comp], np.array(_LABEL_FR)[comp])
    work = pl.DataFrame({
        "comp": label,
        "title": c["_title"].gather(k),
        "surname": c["surname"].gather(k),
        "first": c["first_name"].gather(k),
        "plate": c["registration_plate"].gather(k),
        "phone": c["phone"].gather(k),
        "km": claims["mileage_at_claim"],
        "_choice": choice,
        "_gb": gb,
    }).with_columns(Comp=pl.concat_str([pl.col("comp").str.slice(0, 1).str.to_uppercase(),
                                        pl.col("comp").str.slice(1)]))
    expr: pl.Expr = pl.lit(None, dtype=pl.String)
    mentions: pl.Expr = pl.lit("")
    for country, templates in _TEMPLATES.items():
        for i, (template, fields, mention) in enumerate(templates):
            cond = (pl.col("_choice") == i) & (pl.col("_gb") == (country == "GB"))
            expr = pl.when(cond).then(pl.format(template, *[pl.col(f) for f in fields])) \
                .otherwise(expr)
            if mention:
                mentions = pl.when(cond).then(pl.lit(mention)).otherwise(mentions)
    text = work.select(description=expr, _mentions=mentions)
    return claims.with_columns(text)

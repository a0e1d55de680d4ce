"""The policy administration system's book: customers, vehicles and contracts.

The book is built as a whole history (2019-01-01 to the as-of date) from which each delivery is
later cut as it was known on its date. It is built in numpy with one row per contract:

* customers hold 1 contract (85%) or 2-3; a later contract either renews the same vehicle on
  the previous one's (exclusive) end date, or insures another vehicle;
* starts follow business growth, plate-change months, weekdays and the 2020 lockdowns;
* the product drives the vehicle's age, the age drives mileage, and all of them drive the
  premium (and, later, the claim frequency), so that actuarial models find real signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import polars as pl

from transforms.sources.banking import ibans
from transforms.sources.common import (
    HISTORY_START,
    add_months,
    cents,
    day_number,
    pick,
    prefixed,
    rng_for,
    weighted_choice,
    year_month_day,
)
from transforms.sources.people import Pools, make_people
from transforms.sources.shards import CONTRACT_NUMBERS, CUSTOMER_NUMBERS, Shard, issue, whole_book
from transforms.sources.vehicles import (
    FUELS,
    draw_fuel,
    draw_models,
    fr_plates,
    make_vins,
    model_table,
    uk_plates,
)

PRODUCTS = ["warranty", "mechanical_breakdown", "assistance"]
TIERS = ["bronze", "silver", "gold"]
CHANNELS = ["dealer", "direct", "online", "broker"]
TERMS = np.array([12, 24, 36])
IPT_RATE = {"GB": 0.12, "FR": 0.09}
_PRODUCT_WEIGHTS = [0.45, 0.35, 0.20]
_CHANNEL_BY_PRODUCT = np.array([[0.70, 0.10, 0.12, 0.08],
                                [0.45, 0.20, 0.25, 0.10],
                                [0.20, 0.30, 0.40, 0.10]])
_BASE_PREMIUM = np.array([280.0, 310.0, 85.0])  # per 12 months, GBP
_TIER_FACTOR = np.array([0.75, 1.0, 1.4])
_FUEL_FACTOR = np.array([1.0, 1.05, 1.1, 0.9])
_CURRENCY_FACTOR = {True: 1.0, False: 1.12}  # premiums are in GBP for GB, EUR for FR
_SEASON = {
    True: [0.9, 0.8, 1.5, 1.0, 1.0, 1.0, 0.95, 0.9, 1.4, 1.0, 0.95, 0.8],  # March/September plates
    False: [1.0, 1.0, 1.1, 1.0, 1.0, 1.1, 1.0, 0.7, 1.1, 1.1, 1.0, 0.9],  # August holidays
}
_LOCKDOWN = (day_number(date(2020, 3, 17)), day_number(date(2020, 6, 14)))


@dataclass(frozen=True)
class Book:
    """The policy administration system's whole history.

    `contracts` holds the classification's columns as they stand at the end of history, plus
    internal columns prefixed `_` (indices and day numbers) that the other systems use. Its
    `cancellation_date` is the eventual one, which a delivery shows only once it has happened.
    """

    customers: pl.DataFrame
    contracts: pl.DataFrame
    as_of: int
    shard: Shard  # which part of the book this is (numbering, networks): transforms/sources/shards


def start_day_weights(first: int, last: int, gb: bool) -> np.ndarray:
    """Relative number of contract starts per day from `first` to `last` (day numbers)."""
    days = np.arange(first, last + 1)
    _, month, _ = year_month_day(days)
    weight = np.exp(0.12 * (days - first) / 365.25)
    weight *= np.asarray(_SEASON[gb])[month - 1]
    weekday = (days + 3) % 7  # 0 = Monday (1970-01-01 was a Thursday)
    weight *= np.select([weekday == 6, weekday == 5], [0.2, 0.7], 1.0)
    lockdown = (days >= _LOCKDOWN[0]) & (days <= _LOCKDOWN[1])
    weight *= np.where(lockdown, 0.35, 1.0)
    return weight


def sample_days(rng: np.random.Generator, weights: np.ndarray, first: int,
                upper: np.ndarray) -> np.ndarray:
    """Days in [first, upper_i] (per row), drawn with the day weights (inverse CDF)."""
    cdf = np.cumsum(weights)
    hi = np.clip(np.asarray(upper) - first, 0, len(cdf) - 1)
    u = rng.random(len(hi)) * cdf[hi]
    return (first + np.searchsorted(cdf, u, side="right")).astype(np.int32)


def _customer_sizes(rng: np.random.Generator, n: int) -> np.ndarray:
    """Contracts per customer (1: 85%, 2: 11%, 3: 4%), summing exactly to n."""
    r = rng.random(int(n / 1.15) + 100)
    sizes = 1 + (r > 0.85).astype(np.int64) + (r > 0.9625)
    cum = np.cumsum(sizes)
    k = int(np.searchsorted(cum, n)) + 1
    sizes = sizes[:k].copy()
    sizes[-1] -= int(cum[k - 1] - n)
    return sizes


def _chains(renew: np.ndarray, term: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chain id per contract, index of each chain's first contract, and months of the chain's
    terms before each contract (contracts of a chain are contiguous)."""
    chain = np.cumsum(~renew) - 1
    heads = np.flatnonzero(~renew)
    cs = np.cumsum(term)
    before = cs - term
    prev = before - before[heads][chain]
    return chain, heads, prev


def premium_cents(product: np.ndarray, tier: np.ndarray, vehicle_age: np.ndarray,
                  mileage: np.ndarray, make_factor: np.ndarray, fuel: np.ndarray,
                  term: np.ndarray, gb: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Written premium excluding IPT for the whole term, in cents of the local currency.

    Older and higher-mileage vehicles, premium makes and richer tiers cost more; assistance is
    less sensitive to the vehicle; multi-year terms earn a small discount.
    """
    is_assist = product == 2
    age_f = np.where(is_assist, 1 + 0.02 * vehicle_age, 1 + 0.07 * vehicle_age)
    km_f = 1 + np.where(is_assist, 0.1, 0.35) * np.minimum(mileage / 100_000, 2.5)
    years = term / 12
    term_f = years * (1 - 0.05 * (years - 1))
    currency = np.where(gb, _CURRENCY_FACTOR[True], _CURRENCY_FACTOR[False])
    make_f = np.where(is_assist, 1.0, make_factor)
    amount = (_BASE_PREMIUM[product] * _TIER_FACTOR[tier] * age_f * km_f * make_f
              * _FUEL_FACTOR[fuel] * term_f * currency * noise)
    return cents(amount)


def _vehicle_age_years(rng: np.random.Generator, product: np.ndarray) -> np.ndarray:
    n = len(product)
    warranty = np.clip(rng.gamma(2.0, 1.1, n), 0, 8)
    breakdown = np.clip(2 + rng.gamma(2.2, 1.6, n), 0, 12)
    assistance = rng.uniform(0, 12, n)
    return np.choose(product, [warranty, breakdown, assistance])


def _dealers(rng: np.random.Generator, n_contracts: int) -> tuple[np.ndarray, np.ndarray]:
    """Dealer numbers per country (GB pool, FR pool) with a long-tailed share of sales."""
    total = min(max(20, n_contracts // 60), 80_000)  # D + 5 digits
    numbers = 10_000 + rng.choice(90_000, size=total, replace=False)
    n_gb = int(total * 0.7)
    return numbers[:n_gb], numbers[n_gb:]


def _zipf_pick(rng: np.random.Generator, pool: np.ndarray, n: int) -> np.ndarray:
    weights = 1.0 / np.arange(1, len(pool) + 1) ** 0.8
    return pool[weighted_choice(rng, weights, n)]


def build_book(seed: int, n_contracts: int, as_of: int, pools: Pools,
               shard: Shard | None = None) -> Book:
    """Customers and contracts of a book holding `n_contracts` contracts started by `as_of`
    (or of one `shard` of a larger book: `seed` is then the shard's)."""
    shard = shard or whole_book(seed, n_contracts)
    rng = rng_for(seed, "policy_admin/structure")
    h0 = day_number(HISTORY_START)
    sizes = _customer_sizes(rng, n_contracts)
    n_cust = len(sizes)
    cust = np.repeat(np.arange(n_cust), sizes)
    cust_head = np.cumsum(sizes) - sizes
    j = np.arange(n_contracts) - cust_head[cust]
    gb_cust = rng.random(n_cust) < 0.7
    gb = gb_cust[cust]

    # Renewal chains: a later contract renews the previous one's vehicle 60% of the time.
    renew = (j > 0) & (rng.random(n_contracts) < 0.6)
    term = pick(rng, TERMS, n_contracts, [0.55, 0.30, 0.15])
    chain, heads, prev = _chains(renew, term)
    chain_prev_total = np.maximum.reduceat(prev, heads)
    upper = add_months(np.full(len(heads), as_of), -chain_prev_total)
    too_long = upper[chain] < h0
    if too_long.any():  # a chain that cannot fit in the history is split into separate vehicles
        renew &= ~too_long
        chain, heads, prev = _chains(renew, term)
        chain_prev_total = np.maximum.reduceat(prev, heads)
        upper = add_months(np.full(len(heads), as_of), -chain_prev_total)
    n_chain = len(heads)
    pos = np.arange(n_contracts) - heads[chain]

    chain_gb = gb[heads]
    chain_start = np.empty(n_chain, dtype=np.int32)
    for is_gb in (True, False):
        sel = chain_gb == is_gb
        weights = start_day_weights(h0, as_of, is_gb)
        chain_start[sel] = sample_days(rng, weights, h0, upper[sel])
    start = chain_start[chain].copy()
    end = add_months(start, term)
    for p in (1, 2):
        later = pos == p
        if later.any():
            idx = np.flatnonzero(later)
            start[idx] = end[idx - 1]
            end[idx] = add_months(start[idx], term[idx])

    # Vehicles, one per chain.
    vrng = rng_for(seed, "policy_admin/vehicles")
    table = model_table()
    chain_product = weighted_choice(vrng, _PRODUCT_WEIGHTS, n_chain)
    max_age = np.maximum(12 - chain_prev_total / 12 - 0.01, 0)
    age0 = np.minimum(_vehicle_age_years(vrng, chain_product), max_age)
    reg_day = (chain_start - np.floor(age0 * 365.25)).astype(np.int32)
    reg_year, _, _ = year_month_day(reg_day)
    fuel = draw_fuel(vrng, chain_gb, reg_year)
    model, fuel = draw_models(vrng, table, chain_gb, reg_year, fuel)
    vin = make_vins(vrng, table.wmi[model], model, reg_day)
    plate = pl.select(pl.when(pl.Series(chain_gb)).then(uk_plates(vrng, reg_day))
                      .otherwise(fr_plates(vrng, reg_day))).to_series()
    annual_km = (np.where(chain_gb, 12_000, 13_500) * vrng.lognormal(0, 0.45, n_chain)
                 * np.array([0.95, 1.35, 1.0, 0.85])[fuel])
    mileage0 = np.where(age0 < 0.1, vrng.integers(5, 300, n_chain),
                        age0 * annual_km * vrng.lognormal(0, 0.15, n_chain))

    # Contract attributes.
    prng = rng_for(seed, "policy_admin/pricing")
    product = chain_product[chain]
    chain_tier = weighted_choice(prng, [0.4, 0.4, 0.2], n_chain)
    tier = np.where((pos > 0) & (prng.random(n_contracts) < 0.2),
                    weighted_choice(prng, [0.4, 0.4, 0.2], n_contracts), chain_tier[chain])
    vehicle_age = (start - reg_day[chain]) / 365.25
    mileage = np.round(mileage0[chain] + annual_km[chain] * (start - chain_start[chain]) / 365.25
                       ).astype(np.int64)
    cdf = np.cumsum(_CHANNEL_BY_PRODUCT[product], axis=1)
    channel = (prng.random(n_contracts)[:, None] > cdf).sum(axis=1).clip(0, 3)
    channel = np.where(pos > 0, np.where(prng.random(n_contracts) < 0.5, 1, channel[heads[chain]]),
                       channel)
    # a sharded book's dealers are the book's, the same in every shard
    dealers_gb, dealers_fr = (
        _dealers(rng_for(shard.book_seed, "policy_admin/dealers"), shard.book_contracts)
        if shard.sharded else _dealers(prng, n_contracts))
    chain_dealer = np.where(chain_gb, _zipf_pick(prng, dealers_gb, n_chain),
                            _zipf_pick(prng, dealers_fr, n_chain))
    premium = premium_cents(product, tier, vehicle_age, mileage,
                            table.premium_factor[model][chain], fuel[chain], term, gb,
                            prng.lognormal(0, 0.06, n_contracts))
    ipt = cents(premium * np.where(gb, IPT_RATE["GB"], IPT_RATE["FR"]) / 100)

    # Cancellations: only a contract that no renewal follows; a quarter in the cooling-off days.
    followed = np.zeros(n_contracts, dtype=bool)
    followed[:-1] = renew[1:]
    cancelled = ~followed & (prng.random(n_contracts) < 0.115)
    length = end - start
    cooling = prng.random(n_contracts) < 0.25
    offset = np.where(cooling, prng.integers(1, 15, n_contracts),
                      15 + (prng.random(n_contracts) * np.maximum(length - 16, 1)).astype(int))
    cancel_day = np.where(cancelled, np.minimum(start + offset, end - 1), -1).astype(np.int32)

    # Consent given at sale: a customer-level propensity, re-asked now and then.
    crng = rng_for(seed, "policy_admin/consent")
    u_email, u_sms = crng.random(n_cust)[cust], crng.random(n_cust)[cust]
    reask = crng.random(n_contracts) < 0.1
    u_email = np.where(reask, crng.random(n_contracts), u_email)
    p_email = np.array([0.35, 0.45, 0.55, 0.40])[channel]
    consent_email = u_email < p_email
    consent_sms = u_sms < np.where(consent_email, 0.5, 0.15)
    consent_email_day = start - crng.geometric(0.15, n_contracts) + 1
    consent_sms_day = start - crng.geometric(0.15, n_contracts) + 1

    # Customers: the person, numbered in order of their first contract.
    first_start = np.minimum.reduceat(start, cust_head)
    people = make_people(rng_for(seed, "policy_admin/people"),
                         np.where(gb_cust, "GB", "FR"), first_start, pools)
    order = np.lexsort((np.arange(n_cust), first_start))
    numbers = np.empty(n_cust, dtype=np.int64)
    numbers[order] = issue(rng, n_cust, CUSTOMER_NUMBERS, shard)
    customers = people.with_columns(
        customer_number=prefixed("C", numbers, 8),
        iban=ibans(rng_for(seed, "policy_admin/iban"), gb_cust),
        _first_start=pl.Series(first_start).cast(pl.Date),
    )

    order = np.lexsort((cust, start))
    contract_numbers = np.empty(n_contracts, dtype=np.int64)
    contract_numbers[order] = issue(rng, n_contracts, CONTRACT_NUMBERS, shard,
                                    need=shard.book_contracts)

    vehicles = pl.DataFrame({
        "vin": vin,
        "registration_plate": plate,
        "make": table.make[model],
        "model": table.model[model],
        "fuel_type": np.array(FUELS)[fuel],
        "first_registration_date": pl.Series(reg_day).cast(pl.Date),
        "_make_factor": table.premium_factor[model],
        "_annual_km": annual_km,
    })[chain]
    person_cols = ["customer_number", "surname", "first_name", "date_of_birth", "place_of_birth",
                   "driving_licence_number", "address_line", "city", "postcode", "country",
                   "email", "phone", "iban", "_title", "_female", "_region", "_lat", "_lon"]
    holders = customers.select(person_cols)[cust]
    contracts = pl.concat([
        pl.DataFrame({"contract_number": prefixed("OPW-", contract_numbers, 7)}),
        holders,
        vehicles,
        pl.DataFrame({
            "mileage_at_start": mileage,
            "product": np.array(PRODUCTS)[product],
            "tier": np.array(TIERS)[tier],
            "sales_channel": np.array(CHANNELS)[channel],
            "dealer_id": pl.select(pl.when(pl.Series(channel == 0)).then(
                prefixed("D", chain_dealer[chain], 5))).to_series(),
            "start_date": pl.Series(start).cast(pl.Date),
            "end_date": pl.Series(end).cast(pl.Date),
            "cancellation_date": pl.select(pl.when(pl.Series(cancel_day >= 0)).then(
                pl.Series(cancel_day).cast(pl.Date))).to_series(),
            "premium_excl_ipt": premium,
            "ipt": ipt,
            "consent_email": consent_email,
            "consent_email_date": pl.select(pl.when(pl.Series(consent_email)).then(
                pl.Series(consent_email_day).cast(pl.Date))).to_series(),
            "consent_sms": consent_sms,
            "consent_sms_date": pl.select(pl.when(pl.Series(consent_sms)).then(
                pl.Series(consent_sms_day).cast(pl.Date))).to_series(),
            "_cust": cust,
            "_chain": chain,
            "_product": product,
            "_tier": tier,
            "_vehicle_age": vehicle_age,
            "_start": start,
            "_end": end,
            "_cancel": cancel_day,
        }),
    ], how="horizontal")
    return Book(customers=customers.with_columns(_cust=pl.int_range(n_cust)),
                contracts=contracts, as_of=as_of, shard=shard)

"""The Data Protection Officer's feeds: consent changes and data-subject requests.

Consent changes are the later history of each customer's marketing consent per channel: the
state starts from what the customer said when a contract was sold (the contract's consent
fields) and each change flips it; a consent withdrawal or an objection received by the DPO
also sets both channels to false. So the current consent of a customer on a channel is the
latest dated statement among their contracts' consent fields and this feed.

Subject requests carry the identifiers the person gave, as they gave them: some missing, the
surname sometimes in capitals. Most match a customer, a few a prospect (a quote), a few nobody.
The source systems do not act on the requests; the pipeline must.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.sources.common import prefixed, rng_for, weighted_choice
from transforms.sources.contracts import Book
from transforms.sources.people import Pools, make_people
from transforms.sources.shards import CHANGE_IDS, REQUEST_IDS, issue

REQUEST_TYPES = ["erasure", "objection", "consent_withdrawal", "restriction", "access"]
_REQUEST_WEIGHTS = [25, 20, 20, 15, 20]
_REQUEST_COLUMNS = ["request_id", "request_type", "received_date", "surname", "first_name",
                    "date_of_birth", "email", "contract_number", "customer_number"]
CHANGE_RATE_PER_YEAR = 0.045  # per customer and channel


def build_subject_requests(seed: int, book: Book, quotes: pl.DataFrame,
                           pools: Pools) -> pl.DataFrame:
    """A few dozen requests per book, most received recently.

    Returns the classification's columns plus `_day`, `_match` (customer, prospect or nobody)
    and `_cust` (the customer's index, -1 otherwise).
    """
    rng = rng_for(seed, "dpo/subject_requests")
    as_of = book.as_of
    n = max(18, book.contracts.height // 1000)
    kind = weighted_choice(rng, [85, 8, 7], n)  # customer, prospect, nobody
    kind[:2] = 2  # always a few that match nobody
    prospect_quotes = quotes.filter(pl.col("_prospect") >= 0)
    if prospect_quotes.height == 0:
        kind[kind == 1] = 0
    span = weighted_choice(rng, [25, 35, 40], n)
    back = np.choose(span, [rng.integers(0, 14, n), rng.integers(0, 180, n),
                            rng.integers(0, 3 * 365, n)])
    day = as_of - back

    customers = book.customers
    cust = np.where(kind == 0, rng.integers(0, customers.height, n), -1)
    first_contact = np.where(kind == 0, customers["_first_start"].to_physical().to_numpy()[
        np.maximum(cust, 0)], 0)
    q = rng.integers(0, max(prospect_quotes.height, 1), n)
    if prospect_quotes.height:
        first_contact = np.where(kind == 1, prospect_quotes["_day"].to_numpy()[q], first_contact)
    day = np.minimum(np.maximum(day, first_contact + 7), as_of).astype(np.int32)

    person_cols = ["surname", "first_name", "date_of_birth", "email"]
    nobody = make_people(rng, np.where(rng.random(n) < 0.7, "GB", "FR"), day, pools)
    # two columns, not the whole book: a group_by over every column copied it (+0.7 GiB at 1M)
    first_contract = (book.contracts.select("_cust", "contract_number")
                      .group_by("_cust", maintain_order=True).first().sort("_cust"))
    safe = np.maximum(cust, 0)
    from_customers = customers.select(person_cols)[safe].with_columns(
        contract_number=first_contract["contract_number"].gather(safe),
        customer_number=customers["customer_number"].gather(safe),
    )
    if prospect_quotes.height:
        from_prospects = prospect_quotes.select(person_cols)[q]
    else:
        from_prospects = nobody.select(person_cols)
    gaps = _unused_customer_numbers(customers["customer_number"], n, rng)
    people = pl.DataFrame({
        col: pl.select(
            pl.when(pl.Series(kind == 0)).then(from_customers[col])
            .when(pl.Series(kind == 1)).then(from_prospects[col])
            .otherwise(nobody[col])
        ).to_series()
        for col in person_cols
    }).with_columns(
        contract_number=pl.select(pl.when(pl.Series(kind == 0))
                                  .then(from_customers["contract_number"])).to_series(),
        customer_number=pl.select(
            pl.when(pl.Series(kind == 0)).then(from_customers["customer_number"])
            .when(pl.Series((kind == 2) & (rng.random(n) < 0.4))).then(gaps)
        ).to_series(),
    )
    people = _as_given(rng, people, kind)

    rtype = np.array(REQUEST_TYPES)[weighted_choice(rng, _REQUEST_WEIGHTS, n)]
    requests = people.with_columns(
        request_type=pl.Series(rtype), _day=pl.Series(day),
        _match=pl.Series(np.array(["customer", "prospect", "nobody"])[kind]),
        _cust=pl.Series(cust),
    )
    # A restriction is often lifted a few weeks later by the same person.
    lifted = (rtype == "restriction") & (rng.random(n) < 0.6)
    later = requests.filter(pl.Series(lifted)).with_columns(
        request_type=pl.lit("restriction_lifted"),
        _day=(pl.col("_day") + pl.Series(rng.integers(20, 121, int(lifted.sum())))
              ).cast(pl.Int32),
    )
    requests = pl.concat([requests, later])
    order = np.lexsort((np.arange(requests.height), requests["_day"].to_numpy()))
    ids = np.empty(requests.height, dtype=np.int64)
    ids[order] = issue(rng, requests.height, REQUEST_IDS, book.shard)
    requests = requests.with_columns(
        request_id=prefixed("DSR-", ids, 6),
        received_date=pl.col("_day").cast(pl.Date),
    )
    return requests.select(*_REQUEST_COLUMNS, "_day", "_match", "_cust")


def _unused_customer_numbers(numbers: pl.Series, n: int, rng: np.random.Generator) -> pl.Series:
    """Customer numbers in the issued range that belong to nobody (a typo or an old number)."""
    issued = np.sort(numbers.str.slice(1).cast(pl.Int64).to_numpy())
    free = (issued + 1)[np.diff(issued, append=issued[-1] + 2) > 1]
    chosen = free[rng.integers(0, len(free), n)] if len(free) else issued[-1] + 1 + np.arange(n)
    return prefixed("C", chosen, 8)


def _as_given(rng: np.random.Generator, people: pl.DataFrame, kind: np.ndarray) -> pl.DataFrame:
    """Blank some identifiers and vary the case, as people fill in a request form; a customer
    always gives enough to be found (a number, or name and date of birth)."""
    n = people.height
    drop = {col: rng.random(n) < p for col, p in [
        ("surname", 0.03), ("first_name", 0.05), ("date_of_birth", 0.25), ("email", 0.3),
        ("contract_number", 0.4), ("customer_number", 0.45)]}
    name_dob = ~(drop["surname"] | drop["first_name"] | drop["date_of_birth"])
    lost = (kind == 0) & drop["contract_number"] & drop["customer_number"] & ~name_dob
    drop["customer_number"] &= ~lost
    identity = kind != 0
    for col in ("surname", "first_name"):  # those not on file always give their name
        drop[col] &= ~identity
    upper = rng.random(n) < 0.2
    lower_email = rng.random(n) < 0.1
    return people.with_columns(
        *[pl.when(pl.Series(mask)).then(None).otherwise(pl.col(col)).alias(col)
          for col, mask in drop.items()],
    ).with_columns(
        surname=pl.when(pl.Series(upper)).then(pl.col("surname").str.to_uppercase())
        .otherwise(pl.col("surname")),
        email=pl.when(pl.Series(lower_email)).then(pl.col("email").str.to_lowercase())
        .otherwise(pl.col("email")),
    )


def _consent_states(events: pl.DataFrame) -> pl.DataFrame:
    """The state after each change of one channel's events: a reset sets it, a change flips
    it; the resets themselves (the sales, `_order` 0) are not changes and are dropped."""
    return events.sort("_cust", "_day", "_order", maintain_order=True).with_columns(
        _group=pl.col("_reset").cast(pl.Int32).cum_sum().over("_cust"),
    ).with_columns(
        _base=pl.col("_value").first().over("_cust", "_group"),
        _k=pl.int_range(pl.len()).over("_cust", "_group"),
    ).with_columns(
        consent=pl.col("_base") ^ (pl.col("_k") % 2 == 1),
    ).filter(pl.col("_order") > 0)


def build_consent_changes(seed: int, book: Book, requests: pl.DataFrame) -> pl.DataFrame:
    """Changes of marketing consent per customer and channel, after their first contract."""
    rng = rng_for(seed, "dpo/consent_changes")
    c = book.contracts
    customers = book.customers
    as_of = book.as_of
    n_cust = customers.height
    first = customers["_first_start"].to_physical().to_numpy().astype(np.int64)

    per_channel = []
    for channel in ("email", "sms"):
        frames = []
        # What each contract's sale said: a reset of the state to the stated value.
        given = c[f"consent_{channel}"].to_numpy()
        sale_day = np.where(given, c[f"consent_{channel}_date"].to_physical().fill_null(0)
                            .to_numpy(), c["_start"].to_numpy())
        frames.append(pl.DataFrame({
            "_cust": c["_cust"].to_numpy(), "channel": channel, "_day": sale_day.astype(np.int32),
            "_order": 0, "_value": given, "_reset": True,
        }))
        # Later changes made by the customer: each flips the state.
        years = np.maximum(as_of - first, 0) / 365.25
        counts = rng.poisson(CHANGE_RATE_PER_YEAR * years)
        who = np.repeat(np.arange(n_cust), counts)
        days = first[who] + 1 + np.floor(rng.random(len(who)) * np.maximum(as_of - first[who], 1))
        frames.append(pl.DataFrame({
            "_cust": who, "channel": channel, "_day": days.astype(np.int32), "_order": 1,
            "_value": pl.Series([None] * len(who), dtype=pl.Boolean), "_reset": False,
        }))
        # Withdrawals and objections received by the DPO switch marketing off.
        off = requests.filter(pl.col("request_type").is_in(["consent_withdrawal", "objection"])
                              & (pl.col("_cust") >= 0))
        frames.append(pl.DataFrame({
            "_cust": off["_cust"].to_numpy(), "channel": channel,
            "_day": (off["_day"].to_numpy() + rng.integers(0, 3, off.height)).astype(np.int32),
            "_order": 2, "_value": np.zeros(off.height, dtype=bool), "_reset": True,
        }))
        # one channel at a time: the states of both channels' events at once (every contract's
        # sale twice, with their window groups) were the generator's memory peak at 1M contracts
        per_channel.append(_consent_states(pl.concat(frames, how="vertical_relaxed")))
    events = pl.concat(per_channel, how="vertical_relaxed")
    events = events.sort("_day", "_cust", "channel", maintain_order=True)
    ids = issue(rng, events.height, CHANGE_IDS, book.shard)
    return events.with_columns(
        change_id=prefixed("CC", ids, 8),
        customer_number=customers["customer_number"].gather(events["_cust"].to_numpy()),
        change_date=pl.col("_day").cast(pl.Date),
    ).select("change_id", "customer_number", "channel", "consent", "change_date", "_day")

"""The policy administration system's quotes: prices given to prospects.

Most quotes go to people who never took a contract (prospects, whose data the retention rule
deletes two years after the last contact); about one in ten goes to an existing customer
pricing another vehicle, so the marketing purpose can link a quote to a known person. Some
prospects ask twice. Optional fields are left empty as web forms leave them.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.sources.common import pick, prefixed, rng_for, weighted_choice
from transforms.sources.contracts import Book, premium_cents, sample_days, start_day_weights
from transforms.sources.people import Pools, make_people
from transforms.sources.shards import QUOTE_NUMBERS, issue
from transforms.sources.vehicles import draw_fuel, draw_models, make_vins, model_table

QUOTE_HISTORY_DAYS = 4 * 365
_COLUMNS = ["quote_number", "surname", "first_name", "date_of_birth", "email", "phone",
            "postcode", "country", "vin", "make", "product", "quoted_premium", "quote_date",
            "consent_email"]


def _null_where(values: pl.Series, mask: np.ndarray) -> pl.Series:
    return pl.select(pl.when(pl.Series(mask)).then(None).otherwise(values).alias(values.name)
                     ).to_series()


def build_quotes(seed: int, book: Book, pools: Pools) -> pl.DataFrame:
    """About 0.4 quotes per contract of the book, dated over the last four years.

    Returns the classification's columns plus `_day` (day number) and `_prospect` (the
    prospect's index, -1 for a customer's quote) for the other feeds.
    """
    rng = rng_for(seed, "policy_admin/quotes")
    as_of = book.as_of
    n_quotes = max(1, round(0.4 * book.contracts.height))
    n_customer = int(round(0.1 * n_quotes))
    n_prospect_quotes = n_quotes - n_customer
    # Prospects with one quote, a few with two.
    second = rng.random(n_prospect_quotes) < 0.12
    second[:1] = False
    owner = np.cumsum(~second) - 1
    n_prospects = int(owner[-1]) + 1 if len(owner) else 0

    first = as_of - QUOTE_HISTORY_DAYS
    weights = start_day_weights(first, as_of, True) ** 0.5  # quotes are less seasonal
    prospect_day = sample_days(rng, weights, first, np.full(n_prospects, as_of))
    gap = np.where(second, rng.integers(1, 60, n_prospect_quotes), 0)
    p_day = prospect_day[owner] + gap
    # A second quote that would fall after the as-of date came before the first one instead.
    p_day = np.where(p_day > as_of, np.maximum(prospect_day[owner] - gap, first), p_day)
    p_day = p_day.astype(np.int32)

    customers = book.customers
    cust = rng.integers(0, customers.height, n_customer)
    cust_first = customers["_first_start"].to_physical().to_numpy()[cust]
    c_low = np.maximum(cust_first - 60, first)
    c_day = (c_low + np.floor(rng.random(n_customer) * (as_of - c_low + 1))).astype(np.int32)

    gb_prospect = rng.random(n_prospects) < 0.7
    prospects = make_people(rng_for(seed, "policy_admin/prospects"),
                            np.where(gb_prospect, "GB", "FR"), prospect_day, pools,
                            age_range=(18.0, 85.0))
    person_cols = ["surname", "first_name", "date_of_birth", "email", "phone", "postcode",
                   "country"]
    people = pl.concat([prospects.select(person_cols)[owner],
                        customers.select(person_cols)[cust]])
    day = np.concatenate([p_day, c_day])
    n = len(day)
    gb = people["country"].to_numpy() == "GB"

    # The vehicle being priced.
    table = model_table()
    age = rng.uniform(0, 12, n)
    reg = (day - np.floor(age * 365.25)).astype(np.int32)
    reg_year = 1970 + (reg // 365.25).astype(np.int64)
    fuel = draw_fuel(rng, gb, reg_year)
    model, fuel = draw_models(rng, table, gb, reg_year, fuel)
    vin = make_vins(rng, table.wmi[model], model, reg)
    mileage = age * 12_500 * rng.lognormal(0, 0.4, n)
    product = weighted_choice(rng, [0.45, 0.35, 0.20], n)
    premium = premium_cents(product, np.ones(n, dtype=np.int64), age, mileage,
                            table.premium_factor[model], fuel, np.full(n, 12), gb,
                            rng.lognormal(0, 0.1, n))
    consent = pick(rng, np.array([1, 0, -1]), n, [35, 55, 10])

    quotes = people.with_columns(
        vin=_null_where(pl.Series("vin", vin), rng.random(n) < 0.45),
        make=_null_where(pl.Series("make", table.make[model]), rng.random(n) < 0.05),
        product=pl.Series(np.array(["warranty", "mechanical_breakdown", "assistance"])[product]),
        quoted_premium=pl.Series(premium),
        quote_date=pl.Series(day).cast(pl.Date),
        consent_email=pl.select(pl.when(pl.Series(consent >= 0)).then(pl.Series(consent == 1))
                                ).to_series(),
        email=_null_where(people["email"], rng.random(n) < 0.05),
        phone=_null_where(people["phone"], rng.random(n) < 0.2),
        date_of_birth=_null_where(people["date_of_birth"], rng.random(n) < 0.08),
        _day=pl.Series(day),
        _prospect=pl.Series(np.concatenate([owner, np.full(n_customer, -1)])),
    )
    order = np.lexsort((np.arange(n), day))
    numbers = np.empty(n, dtype=np.int64)
    numbers[order] = issue(rng, n, QUOTE_NUMBERS, book.shard)
    quotes = quotes.with_columns(quote_number=prefixed("Q", numbers, 9))
    return quotes.select(*_COLUMNS, "_day", "_prospect")

"""Small vectorised helpers shared by the synthetic source systems.

Everything here works on whole numpy arrays so that a book of a million contracts is generated
without per-row Python. Dates are carried as int32 day numbers (days since 1970-01-01) until the
last moment, money as int64 cents (so that sums of payments and reserve changes are exact), and
random numbers come from one named stream per concern so that changing how one entity is drawn
does not reshuffle every other one.
"""

from __future__ import annotations

import hashlib
from datetime import date

import numpy as np
import polars as pl

EPOCH = date(1970, 1, 1)
HISTORY_START = date(2019, 1, 1)
"""First day of the book's history: no contract starts before it."""


def day_number(d: date) -> int:
    """Days since 1970-01-01 (the integer behind a polars/numpy date)."""
    return (d - EPOCH).days


def rng_for(seed: int, stream: str) -> np.random.Generator:
    """An independent generator per named stream, derived from the book's seed.

    The stream name is hashed with SHA-256 (never Python's `hash`, which is salted per process)
    so that the same seed gives the same numbers in every run.
    """
    digest = hashlib.sha256(stream.encode("utf-8")).digest()
    return np.random.default_rng(np.random.SeedSequence([seed, int.from_bytes(digest[:8], "big")]))


def weighted_choice(rng: np.random.Generator, weights: np.ndarray | list[float],
                    size: int) -> np.ndarray:
    """Indices drawn with the given (unnormalised) weights; faster than `rng.choice` for big n."""
    cdf = np.cumsum(np.asarray(weights, dtype=np.float64))
    return np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right").astype(np.int64)


def add_months(days: np.ndarray, months: np.ndarray | int) -> np.ndarray:
    """Calendar month arithmetic on day numbers, clamping to the month's last day (31 Jan + 1 mo
    = 28/29 Feb), as a policy administration system computes an end date."""
    d = np.asarray(days, dtype="int64").astype("datetime64[D]")
    month_start = d.astype("datetime64[M]")
    day_offset = (d - month_start.astype("datetime64[D]")).astype(np.int64)
    target = month_start + np.asarray(months, dtype=np.int64)
    month_len = ((target + 1).astype("datetime64[D]") - target.astype("datetime64[D]")).astype(
        np.int64
    )
    out = target.astype("datetime64[D]") + np.minimum(day_offset, month_len - 1)
    return out.astype(np.int64).astype(np.int32)


def year_month_day(days: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split day numbers into (year, month 1-12, day 1-31) arrays."""
    d = np.asarray(days, dtype="int64").astype("datetime64[D]")
    years = d.astype("datetime64[Y]")
    months = d.astype("datetime64[M]")
    y = years.astype(np.int64) + 1970
    m = (months - years.astype("datetime64[M]")).astype(np.int64) + 1
    dd = (d - months.astype("datetime64[D]")).astype(np.int64) + 1
    return y, m, dd


def sequential_ids(rng: np.random.Generator, n: int, first: int, mean_gap: float) -> np.ndarray:
    """Increasing unique numbers with random gaps, as systems that issue numbers in order do."""
    gaps = 1 + rng.poisson(max(mean_gap - 1.0, 0.0), size=n)
    return first + np.cumsum(gaps) - gaps[0]


def prefixed(prefix: str, numbers: np.ndarray, width: int) -> pl.Series:
    """`prefix` + zero-padded numbers, e.g. OPW-0001234."""
    s = pl.Series(np.asarray(numbers, dtype=np.int64))
    return pl.select((pl.lit(prefix) + s.cast(pl.String).str.zfill(width)).alias("v")).to_series()


def chars_to_strings(chars: np.ndarray) -> np.ndarray:
    """An (n, k) uint8 array of ASCII codes -> n strings of length k, without a Python loop."""
    chars = np.ascontiguousarray(chars, dtype=np.uint8)
    k = chars.shape[1]
    return chars.view(f"S{k}").ravel().astype(f"U{k}")


def random_chars(rng: np.random.Generator, alphabet: str, shape: tuple[int, ...]) -> np.ndarray:
    """ASCII codes drawn uniformly from `alphabet`."""
    codes = np.frombuffer(alphabet.encode("ascii"), dtype=np.uint8)
    return codes[rng.integers(0, len(codes), size=shape)]


def cents(amounts: np.ndarray) -> np.ndarray:
    """Round currency amounts to int64 cents, half away from zero."""
    a = np.asarray(amounts, dtype=np.float64) * 100.0
    return (np.sign(a) * np.floor(np.abs(a) + 0.5)).astype(np.int64)


def format_cents(col: str) -> pl.Expr:
    """Int64 hundredths -> text with exactly two decimals (`-12.30`); null stays null.

    Money is written from integers, never floats, so that `0.1 + 0.2` artefacts cannot reach the
    files and sums over the CSV are exact.
    """
    v = pl.col(col)
    a = v.abs()
    sign = pl.when(v < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.concat_str(
        [sign, (a // 100).cast(pl.String), pl.lit("."), (a % 100).cast(pl.String).str.zfill(2)]
    ).alias(col)


def pick(rng: np.random.Generator, values: list[str] | np.ndarray, size: int,
         weights: list[float] | np.ndarray | None = None) -> np.ndarray:
    """Sample values (uniformly or weighted) as a numpy array."""
    arr = np.asarray(values)
    if weights is None:
        return arr[rng.integers(0, len(arr), size=size)]
    return arr[weighted_choice(rng, weights, size)]

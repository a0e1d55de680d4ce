"""Synthetic bank accounts: GB and FR IBANs with valid ISO 13616 mod-97 check digits.

French BBANs also carry a valid RIB key, so a validator that checks the national part too is
satisfied. Computed on whole arrays: the mod-97 runs digit by digit over columns, not rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.sources.common import chars_to_strings, pick, random_chars

_GB_BANKS = ["NWBK", "BARC", "LOYD", "HBUK", "MIDL", "NAIA", "ABBY", "SRLG", "BUKB", "MONZ"]
_GB_BANK_WEIGHTS = [16, 16, 18, 10, 6, 8, 8, 4, 6, 8]
_FR_BANKS = ["30004", "30003", "20041", "30002", "10278", "18206", "10107", "30066", "14505",
             "17515"]
_FR_BANK_WEIGHTS = [15, 13, 10, 9, 12, 16, 4, 7, 8, 6]


def _mod97(chars: np.ndarray) -> np.ndarray:
    """Remainder mod 97 of the ISO 13616 numeric form of ASCII rows (letters A=10 .. Z=35)."""
    r = np.zeros(chars.shape[0], dtype=np.int64)
    for j in range(chars.shape[1]):
        c = chars[:, j].astype(np.int64)
        is_digit = c <= ord("9")
        r = np.where(is_digit, (r * 10 + (c - ord("0"))) % 97, (r * 100 + (c - ord("A") + 10)) % 97)
    return r


def iban_check_digits(country: str, bban: np.ndarray) -> np.ndarray:
    """Two check digits for (n, k) ASCII BBANs of one country."""
    n = bban.shape[0]
    tail = np.frombuffer((country + "00").encode("ascii"), dtype=np.uint8)
    rearranged = np.concatenate([bban, np.broadcast_to(tail, (n, 4))], axis=1)
    return 98 - _mod97(rearranged)


def _with_check(country: str, bban: np.ndarray) -> pl.Series:
    check = iban_check_digits(country, bban)
    frame = pl.DataFrame({"c": check, "b": chars_to_strings(bban)})
    return frame.select(pl.concat_str([pl.lit(country), pl.col("c").cast(pl.String).str.zfill(2),
                                       pl.col("b")]).alias("iban")).to_series()


def gb_ibans(rng: np.random.Generator, n: int) -> pl.Series:
    """GBkk BBBB SSSSSS AAAAAAAA (bank code, sort code, account number), written unspaced."""
    bank = pick(rng, _GB_BANKS, n, _GB_BANK_WEIGHTS)
    bban = np.empty((n, 18), dtype=np.uint8)
    bban[:, 0:4] = np.frombuffer("".join(bank).encode("ascii"), dtype=np.uint8).reshape(n, 4)
    bban[:, 4:18] = random_chars(rng, "0123456789", (n, 14))
    return _with_check("GB", bban)


def fr_ibans(rng: np.random.Generator, n: int) -> pl.Series:
    """FRkk BBBBB GGGGG CCCCCCCCCCC KK (bank, branch, account, RIB key), written unspaced."""
    bank = pick(rng, _FR_BANKS, n, _FR_BANK_WEIGHTS).astype(np.int64)
    branch = rng.integers(0, 100_000, n)
    account = rng.integers(0, 100_000_000_000, n)
    rib = 97 - (89 * bank + 15 * branch + 3 * account) % 97
    text = pl.DataFrame({"b": bank, "g": branch, "a": account, "k": rib}).select(
        pl.concat_str([pl.col("b").cast(pl.String).str.zfill(5),
                       pl.col("g").cast(pl.String).str.zfill(5),
                       pl.col("a").cast(pl.String).str.zfill(11),
                       pl.col("k").cast(pl.String).str.zfill(2)]).alias("bban")
    ).to_series()
    bban = np.frombuffer("".join(text.to_list()).encode("ascii"), dtype=np.uint8).reshape(n, 23)
    return _with_check("FR", bban)


def ibans(rng: np.random.Generator, gb: np.ndarray) -> pl.Series:
    """An IBAN per row, British where `gb`, French elsewhere."""
    n = len(gb)
    g, f = gb_ibans(rng, n), fr_ibans(rng, n)
    return pl.select(pl.when(pl.Series(gb)).then(g).otherwise(f).alias("iban")).to_series()

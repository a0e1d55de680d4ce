"""Synthetic people: names, birth, licence, address, email and phone, for GB and FR.

Faker is slow per call (tens of microseconds), so it is used only to fill small pools of names
and streets per locale, once per book; the people themselves are drawn from those pools with
numpy and their strings composed with polars expressions. Sampling a pool that Faker filled keeps
Faker's frequency distribution (common surnames repeat, as they do in a real book).
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

import numpy as np
import polars as pl
from faker import Faker

from transforms.sources.common import pick, weighted_choice
from transforms.sources.geography import fr_homes, places_of_birth, uk_homes

LOCALES = {"GB": "en_GB", "FR": "fr_FR"}
POOL_SIZE = 3000

_UK_STREET_SUFFIXES = ["Road", "Street", "Lane", "Avenue", "Close", "Drive", "Way", "Crescent",
                       "Gardens", "Grove", "Place", "Terrace", "Court", "Mews", "Row"]
_UK_SUFFIX_WEIGHTS = [30, 18, 12, 10, 8, 6, 5, 3, 3, 2, 2, 2, 1, 1, 1]
_UK_COMMON_STREETS = ["High Street", "Station Road", "Church Lane", "Victoria Road", "Green Lane",
                      "Manor Road", "Park Road", "Queens Road", "New Road", "Mill Lane",
                      "School Lane", "The Crescent", "Kings Road", "London Road", "Church Street"]

_EMAIL_DOMAINS = {
    "GB": (["gmail.com", "hotmail.co.uk", "outlook.com", "yahoo.co.uk", "btinternet.com",
            "icloud.com", "sky.com", "live.co.uk", "aol.com", "virginmedia.com"],
           [30, 15, 12, 10, 8, 8, 5, 5, 3, 4]),
    "FR": (["gmail.com", "orange.fr", "hotmail.fr", "free.fr", "laposte.net", "sfr.fr",
            "yahoo.fr", "outlook.fr", "wanadoo.fr"],
           [30, 18, 12, 10, 8, 7, 7, 5, 3]),
}


def ascii_slug(text: str) -> str:
    """Lower-case ASCII form of a name for an email address (Hélène -> helene, O'Neil -> oneil)."""
    folded = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "-")


@dataclass(frozen=True)
class Pools:
    """Strings Faker produced, GB block then FR block, plus forms derived once per entry.

    People are drawn as indices into these series, so that per-person work is a gather, and the
    costly string work (Unicode folding, licence stems) runs on a few thousand entries only.
    """

    surname: pl.Series
    surname_slug: pl.Series
    licence_stem: pl.Series
    first: pl.Series  # male block then female block, per country
    first_slug: pl.Series
    first_initial: pl.Series
    street: pl.Series
    size: int

    def offset(self, gb: np.ndarray) -> np.ndarray:
        """Start of each row's country block (GB first)."""
        return np.where(gb, 0, self.size)


def _licence_stem(surname: str) -> str:
    letters = "".join(ch for ch in ascii_slug(surname).upper() if "A" <= ch <= "Z")
    if letters.startswith("MAC"):
        letters = "MC" + letters[3:]
    return (letters + "99999")[:5]


def build_pools(seed: int, size: int = POOL_SIZE) -> Pools:
    """Fill the name and street pools of each locale with a seeded Faker (about 0.3 s)."""
    surnames: list[str] = []
    firsts: list[str] = []
    streets: list[str] = []
    for i, country in enumerate(("GB", "FR")):
        fake = Faker(LOCALES[country])
        fake.seed_instance(seed * 1009 + i)
        surnames += [fake.last_name() for _ in range(size)]
        male = [fake.first_name_male() for _ in range(size)]
        female = [fake.first_name_female() for _ in range(size)]
        firsts += male + female
        if country == "GB":
            rng = np.random.default_rng(seed * 1009 + i)
            suffixes = pick(rng, _UK_STREET_SUFFIXES, size, _UK_SUFFIX_WEIGHTS)
            local = [f"{fake.last_name()} {sfx}" for sfx in suffixes]
            local[: len(_UK_COMMON_STREETS) * 8] = _UK_COMMON_STREETS * 8
            streets += local
        else:
            streets += [fake.street_name() for _ in range(size)]
    return Pools(
        surname=pl.Series(surnames),
        surname_slug=pl.Series([ascii_slug(s) for s in surnames]),
        licence_stem=pl.Series([_licence_stem(s) for s in surnames]),
        first=pl.Series(firsts),
        first_slug=pl.Series([ascii_slug(s) for s in firsts]),
        first_initial=pl.Series([(ascii_slug(s)[:1] or "X").upper() for s in firsts]),
        street=pl.Series(streets),
        size=size,
    )


def _age_years(rng: np.random.Generator, n: int, lo: float, hi: float) -> np.ndarray:
    """Age at the reference date: a broad hump around 50, truncated to [lo, hi]."""
    age = rng.normal(49.0, 15.0, n)
    bad = (age < lo) | (age >= hi)
    age[bad] = rng.uniform(lo, hi, int(bad.sum()))
    return age


def _letters(rng: np.random.Generator, alphabet: str, n: int) -> pl.Series:
    return pl.Series(list(alphabet)).gather(rng.integers(0, len(alphabet), n))


def make_people(rng: np.random.Generator, countries: np.ndarray, ref_days: np.ndarray,
                pools: Pools, age_range: tuple[float, float] = (18.0, 79.0)) -> pl.DataFrame:
    """One row per person, with every identifying column the source systems carry.

    `ref_days` is the day the person first deals with the insurer; the age on that day lies in
    `age_range`. Internal columns (prefixed `_`) keep the title, sex, region and home coordinates
    for the claims system's free text and breakdown positions.
    """
    n = len(countries)
    gb = np.asarray(countries) == "GB"
    female = rng.random(n) < 0.48
    off = pools.offset(gb)
    sur_idx = off + rng.integers(0, pools.size, n)
    first_idx = 2 * off + np.where(female, pools.size, 0) + rng.integers(0, pools.size, n)
    street_idx = off + rng.integers(0, pools.size, n)

    age = _age_years(rng, n, *age_range)
    # ceil + 1 day: someone drawn at exactly 18.0 is 18 by the calendar, not 17 and 364 days
    dob = (np.asarray(ref_days, dtype=np.int64) - np.ceil(age * 365.25) - 1).astype(np.int32)
    uk, fr = uk_homes(rng, n), fr_homes(rng, n)
    gb_s = pl.Series(gb)
    title_gb = pick(rng, ["Mr", "Mrs", "Ms", "Miss"], n, [0, 5, 3, 2])
    title = np.where(gb, np.where(female, title_gb, "Mr"), np.where(female, "Mme", "M."))

    df = pl.DataFrame({
        "country": countries,
        "surname": pools.surname.gather(sur_idx),
        "first_name": pools.first.gather(first_idx),
        "_female": female,
        "_title": title,
        "date_of_birth": pl.Series(dob).cast(pl.Date),
        "place_of_birth": places_of_birth(rng, gb),
        "city": pl.select(pl.when(gb_s).then(uk.city).otherwise(fr.city)).to_series(),
        "postcode": pl.select(pl.when(gb_s).then(uk.postcode).otherwise(fr.postcode)).to_series(),
        "_region": np.where(gb, uk.region, fr.region),
        "_lat": np.where(gb, uk.lat, fr.lat),
        "_lon": np.where(gb, uk.lon, fr.lon),
        # raw material for the composed strings below
        "_sur_slug": pools.surname_slug.gather(sur_idx),
        "_first_slug": pools.first_slug.gather(first_idx),
        "_stem": pools.licence_stem.gather(sur_idx),
        "_initial": pools.first_initial.gather(first_idx),
        "_middle": pl.select(pl.when(pl.Series(rng.random(n) < 0.3))
                             .then(_letters(rng, "ABCDEFGHJKLMNPRSTW", n))
                             .otherwise(pl.lit("9"))).to_series(),
        "_arb": np.where(rng.random(n) < 0.9, 9, rng.integers(0, 9, n)),
        "_chk1": _letters(rng, "ABCDEFGHJKLMNPRSTUVWXYZ", n),
        "_chk2": _letters(rng, "ABCDEFGHJKLMNPRSTUVWXYZ", n),
        "_issue_yy": (np.minimum(1970 + (dob // 365.25).astype(np.int64) + 18
                                 + rng.geometric(0.15, n) - 1,
                                 1970 + (np.asarray(ref_days) // 365.25).astype(np.int64)) % 100),
        "_serial": rng.integers(0, 100_000_000, n),
        "_house": 1 + np.minimum(rng.geometric(0.025, n), 240),
        "_flat": np.where(rng.random(n) < 0.08, rng.integers(1, 40, n), 0),
        "_bis": rng.random(n) < 0.04,
        "_street": pools.street.gather(street_idx),
        "_pattern": weighted_choice(rng, [40, 15, 10, 15, 5, 5, 10], n),
        "_mixed": rng.random(n) < 0.08,
        "_domain": np.where(gb, pick(rng, _EMAIL_DOMAINS["GB"][0], n, _EMAIL_DOMAINS["GB"][1]),
                            pick(rng, _EMAIL_DOMAINS["FR"][0], n, _EMAIL_DOMAINS["FR"][1])),
        "_two": rng.integers(1, 100, n),
        "_nsn": np.where(
            gb,
            7_000_000_000 + pick(rng, np.array([1, 2, 3, 4, 5, 7, 8, 9]), n) * 100_000_000
            + rng.integers(0, 100_000_000, n),
            np.where(rng.random(n) < 0.75, 600_000_000, 700_000_000)
            + rng.integers(0, 100_000_000, n),
        ),
        "_phone_fmt": weighted_choice(rng, [40, 25, 20, 8, 7], n),
    })
    df = df.with_columns(
        driving_licence_number=pl.when(pl.col("country") == "GB")
        .then(_uk_licence()).otherwise(_fr_licence()),
        address_line=_address_line(),
        email=_email(),
        phone=_phone(),
    )
    df = _dedupe_emails(rng, df)
    return df.select(pl.all().exclude(_SCRATCH))


_SCRATCH = ["_sur_slug", "_first_slug", "_stem", "_initial", "_middle", "_arb", "_chk1", "_chk2",
            "_issue_yy", "_serial", "_house", "_flat", "_bis", "_street", "_pattern", "_mixed",
            "_domain", "_two", "_nsn", "_phone_fmt"]


def _uk_licence() -> pl.Expr:
    """DVLA-style 16-character licence number derived from surname, birth date and initials.

    Layout: surname (5, padded with 9, MAC -> MC), decade digit, month (+50 for women), day,
    year digit, two initials (9 when no middle name), an arbitrary digit, two check letters.
    """
    dob = pl.col("date_of_birth")
    year = dob.dt.year()
    month = dob.dt.month().cast(pl.Int32) + pl.when(pl.col("_female")).then(50).otherwise(0)
    return pl.concat_str([
        pl.col("_stem"),
        ((year // 10) % 10).cast(pl.String),
        month.cast(pl.String).str.zfill(2),
        dob.dt.day().cast(pl.String).str.zfill(2),
        (year % 10).cast(pl.String),
        pl.col("_initial"), pl.col("_middle"), pl.col("_arb").cast(pl.String),
        pl.col("_chk1"), pl.col("_chk2"),
    ])


def _fr_licence() -> pl.Expr:
    """Old French format, 12 digits: issue year (2), departement (2), serial (8)."""
    return pl.concat_str([
        pl.col("_issue_yy").cast(pl.String).str.zfill(2),
        pl.col("postcode").str.slice(0, 2),
        pl.col("_serial").cast(pl.String).str.zfill(8),
    ])


def _address_line() -> pl.Expr:
    house = pl.col("_house").cast(pl.String)
    gb = pl.concat_str([
        pl.when(pl.col("_flat") > 0).then(pl.format("Flat {}, ", pl.col("_flat")))
        .otherwise(pl.lit("")),
        house, pl.lit(" "), pl.col("_street"),
    ])
    fr = pl.concat_str([
        house, pl.when(pl.col("_bis")).then(pl.lit(" bis")).otherwise(pl.lit("")),
        pl.lit(" "), pl.col("_street"),
    ])
    return pl.when(pl.col("country") == "GB").then(gb).otherwise(fr)


def _cap(e: pl.Expr) -> pl.Expr:
    return pl.concat_str([e.str.slice(0, 1).str.to_uppercase(), e.str.slice(1)])


def _email() -> pl.Expr:
    """An address made from the names as people make theirs (first.last, flast, first84...)."""
    mixed = pl.col("_mixed")
    first = pl.when(mixed).then(_cap(pl.col("_first_slug"))).otherwise(pl.col("_first_slug"))
    last = pl.when(mixed).then(_cap(pl.col("_sur_slug"))).otherwise(pl.col("_sur_slug"))
    yy = (pl.col("date_of_birth").dt.year() % 100).cast(pl.String).str.zfill(2)
    p = pl.col("_pattern")
    local = (
        pl.when(p == 0).then(pl.concat_str([first, pl.lit("."), last]))
        .when(p == 1).then(pl.concat_str([first, last]))
        .when(p == 2).then(pl.concat_str([first.str.slice(0, 1), pl.lit("."), last]))
        .when(p == 3).then(pl.concat_str([first, pl.lit("."), last,
                                          pl.col("_two").cast(pl.String)]))
        .when(p == 4).then(pl.concat_str([first, pl.lit("_"), last]))
        .when(p == 5).then(pl.concat_str([last, pl.lit("."), first]))
        .otherwise(pl.concat_str([first, yy]))
    )
    domain = pl.when(mixed & (p % 2 == 0)).then(_cap(pl.col("_domain"))).otherwise(
        pl.col("_domain"))
    return pl.concat_str([local, pl.lit("@"), domain])


def _dedupe_emails(rng: np.random.Generator, df: pl.DataFrame) -> pl.DataFrame:
    """Make addresses unique-ish: a repeated address gets digits before the @, as people do."""
    for _ in range(3):
        lower = df.get_column("email").str.to_lowercase()
        repeat = ~lower.is_first_distinct()
        if not repeat.any():
            break
        sfx = pl.Series(rng.integers(1, 1000, df.height)).cast(pl.String)
        parts = df.get_column("email").str.split_exact("@", 1)
        fixed = pl.select(
            pl.when(repeat).then(pl.concat_str([parts.struct.field("field_0"), sfx, pl.lit("@"),
                                                parts.struct.field("field_1")]))
            .otherwise(df.get_column("email")).alias("email")
        ).to_series()
        df = df.with_columns(fixed)
    return df


def _phone() -> pl.Expr:
    """Mobile numbers in the formats people type them (07700 900123, +33 6 12 34 56 78...)."""
    nsn = pl.col("_nsn").cast(pl.String)
    f = pl.col("_phone_fmt")
    gb = (
        pl.when(f == 0).then(pl.concat_str([pl.lit("0"), nsn.str.slice(0, 4), pl.lit(" "),
                                            nsn.str.slice(4)]))
        .when(f == 1).then(pl.concat_str([pl.lit("+44 "), nsn.str.slice(0, 4), pl.lit(" "),
                                          nsn.str.slice(4)]))
        .when(f == 2).then(pl.concat_str([pl.lit("0"), nsn]))
        .when(f == 3).then(pl.concat_str([pl.lit("+44"), nsn]))
        .otherwise(pl.concat_str([pl.lit("0"), nsn.str.slice(0, 4), pl.lit(" "),
                                  nsn.str.slice(4, 3), pl.lit(" "), nsn.str.slice(7)]))
    )
    head = nsn.str.slice(0, 1)
    pairs = [nsn.str.slice(i, 2) for i in (1, 3, 5, 7)]
    fr = (
        pl.when(f == 0).then(pl.concat_str([pl.concat_str([pl.lit("0"), head]), *pairs],
                                           separator=" "))
        .when(f == 1).then(pl.concat_str([pl.lit("+33"), head, *pairs], separator=" "))
        .when(f == 2).then(pl.concat_str([pl.lit("0"), nsn]))
        .when(f == 3).then(pl.concat_str([pl.lit("+33"), nsn]))
        .otherwise(pl.concat_str([pl.concat_str([pl.lit("0"), head]), *pairs], separator="."))
    )
    return pl.when(pl.col("country") == "GB").then(gb).otherwise(fr)

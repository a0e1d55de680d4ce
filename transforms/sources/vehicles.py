"""Synthetic vehicles: make and model, fuel, VIN with a valid check digit, registration plate.

The make list is weighted per country and includes rare makes (Morgan, Lada, Alpine...) so that
the pipeline's "rare makes pooled as other" generalisation has something to pool. VINs follow
ISO 3779 with the North-American check digit in position 9 (computed here, vectorised), UK plates
the current DVLA format with an age identifier consistent with the first registration date, and
French plates the SIV format.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.sources.common import (
    chars_to_strings,
    random_chars,
    weighted_choice,
    year_month_day,
)

VIN_ALPHABET = "0123456789ABCDEFGHJKLMNPRSTUVWXYZ"  # no I, O, Q
_TRANSLITERATION = {**{str(d): d for d in range(10)},
                    **dict(zip("ABCDEFGH", range(1, 9), strict=True)),
                    **dict(zip("JKLMN", range(1, 6), strict=True)), "P": 7, "R": 9,
                    **dict(zip("STUVWXYZ", range(2, 10), strict=True))}
_WEIGHTS = np.array([8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2], dtype=np.int64)
# Model-year code (position 10): 30-year cycle starting 1980 = A, 2001 = 1, 2010 = A again.
_YEAR_CODES = "ABCDEFGHJKLMNPRSTVWXY123456789"

# make, WMI, models, weight GB, weight FR, premium factor, first model year, electric-only models
MAKES: list[tuple[str, str, list[str], float, float, float, int, list[str]]] = [
    ("Ford", "WF0", ["Fiesta", "Focus", "Puma", "Kuga", "Mondeo", "Transit Custom"],
     10.0, 4.0, 1.0, 2000, []),
    ("Vauxhall", "W0L", ["Corsa", "Astra", "Mokka", "Insignia", "Grandland"], 8.0, 0.0, 1.0, 2000,
     []),
    ("Opel", "W0L", ["Corsa", "Astra", "Mokka", "Insignia", "Grandland"], 0.0, 3.0, 1.0, 2000, []),
    ("Volkswagen", "WVW", ["Polo", "Golf", "T-Roc", "Tiguan", "Passat", "ID.3"], 9.0, 6.0, 1.1,
     2000, ["ID.3"]),
    ("BMW", "WBA", ["1 Series", "3 Series", "5 Series", "X1", "X3", "i3"], 5.0, 3.0, 1.35, 2000,
     ["i3"]),
    ("Mercedes-Benz", "WDD", ["A-Class", "C-Class", "E-Class", "GLA", "GLC"], 5.0, 3.0, 1.4, 2000,
     []),
    ("Audi", "WAU", ["A1", "A3", "A4", "Q3", "Q5"], 5.0, 3.0, 1.3, 2000, []),
    ("Toyota", "SB1", ["Yaris", "Corolla", "C-HR", "RAV4", "Aygo"], 5.0, 4.0, 0.9, 2000, []),
    ("Nissan", "SJN", ["Micra", "Juke", "Qashqai", "Leaf", "X-Trail"], 5.0, 3.0, 1.0, 2000,
     ["Leaf"]),
    ("Kia", "U5Y", ["Picanto", "Rio", "Ceed", "Sportage", "Niro"], 4.0, 2.5, 0.9, 2000, []),
    ("Hyundai", "TMA", ["i10", "i20", "i30", "Tucson", "Kona"], 4.0, 2.5, 0.9, 2000, []),
    ("Peugeot", "VF3", ["208", "308", "2008", "3008", "5008", "Partner"], 3.0, 14.0, 1.0, 2000, []),
    ("Renault", "VF1", ["Clio", "Megane", "Captur", "Scenic", "Kangoo", "Zoe"], 2.5, 15.0, 1.0,
     2000, ["Zoe"]),
    ("Citroen", "VF7", ["C3", "C4", "C5 Aircross", "Berlingo", "C1"], 2.0, 9.0, 0.95, 2000, []),
    ("Dacia", "UU1", ["Sandero", "Duster", "Logan", "Jogger", "Spring"], 1.5, 7.0, 0.8, 2005,
     ["Spring"]),
    ("Skoda", "TMB", ["Fabia", "Octavia", "Superb", "Karoq", "Kodiaq"], 3.5, 2.0, 0.95, 2000, []),
    ("SEAT", "VSS", ["Ibiza", "Leon", "Arona", "Ateca"], 2.5, 1.5, 0.95, 2000, []),
    ("Fiat", "ZFA", ["500", "Panda", "Tipo", "500X"], 2.0, 3.0, 0.9, 2000, []),
    ("Honda", "SHH", ["Jazz", "Civic", "CR-V", "HR-V"], 2.0, 0.8, 0.95, 2000, []),
    ("Mazda", "JMZ", ["Mazda2", "Mazda3", "CX-3", "CX-5", "MX-5"], 2.0, 0.8, 1.0, 2000, []),
    ("Mini", "WMW", ["Hatch", "Clubman", "Countryman"], 2.5, 1.0, 1.15, 2001, []),
    ("Volvo", "YV1", ["V40", "XC40", "XC60", "V60", "XC90"], 1.8, 1.2, 1.25, 2000, []),
    ("Land Rover", "SAL", ["Range Rover Evoque", "Discovery Sport", "Defender",
                           "Range Rover Sport"], 1.8, 0.5, 1.6, 2000, []),
    ("Jaguar", "SAJ", ["XE", "XF", "F-Pace", "E-Pace"], 0.8, 0.2, 1.5, 2000, []),
    ("Suzuki", "TSM", ["Swift", "Vitara", "Ignis"], 1.2, 1.0, 0.85, 2000, []),
    ("Tesla", "5YJ", ["Model 3", "Model Y", "Model S"], 0.8, 0.7, 1.3, 2014,
     ["Model 3", "Model Y", "Model S"]),
    ("MG", "LSJ", ["ZS", "MG4", "HS", "MG3"], 1.0, 0.6, 0.85, 2013, ["MG4"]),
    ("Mitsubishi", "JMB", ["Outlander", "ASX", "Mirage", "L200"], 0.6, 0.4, 0.95, 2000, []),
    ("Porsche", "WP0", ["911", "Cayenne", "Macan", "Taycan"], 0.3, 0.2, 2.2, 2000, ["Taycan"]),
    ("Subaru", "JF1", ["Forester", "Outback", "XV"], 0.2, 0.15, 1.1, 2000, []),
    ("Smart", "WME", ["ForTwo", "ForFour"], 0.2, 0.4, 0.9, 2000, []),
    ("Cupra", "VSS", ["Born", "Formentor", "Leon"], 0.5, 0.4, 1.1, 2018, ["Born"]),
    ("Polestar", "YSM", ["Polestar 2"], 0.15, 0.1, 1.3, 2020, ["Polestar 2"]),
    ("DS", "VR1", ["DS 3", "DS 4", "DS 7"], 0.05, 0.8, 1.2, 2014, []),
    ("Alpine", "VFA", ["A110"], 0.02, 0.05, 1.8, 2017, []),
    ("Lotus", "SCC", ["Elise", "Exige", "Emira"], 0.04, 0.01, 2.0, 2000, []),
    ("Morgan", "SA9", ["Plus Four", "Plus Six"], 0.02, 0.005, 1.9, 2000, []),
    ("Aston Martin", "SCF", ["Vantage", "DB11", "DBX"], 0.03, 0.01, 2.5, 2000, []),
    ("Maserati", "ZAM", ["Ghibli", "Levante"], 0.03, 0.03, 2.2, 2000, []),
    ("SsangYong", "KPT", ["Tivoli", "Korando", "Rexton"], 0.1, 0.05, 0.95, 2000, []),
    ("Lada", "XTA", ["Niva"], 0.003, 0.03, 0.8, 2000, []),
    ("BYD", "LGX", ["Atto 3", "Dolphin", "Seal"], 0.1, 0.08, 1.1, 2022,
     ["Atto 3", "Dolphin", "Seal"]),
]

FUELS = ["petrol", "diesel", "hybrid", "electric"]
# Fuel mix of new registrations by year (petrol, diesel, hybrid, electric); France ran more diesel.
_FUEL_MIX = [  # (first year, GB mix, FR mix)
    (0, [0.50, 0.47, 0.02, 0.01], [0.30, 0.67, 0.02, 0.01]),
    (2016, [0.55, 0.38, 0.05, 0.02], [0.40, 0.52, 0.06, 0.02]),
    (2019, [0.62, 0.22, 0.10, 0.06], [0.55, 0.30, 0.09, 0.06]),
    (2021, [0.60, 0.10, 0.17, 0.13], [0.50, 0.16, 0.20, 0.14]),
    (2023, [0.55, 0.06, 0.20, 0.19], [0.50, 0.08, 0.24, 0.18]),
]


@dataclass(frozen=True)
class ModelTable:
    """One row per (make, model): the arrays the vectorised draws index into."""

    make: np.ndarray
    model: np.ndarray
    wmi: np.ndarray
    make_index: np.ndarray
    weight_gb: np.ndarray
    weight_fr: np.ndarray
    premium_factor: np.ndarray
    first_year: np.ndarray
    electric_only: np.ndarray


# Launch year of the electric-only models (a 2012 Model Y would be a giveaway).
_EV_LAUNCH = {"ID.3": 2019, "i3": 2013, "Leaf": 2011, "Zoe": 2013, "Spring": 2021, "MG4": 2022,
              "Taycan": 2019, "Born": 2021, "Model 3": 2019, "Model Y": 2021, "Model S": 2014,
              "Polestar 2": 2020}


def model_table() -> ModelTable:
    rows = []
    for i, (make, wmi, models, wgb, wfr, factor, first_year, ev) in enumerate(MAKES):
        for model in models:
            launch = max(first_year, _EV_LAUNCH.get(model, 0))
            rows.append((make, model, wmi, i, wgb / len(models), wfr / len(models), factor,
                         launch, model in ev))
    cols = list(zip(*rows, strict=True))
    return ModelTable(*(np.array(c) for c in cols))


def vin_check_digits(chars: np.ndarray) -> np.ndarray:
    """ISO 3779 / North-American check character for (n, 17) ASCII VINs (position 9 ignored)."""
    lut = np.zeros(128, dtype=np.int64)
    for ch, v in _TRANSLITERATION.items():
        lut[ord(ch)] = v
    total = (lut[chars] * _WEIGHTS).sum(axis=1) % 11
    return np.where(total == 10, ord("X"), ord("0") + total).astype(np.uint8)


def make_vins(rng: np.random.Generator, wmi: np.ndarray, model_code: np.ndarray,
              reg_days: np.ndarray) -> np.ndarray:
    """VINs: WMI of the make, a descriptor per model, check digit, model year, plant, serial."""
    n = len(wmi)
    chars = np.empty((n, 17), dtype=np.uint8)
    chars[:, 0:3] = np.frombuffer("".join(wmi).encode("ascii"), dtype=np.uint8).reshape(n, 3)
    # Positions 4-6 describe the model (stable per model), 7-8 body/engine variants.
    alphabet = np.frombuffer(VIN_ALPHABET.encode("ascii"), dtype=np.uint8)
    mc = np.asarray(model_code, dtype=np.int64)
    chars[:, 3] = alphabet[10 + (mc * 7) % 23]
    chars[:, 4] = alphabet[(mc * 13 + 5) % 33]
    chars[:, 5] = alphabet[(mc * 29 + 11) % 33]
    chars[:, 6:8] = random_chars(rng, VIN_ALPHABET, (n, 2))
    year, month, _ = year_month_day(reg_days)
    model_year = year + ((month >= 9) & (rng.random(n) < 0.6))
    codes = np.frombuffer(_YEAR_CODES.encode("ascii"), dtype=np.uint8)
    chars[:, 9] = codes[(model_year - 1980) % 30]
    chars[:, 10] = alphabet[rng.integers(0, 33, n)]
    chars[:, 11:17] = random_chars(rng, "0123456789", (n, 6))
    chars[:, 8] = ord("0")
    chars[:, 8] = vin_check_digits(chars)
    return chars_to_strings(chars)


def uk_plates(rng: np.random.Generator, reg_days: np.ndarray) -> pl.Series:
    """Current-style UK plates `AB12 CDE`.

    Memory tag: a region letter (never I, Q, U, Z) and a DVLA office letter (never I, Q, Z); the
    age identifier is the year for March-August registrations and year + 50 for September to
    February; the three random letters never use I or Q.
    """
    n = len(reg_days)
    year, month, _ = year_month_day(reg_days)
    age_id = np.where(month >= 9, year % 100 + 50, np.where(month <= 2, (year - 1) % 100 + 50,
                                                             year % 100))
    frame = pl.DataFrame({
        "a": chars_to_strings(random_chars(rng, "ABCDEFGHKLMNOPRSVWY", (n, 1))),
        "b": chars_to_strings(random_chars(rng, "ABCDEFGHJKLMNOPRSTUVWXY", (n, 1))),
        "age": age_id,
        "r": chars_to_strings(random_chars(rng, "ABCDEFGHJKLMNOPRSTUVWXYZ", (n, 3))),
    })
    return frame.select(pl.concat_str([pl.col("a"), pl.col("b"),
                                       pl.col("age").cast(pl.String).str.zfill(2), pl.lit(" "),
                                       pl.col("r")]).alias("plate")).to_series()


_SIV_LETTERS = "ABCDEFGHJKLMNPQRSTVWXYZ"  # SIV plates never use I, O, U


def fr_plates(rng: np.random.Generator, reg_days: np.ndarray) -> pl.Series:
    """French SIV plates `AB-123-CD`; the first pair advances with the registration date (the
    series is issued in order since April 2009), with noise for cars re-registered later."""
    n = len(reg_days)
    years_since = (np.asarray(reg_days) - 14349) / 365.25  # 2009-04-15
    k = np.clip(years_since * 9.3 + rng.normal(0, 1.5, n), 0, 23 * 23 - 1).astype(np.int64)
    letters = np.frombuffer(_SIV_LETTERS.encode("ascii"), dtype=np.uint8)
    first = np.stack([letters[k // 23], letters[k % 23]], axis=1)
    last = random_chars(rng, _SIV_LETTERS, (n, 2))
    # SS and WW are never issued as a pair.
    for pair in (first, last):
        bad = ((pair[:, 0] == ord("S")) & (pair[:, 1] == ord("S"))) | (
            (pair[:, 0] == ord("W")) & (pair[:, 1] == ord("W")))
        pair[bad, 1] = ord("T")
    frame = pl.DataFrame({"f": chars_to_strings(first), "num": rng.integers(1, 1000, n),
                          "l": chars_to_strings(last)})
    return frame.select(pl.concat_str([pl.col("f"), pl.lit("-"),
                                       pl.col("num").cast(pl.String).str.zfill(3), pl.lit("-"),
                                       pl.col("l")]).alias("plate")).to_series()


def draw_fuel(rng: np.random.Generator, gb: np.ndarray, reg_year: np.ndarray) -> np.ndarray:
    """Fuel index into FUELS from the registration year's and country's fuel mix."""
    n = len(gb)
    probs = np.zeros((n, 4))
    for first_year, mix_gb, mix_fr in _FUEL_MIX:
        sel = reg_year >= first_year
        probs[sel & gb] = mix_gb
        probs[sel & ~gb] = mix_fr
    cdf = np.cumsum(probs, axis=1)
    return (rng.random(n)[:, None] > cdf).sum(axis=1).clip(0, 3)


def draw_models(rng: np.random.Generator, table: ModelTable, gb: np.ndarray,
                reg_year: np.ndarray, fuel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A model per vehicle, weighted by country, among models on sale in its registration year
    and of its kind (electric-only models for electric cars, the others otherwise).

    Returns (model index, fuel): an electric draw with no electric model on sale that year
    becomes a petrol car of an ordinary model.
    """
    n = len(gb)
    out = np.empty(n, dtype=np.int64)
    electric = fuel == 3
    for is_gb in (True, False):
        weights = table.weight_gb if is_gb else table.weight_fr
        for y in np.unique(reg_year):
            on_sale = table.first_year <= y
            for is_ev in (False, True):
                mask = (gb == is_gb) & (reg_year == y) & (electric == is_ev)
                m = int(mask.sum())
                if not m:
                    continue
                w = np.where(on_sale & (table.electric_only == is_ev), weights, 0.0)
                if w.sum() == 0:
                    w = np.where(on_sale & ~table.electric_only, weights, 0.0)
                out[mask] = weighted_choice(rng, w, m)
    fuel = np.where(electric & ~table.electric_only[out], 0, fuel)
    return out, fuel

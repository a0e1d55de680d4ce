"""Where the synthetic people live: UK postcode areas and French departements.

Real reference geography (postcode areas, departement codes, their main towns and rough
centroids, rough population weights) rather than Faker's invented towns, because the pipeline
generalises postcodes to regions and suppresses small cells: the regions must be real and
unevenly populated (Shetland or Lozere against London or Nord) for that logic to be exercised.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.sources.common import weighted_choice

# area, post town, latitude, longitude, weight (~ population / 100k), highest district number
UK_AREAS: list[tuple[str, str, float, float, float, int]] = [
    ("AB", "Aberdeen", 57.15, -2.11, 5.0, 56), ("AL", "St Albans", 51.75, -0.34, 3.0, 10),
    ("B", "Birmingham", 52.48, -1.89, 17.0, 99), ("BA", "Bath", 51.38, -2.36, 4.0, 16),
    ("BB", "Blackburn", 53.75, -2.48, 5.0, 18), ("BD", "Bradford", 53.79, -1.75, 6.0, 24),
    ("BH", "Bournemouth", 50.72, -1.88, 6.0, 25), ("BL", "Bolton", 53.58, -2.43, 4.0, 9),
    ("BN", "Brighton", 50.82, -0.14, 8.0, 45), ("BR", "Bromley", 51.40, 0.02, 3.0, 8),
    ("BS", "Bristol", 51.45, -2.59, 9.0, 49), ("BT", "Belfast", 54.60, -5.93, 18.0, 94),
    ("CA", "Carlisle", 54.89, -2.93, 3.0, 28), ("CB", "Cambridge", 52.21, 0.12, 4.0, 11),
    ("CF", "Cardiff", 51.48, -3.18, 8.0, 83), ("CH", "Chester", 53.19, -2.89, 6.0, 66),
    ("CM", "Chelmsford", 51.74, 0.47, 7.0, 24), ("CO", "Colchester", 51.89, 0.90, 4.0, 16),
    ("CR", "Croydon", 51.37, -0.10, 3.0, 9), ("CT", "Canterbury", 51.28, 1.08, 5.0, 21),
    ("CV", "Coventry", 52.41, -1.51, 6.0, 47), ("CW", "Crewe", 53.10, -2.44, 3.0, 12),
    ("DA", "Dartford", 51.45, 0.22, 4.0, 18), ("DD", "Dundee", 56.46, -2.97, 3.0, 11),
    ("DE", "Derby", 52.92, -1.48, 8.0, 75), ("DG", "Dumfries", 55.07, -3.61, 1.5, 16),
    ("DH", "Durham", 54.78, -1.57, 3.0, 9), ("DL", "Darlington", 54.52, -1.55, 4.0, 17),
    ("DN", "Doncaster", 53.52, -1.13, 9.0, 41), ("DT", "Dorchester", 50.71, -2.44, 2.0, 11),
    ("DY", "Dudley", 52.51, -2.08, 4.0, 14), ("E", "London", 51.53, -0.03, 10.0, 20),
    ("EC", "London", 51.52, -0.09, 0.3, 4), ("EH", "Edinburgh", 55.95, -3.19, 9.0, 55),
    ("EN", "Enfield", 51.65, -0.08, 3.0, 11), ("EX", "Exeter", 50.72, -3.53, 6.0, 39),
    ("FK", "Falkirk", 56.00, -3.78, 3.0, 21), ("FY", "Blackpool", 53.82, -3.05, 2.5, 8),
    ("G", "Glasgow", 55.86, -4.25, 12.0, 84), ("GL", "Gloucester", 51.86, -2.24, 6.0, 56),
    ("GU", "Guildford", 51.24, -0.57, 7.0, 52), ("HA", "Harrow", 51.58, -0.34, 4.0, 9),
    ("HD", "Huddersfield", 53.65, -1.78, 3.0, 9), ("HG", "Harrogate", 54.00, -1.54, 1.5, 5),
    ("HP", "Hemel Hempstead", 51.75, -0.47, 4.0, 27), ("HR", "Hereford", 52.06, -2.72, 1.5, 9),
    ("HS", "Isle of Lewis", 58.21, -6.39, 0.25, 9), ("HU", "Hull", 53.74, -0.33, 5.0, 20),
    ("HX", "Halifax", 53.72, -1.86, 1.5, 7), ("IG", "Ilford", 51.56, 0.08, 3.0, 11),
    ("IP", "Ipswich", 52.06, 1.15, 5.0, 33), ("IV", "Inverness", 57.48, -4.22, 2.0, 56),
    ("KA", "Kilmarnock", 55.61, -4.50, 4.0, 30),
    ("KT", "Kingston upon Thames", 51.41, -0.30, 4.0, 24),
    ("KW", "Kirkwall", 58.98, -2.96, 0.4, 17), ("KY", "Kirkcaldy", 56.11, -3.16, 3.5, 16),
    ("L", "Liverpool", 53.41, -2.98, 10.0, 40), ("LA", "Lancaster", 54.05, -2.80, 3.0, 23),
    ("LD", "Llandrindod Wells", 52.24, -3.38, 0.4, 8), ("LE", "Leicester", 52.64, -1.13, 10.0, 67),
    ("LL", "Llandudno", 53.32, -3.83, 5.0, 78), ("LN", "Lincoln", 53.23, -0.54, 3.0, 13),
    ("LS", "Leeds", 53.80, -1.55, 9.0, 29), ("LU", "Luton", 51.88, -0.42, 3.0, 7),
    ("M", "Manchester", 53.48, -2.24, 11.0, 50), ("ME", "Rochester", 51.39, 0.50, 5.0, 20),
    ("MK", "Milton Keynes", 52.04, -0.76, 5.0, 46), ("ML", "Motherwell", 55.79, -3.99, 3.5, 12),
    ("N", "London", 51.56, -0.10, 6.0, 22), ("NE", "Newcastle upon Tyne", 54.98, -1.61, 11.0, 71),
    ("NG", "Nottingham", 52.95, -1.15, 11.0, 34), ("NN", "Northampton", 52.24, -0.90, 6.0, 29),
    ("NP", "Newport", 51.59, -3.00, 5.0, 44), ("NR", "Norwich", 52.63, 1.30, 6.0, 35),
    ("NW", "London", 51.55, -0.20, 4.0, 11), ("OL", "Oldham", 53.54, -2.12, 4.5, 16),
    ("OX", "Oxford", 51.75, -1.26, 6.0, 49), ("PA", "Paisley", 55.85, -4.42, 3.0, 80),
    ("PE", "Peterborough", 52.57, -0.24, 9.0, 38), ("PH", "Perth", 56.40, -3.44, 2.0, 50),
    ("PL", "Plymouth", 50.38, -4.14, 5.0, 35), ("PO", "Portsmouth", 50.82, -1.09, 9.0, 41),
    ("PR", "Preston", 53.76, -2.70, 5.0, 26), ("RG", "Reading", 51.45, -0.97, 9.0, 45),
    ("RH", "Redhill", 51.24, -0.17, 6.0, 20), ("RM", "Romford", 51.58, 0.18, 5.0, 20),
    ("S", "Sheffield", 53.38, -1.47, 11.0, 81), ("SA", "Swansea", 51.62, -3.94, 7.0, 73),
    ("SE", "London", 51.47, -0.06, 9.0, 28), ("SG", "Stevenage", 51.90, -0.20, 4.0, 19),
    ("SK", "Stockport", 53.41, -2.16, 6.0, 23), ("SL", "Slough", 51.51, -0.59, 3.5, 9),
    ("SM", "Sutton", 51.36, -0.19, 2.0, 7), ("SN", "Swindon", 51.56, -1.78, 5.0, 26),
    ("SO", "Southampton", 50.91, -1.40, 6.0, 53), ("SP", "Salisbury", 51.07, -1.79, 2.0, 11),
    ("SR", "Sunderland", 54.91, -1.38, 3.0, 9), ("SS", "Southend-on-Sea", 51.54, 0.71, 5.0, 17),
    ("ST", "Stoke-on-Trent", 53.00, -2.18, 7.0, 21), ("SW", "London", 51.46, -0.17, 9.0, 20),
    ("SY", "Shrewsbury", 52.71, -2.75, 4.0, 25), ("TA", "Taunton", 51.02, -3.10, 3.0, 24),
    ("TD", "Galashiels", 55.62, -2.81, 1.0, 15), ("TF", "Telford", 52.68, -2.45, 2.0, 13),
    ("TN", "Tonbridge", 51.20, 0.27, 7.0, 40), ("TQ", "Torquay", 50.46, -3.53, 3.0, 14),
    ("TR", "Truro", 50.26, -5.05, 3.0, 27), ("TS", "Middlesbrough", 54.57, -1.23, 5.5, 29),
    ("TW", "Twickenham", 51.45, -0.34, 4.0, 20), ("UB", "Southall", 51.51, -0.38, 3.5, 11),
    ("W", "London", 51.51, -0.19, 5.0, 14), ("WA", "Warrington", 53.39, -2.59, 6.5, 16),
    ("WC", "London", 51.52, -0.12, 0.3, 2), ("WD", "Watford", 51.66, -0.40, 2.5, 25),
    ("WF", "Wakefield", 53.68, -1.50, 5.0, 17), ("WN", "Wigan", 53.55, -2.63, 3.0, 8),
    ("WR", "Worcester", 52.19, -2.22, 3.0, 15), ("WS", "Walsall", 52.59, -1.98, 4.5, 15),
    ("WV", "Wolverhampton", 52.59, -2.13, 5.0, 16), ("YO", "York", 53.96, -1.08, 6.0, 62),
    ("ZE", "Lerwick", 60.15, -1.15, 0.2, 3),
]

# departement code (postcode prefix), prefecture, latitude, longitude, weight (~ pop / 100k).
# Corsica (2A/2B) shares the postcode prefix 20.
FR_DEPARTEMENTS: list[tuple[str, str, float, float, float]] = [
    ("01", "Bourg-en-Bresse", 46.21, 5.23, 6.6), ("02", "Laon", 49.56, 3.62, 5.3),
    ("03", "Moulins", 46.57, 3.33, 3.3), ("04", "Digne-les-Bains", 44.09, 6.24, 1.6),
    ("05", "Gap", 44.56, 6.08, 1.4), ("06", "Nice", 43.70, 7.27, 11.0),
    ("07", "Privas", 44.74, 4.60, 3.3), ("08", "Charleville-Mézières", 49.77, 4.72, 2.7),
    ("09", "Foix", 42.97, 1.61, 1.5), ("10", "Troyes", 48.30, 4.08, 3.1),
    ("11", "Carcassonne", 43.21, 2.35, 3.7), ("12", "Rodez", 44.35, 2.57, 2.8),
    ("13", "Marseille", 43.30, 5.37, 20.4), ("14", "Caen", 49.18, -0.37, 7.0),
    ("15", "Aurillac", 44.93, 2.44, 1.4), ("16", "Angoulême", 45.65, 0.16, 3.5),
    ("17", "La Rochelle", 46.16, -1.15, 6.5), ("18", "Bourges", 47.08, 2.40, 3.0),
    ("19", "Tulle", 45.27, 1.77, 2.4), ("20", "Ajaccio", 41.93, 8.74, 3.4),
    ("21", "Dijon", 47.32, 5.04, 5.3), ("22", "Saint-Brieuc", 48.51, -2.76, 6.0),
    ("23", "Guéret", 46.17, 1.87, 1.2), ("24", "Périgueux", 45.18, 0.72, 4.1),
    ("25", "Besançon", 47.24, 6.02, 5.4), ("26", "Valence", 44.93, 4.89, 5.2),
    ("27", "Évreux", 49.02, 1.15, 6.0), ("28", "Chartres", 48.45, 1.49, 4.3),
    ("29", "Quimper", 48.00, -4.10, 9.1), ("30", "Nîmes", 43.84, 4.36, 7.5),
    ("31", "Toulouse", 43.60, 1.44, 14.0), ("32", "Auch", 43.65, 0.59, 1.9),
    ("33", "Bordeaux", 44.84, -0.58, 16.3), ("34", "Montpellier", 43.61, 3.88, 11.8),
    ("35", "Rennes", 48.11, -1.68, 10.8), ("36", "Châteauroux", 46.81, 1.69, 2.2),
    ("37", "Tours", 47.39, 0.69, 6.1), ("38", "Grenoble", 45.19, 5.72, 12.7),
    ("39", "Lons-le-Saunier", 46.67, 5.55, 2.6), ("40", "Mont-de-Marsan", 43.89, -0.50, 4.1),
    ("41", "Blois", 47.59, 1.33, 3.3), ("42", "Saint-Étienne", 45.44, 4.39, 7.6),
    ("43", "Le Puy-en-Velay", 45.04, 3.88, 2.3), ("44", "Nantes", 47.22, -1.55, 14.3),
    ("45", "Orléans", 47.90, 1.91, 6.8), ("46", "Cahors", 44.45, 1.44, 1.7),
    ("47", "Agen", 44.20, 0.62, 3.3), ("48", "Mende", 44.52, 3.50, 0.8),
    ("49", "Angers", 47.47, -0.56, 8.2), ("50", "Saint-Lô", 49.12, -1.09, 5.0),
    ("51", "Châlons-en-Champagne", 48.96, 4.36, 5.7), ("52", "Chaumont", 48.11, 5.14, 1.7),
    ("53", "Laval", 48.07, -0.77, 3.1), ("54", "Nancy", 48.69, 6.18, 7.3),
    ("55", "Bar-le-Duc", 48.77, 5.16, 1.8), ("56", "Vannes", 47.66, -2.76, 7.6),
    ("57", "Metz", 49.12, 6.18, 10.4), ("58", "Nevers", 46.99, 3.16, 2.0),
    ("59", "Lille", 50.63, 3.06, 26.0), ("60", "Beauvais", 49.43, 2.08, 8.3),
    ("61", "Alençon", 48.43, 0.09, 2.8), ("62", "Arras", 50.29, 2.78, 14.6),
    ("63", "Clermont-Ferrand", 45.78, 3.08, 6.6), ("64", "Pau", 43.30, -0.37, 6.8),
    ("65", "Tarbes", 43.23, 0.08, 2.3), ("66", "Perpignan", 42.70, 2.90, 4.8),
    ("67", "Strasbourg", 48.57, 7.75, 11.4), ("68", "Colmar", 48.08, 7.36, 7.7),
    ("69", "Lyon", 45.76, 4.84, 18.8), ("70", "Vesoul", 47.62, 6.15, 2.3),
    ("71", "Mâcon", 46.31, 4.83, 5.5), ("72", "Le Mans", 48.00, 0.20, 5.7),
    ("73", "Chambéry", 45.57, 5.92, 4.4), ("74", "Annecy", 45.90, 6.13, 8.3),
    ("75", "Paris", 48.86, 2.35, 21.0), ("76", "Rouen", 49.44, 1.10, 12.5),
    ("77", "Melun", 48.54, 2.66, 14.2), ("78", "Versailles", 48.80, 2.13, 14.5),
    ("79", "Niort", 46.32, -0.46, 3.7), ("80", "Amiens", 49.89, 2.30, 5.7),
    ("81", "Albi", 43.93, 2.15, 3.9), ("82", "Montauban", 44.02, 1.35, 2.6),
    ("83", "Toulon", 43.12, 5.93, 10.8), ("84", "Avignon", 43.95, 4.81, 5.6),
    ("85", "La Roche-sur-Yon", 46.67, -1.43, 6.9), ("86", "Poitiers", 46.58, 0.34, 4.4),
    ("87", "Limoges", 45.83, 1.26, 3.7), ("88", "Épinal", 48.17, 6.45, 3.6),
    ("89", "Auxerre", 47.80, 3.57, 3.3), ("90", "Belfort", 47.64, 6.86, 1.4),
    ("91", "Évry-Courcouronnes", 48.63, 2.44, 13.0), ("92", "Nanterre", 48.89, 2.21, 16.2),
    ("93", "Bobigny", 48.91, 2.44, 16.5), ("94", "Créteil", 48.79, 2.46, 14.0),
    ("95", "Cergy", 49.04, 2.08, 12.5),
]

GB_BORN_ABROAD = ["Dublin", "Cork", "Warsaw", "Lagos", "Karachi", "Mumbai", "Delhi", "Kingston",
                  "Bucharest", "Lisbon", "Johannesburg", "Nairobi", "Sydney", "Toronto",
                  "Hong Kong", "Accra", "Dhaka", "Lahore", "Paris", "Kraków"]
FR_BORN_ABROAD = ["Alger", "Oran", "Casablanca", "Rabat", "Tunis", "Lisbonne", "Porto", "Madrid",
                  "Dakar", "Abidjan", "Bruxelles", "Genève", "Milan", "Bamako", "Hanoï",
                  "Istanbul", "Londres", "Varsovie"]

# Inward code letters never include C, I, K, M, O, V; London sub-district letters.
_INWARD_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
_SUBDISTRICT_LETTERS = "ABCDEFGHJKMNPRSTUVWXY"


@dataclass(frozen=True)
class Homes:
    """Home location of n people: region index, postcode, town and a rough coordinate."""

    region: np.ndarray  # index into UK_AREAS or FR_DEPARTEMENTS, per country
    postcode: pl.Series
    city: pl.Series
    lat: np.ndarray
    lon: np.ndarray


def _column(table: list[tuple], i: int) -> pl.Series:
    return pl.Series([row[i] for row in table])


def uk_homes(rng: np.random.Generator, n: int) -> Homes:
    """UK homes: an area drawn by population, a full postcode `SW1A 1AA` in its real format."""
    idx = weighted_choice(rng, [a[4] for a in UK_AREAS], n)
    max_district = np.array([a[5] for a in UK_AREAS])[idx]
    district = 1 + (rng.random(n) * max_district).astype(np.int64)
    area = _column(UK_AREAS, 0).gather(idx)
    sub = pl.Series(list(_SUBDISTRICT_LETTERS)).gather(
        rng.integers(0, len(_SUBDISTRICT_LETTERS), n))
    inward = pl.Series(list(_INWARD_LETTERS))
    l1 = inward.gather(rng.integers(0, len(_INWARD_LETTERS), n))
    l2 = inward.gather(rng.integers(0, len(_INWARD_LETTERS), n))
    frame = pl.DataFrame({"area": area, "district": district, "sub": sub,
                          "sector": rng.integers(0, 10, n), "l1": l1, "l2": l2})
    # Central London districts carry a letter (EC1A, WC2N, SW1A, W1K).
    needs_letter = pl.col("area").is_in(["EC", "WC"]) | (
        pl.col("area").is_in(["SW", "W"]) & (pl.col("district") == 1))
    postcode = frame.select(pl.concat_str([
        pl.col("area"), pl.col("district").cast(pl.String),
        pl.when(needs_letter).then(pl.col("sub")).otherwise(pl.lit("")),
        pl.lit(" "), pl.col("sector").cast(pl.String), pl.col("l1"), pl.col("l2"),
    ]).alias("postcode")).to_series()
    lat = np.array([a[2] for a in UK_AREAS])[idx] + rng.normal(0, 0.08, n)
    lon = np.array([a[3] for a in UK_AREAS])[idx] + rng.normal(0, 0.12, n)
    return Homes(idx, postcode, _column(UK_AREAS, 1).gather(idx), lat, lon)


def fr_homes(rng: np.random.Generator, n: int) -> Homes:
    """French homes: a departement drawn by population, a 5-digit postcode with its prefix."""
    idx = weighted_choice(rng, [d[4] for d in FR_DEPARTEMENTS], n)
    prefix = _column(FR_DEPARTEMENTS, 0).gather(idx)
    # Most French postcodes end in 0 (the distributing office); Paris uses 750 + arrondissement.
    tail = rng.integers(0, 100, size=n) * 10 + np.where(rng.random(n) < 0.2,
                                                        rng.integers(0, 10, size=n), 0)
    tail = np.where(prefix.to_numpy() == "75", rng.integers(1, 21, size=n), tail)
    postcode = pl.DataFrame({"p": prefix, "t": tail}).select(
        (pl.col("p") + pl.col("t").cast(pl.String).str.zfill(3)).alias("postcode")).to_series()
    lat = np.array([d[2] for d in FR_DEPARTEMENTS])[idx] + rng.normal(0, 0.12, n)
    lon = np.array([d[3] for d in FR_DEPARTEMENTS])[idx] + rng.normal(0, 0.15, n)
    return Homes(idx, postcode, _column(FR_DEPARTEMENTS, 1).gather(idx), lat, lon)


def places_of_birth(rng: np.random.Generator, gb: np.ndarray) -> pl.Series:
    """Town of birth: mostly a town of the same country (weighted by population), some abroad."""
    n = len(gb)
    towns = pl.Series([a[1] for a in UK_AREAS] + [d[1] for d in FR_DEPARTEMENTS]
                      + GB_BORN_ABROAD + FR_BORN_ABROAD)
    n_uk, n_fr, n_gba = len(UK_AREAS), len(FR_DEPARTEMENTS), len(GB_BORN_ABROAD)
    uk = weighted_choice(rng, [a[4] for a in UK_AREAS], n)
    fr = n_uk + weighted_choice(rng, [d[4] for d in FR_DEPARTEMENTS], n)
    gb_abroad = n_uk + n_fr + rng.integers(0, n_gba, n)
    fr_abroad = n_uk + n_fr + n_gba + rng.integers(0, len(FR_BORN_ABROAD), n)
    abroad = rng.random(n) < 0.13
    idx = np.where(gb, np.where(abroad, gb_abroad, uk), np.where(abroad, fr_abroad, fr))
    return towns.gather(idx)


def region_centroids(countries: np.ndarray, region: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (lat, lon) of each row's region, for breakdown positions far from home."""
    uk = np.array([(a[2], a[3]) for a in UK_AREAS])
    fr = np.array([(d[2], d[3]) for d in FR_DEPARTEMENTS])
    gb_mask = countries == "GB"
    lat = np.where(gb_mask, uk[np.minimum(region, len(uk) - 1), 0],
                   fr[np.minimum(region, len(fr) - 1), 0])
    lon = np.where(gb_mask, uk[np.minimum(region, len(uk) - 1), 1],
                   fr[np.minimum(region, len(fr) - 1), 1])
    return lat, lon

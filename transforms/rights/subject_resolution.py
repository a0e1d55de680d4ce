"""Who a data-subject request is about: from the identifiers the subject gave to every record of
theirs, in the raw zone (landing deliveries still kept, quarantine) and in every pseudonym domain.

Why this shape: the purpose domains are unlinkable by design (one HMAC key each), so there is no
table anywhere that says "this actuarial contract is that marketing customer". The only bridge is
the raw identifiers. A subject is therefore resolved in three steps:

1. the identifiers the subject gave, normalised exactly as the pipeline normalises before hashing
   (transforms/privacy/identity.py), become *clues*: a contract number, a customer number, the
   person (surname, first name, date of birth), or names plus email (prospects often give no
   birth date);
2. the clues are expanded over the raw rows still held (landing deliveries and quarantine, read
   in memory only, never written anywhere): a matched contract adds its customer number and
   person, a matched claim its claim number, and so on, until nothing new is found;
3. every value found is hashed in each domain, and expanded once more inside each domain's
   warehouse tables (a contract key brings the person key of that contract, which brings the
   person's other contracts), because the landing files of older deliveries are gone.

Subject-request rows are matched (they are the subject's data too) but never expanded from: what
a requester wrote is a claim about who they are, not evidence linking two records.

Nothing here logs or returns a value: `Subject` prints counts only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import duckdb
import polars as pl

from transforms.classification import Classification, Entity
from transforms.frames import owned
from transforms.landing import RawRewriteError, raw_files, read_raw_csv_batches
from transforms.privacy.identifiers import (
    UNIT_SEPARATOR,
    is_valid,
    normalise,
    normalise_email,
    normalise_name,
    normalise_person,
)
from transforms.privacy.identity import (
    KINDS,
    NAMES_EMAIL,
    PERSON,
    date_expr,
    identity_exprs,
    text_expr,
)
from transforms.privacy.keys import DOMAINS, DomainKeys
from transforms.privacy.pseudonymise import pseudonymise

# the warehouse column of each identifier kind
PSEUDONYM_COLUMNS = {
    "person_key": PERSON,
    "contract_key": "contract_number",
    "customer_key": "customer_number",
    "claim_key": "claim_number",
    "quote_key": "quote_number",
    "transaction_key": "transaction_id",
}
REQUESTS_ENTITY = ("dpo", "subject_requests")

Values = dict[str, set[str]]  # kind -> values


def _empty() -> Values:
    return {k: set() for k in (*KINDS, NAMES_EMAIL)}


# -- the identifiers a subject gave -----------------------------------------------------------


class MalformedIdentifiers(ValueError):
    """A given identifier cannot be read (bad date or format). Never carries the value."""


@dataclass(frozen=True)
class GivenIdentifiers:
    """What the subject gave, as given. `repr` hides every value."""

    surname: str | None = field(default=None, repr=False)
    first_name: str | None = field(default=None, repr=False)
    date_of_birth: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    contract_number: str | None = field(default=None, repr=False)
    customer_number: str | None = field(default=None, repr=False)

    @classmethod
    def from_mapping(cls, row: dict[str, object]) -> GivenIdentifiers:
        def get(name: str) -> str | None:
            value = row.get(name)
            text = None if value is None else str(value).strip()
            return text or None

        return cls(get("surname"), get("first_name"), get("date_of_birth"), get("email"),
                   get("contract_number"), get("customer_number"))

    def any_given(self) -> bool:
        return any(v is not None for v in self.__dict__.values())


def clues(given: GivenIdentifiers) -> dict[str, str]:
    """Clue kind -> normalised value. Raises MalformedIdentifiers (naming the field, never the
    value) when a given identifier cannot be read; returns {} when what was given cannot
    identify anybody on its own (a name alone, an email alone)."""
    found = clues_each([given])[0]
    if isinstance(found, MalformedIdentifiers):
        raise found
    return found


_REFERENCES = ("contract_number", "customer_number")


def clues_each(givens: Sequence[GivenIdentifiers]
               ) -> list[dict[str, str] | MalformedIdentifiers]:
    """clues() of each subject, or the MalformedIdentifiers it would raise, in one polars pass
    over all of them. Why: a run reads every pending request's clues; one select per field per
    request cost 8 s of the rights step at 1M contracts (924 requests)."""
    names = list(GivenIdentifiers.__dataclass_fields__)
    frame = pl.DataFrame({k: [getattr(g, k) for g in givens] for k in names},
                         schema={k: pl.String for k in names})
    dob = date_expr(frame, "date_of_birth")
    values = frame.select(
        dob.alias("dob"),
        *[normalise(k, text_expr(k)).alias(k) for k in _REFERENCES],
        normalise_email(text_expr("email")).alias("email"),
        normalise_person(text_expr("surname"), text_expr("first_name"), dob).alias(PERSON),
        normalise_name(text_expr("surname")).alias("surname"),
        normalise_name(text_expr("first_name")).alias("first_name"),
    ).with_columns(
        # a value that normalises to nothing is not valid either (null is not true)
        *[is_valid(k, pl.col(k)).fill_null(False).alias(f"{k}_valid")
          for k in (*_REFERENCES, "email")],
    )
    return [_clues_of_row(given, row) for given, row in
            zip(givens, values.iter_rows(named=True), strict=True)]


def _clues_of_row(given: GivenIdentifiers, row: dict[str, object]
                  ) -> dict[str, str] | MalformedIdentifiers:
    if given.date_of_birth is not None and row["dob"] is None:
        return MalformedIdentifiers("date_of_birth is not a date (YYYY-MM-DD)")
    out: dict[str, str] = {}
    for kind in _REFERENCES:
        if getattr(given, kind) is None:
            continue
        if not row[f"{kind}_valid"]:
            return MalformedIdentifiers(f"{kind} does not have the source contract's format")
        out[kind] = str(row[kind])
    email = None
    if given.email is not None:
        if not row["email_valid"]:
            return MalformedIdentifiers("email is not an email address")
        email = str(row["email"])
    if row[PERSON] is not None:
        out[PERSON] = str(row[PERSON])
    if email is not None and given.surname and given.first_name:
        out[NAMES_EMAIL] = UNIT_SEPARATOR.join([row["surname"], row["first_name"], email])
    return out


def clues_of(givens: Iterable[GivenIdentifiers]) -> Values:
    """The clues of several subjects together (what can be read of each; a malformed one is
    left out, as its request is rejected): what the raw index must be able to link."""
    out = _empty()
    for found in clues_each(list(givens)):
        if isinstance(found, MalformedIdentifiers):
            continue
        for kind, value in found.items():
            out[kind].add(value)
    return out


# -- the raw zone, in memory -----------------------------------------------------------------


@dataclass
class RawIndex:
    """Normalised identifiers of raw rows still held, per entity; `_where` says landing or
    quarantine. Built for one run of request processing and dropped with it: every row, or
    (`load_raw_index(about=...)`) only the rows linked to the subjects at hand."""

    frames: dict[tuple[str, str], pl.DataFrame]
    files_skipped: int = 0


def _read_identity(where: str, entity: Entity, path: Path, *, hashed: bool = False,
                   rows: pl.Series | None = None) -> pl.DataFrame | None:
    """The file's normalised identifiers (as 64-bit hashes with `hashed`; only the rows at the
    positions `rows` when given), read batch by batch (transforms/landing.py): only these
    columns are held, never the file's other columns (a full extract of 1M contracts read whole
    is about 0.5 GiB of text). None when the file cannot be read: the ingest refuses it too,
    and it is counted as skipped."""
    parts: list[pl.DataFrame] = []
    offset = 0
    try:
        batches = (read_raw_csv_batches(path) if where == "landing"
                   else [pl.read_parquet(path)])
        for batch in batches:
            exprs = identity_exprs(batch, entity)
            ident = batch.select([e.alias(k) for k, e in exprs.items()])
            if rows is not None and exprs:
                at = rows.filter(rows.is_between(offset, offset + batch.height - 1)) - offset
                # owned: the linked rows alone, not the whole batch's identifiers behind them
                ident = owned(ident[at.cast(pl.Int64).to_list()])
            offset += batch.height
            parts.append(_hashed(ident, ident.columns) if hashed else ident)
    except (pl.exceptions.PolarsError, OSError, RawRewriteError):
        return None
    return pl.concat(parts, how="vertical") if parts else pl.DataFrame()


def _hashed(frame: pl.DataFrame | pl.LazyFrame, kinds: Iterable[str]
            ) -> pl.DataFrame | pl.LazyFrame:
    """Each identifier as a 64-bit hash (null stays null): the linking pass holds 8 bytes per
    value instead of the text. A collision can only keep a row too many, which the exact
    matching on the text afterwards ignores."""
    return frame.select([pl.when(pl.col(k).is_not_null()).then(pl.col(k).hash(_HASH_SEED))
                         .alias(k) for k in kinds])


_HASH_SEED = 0x5EED


def _linked_rows(hashed: dict[int, tuple[tuple[str, str], pl.DataFrame]], about: Values
                 ) -> dict[int, pl.Series]:
    """Per file, the positions of the rows linked to any of the clues (expand_raw's fixpoint on
    the hashes, for all the subjects at once: a superset of what each one's expansion reads)."""
    found: dict[str, set[int]] = {}
    for kind, values in about.items():
        if values:
            frame = pl.DataFrame({kind: sorted(values)}, schema={kind: pl.String})
            found[kind] = set(_hashed(frame, [kind])[kind].to_list())

    def matches(frame: pl.DataFrame) -> pl.Expr:
        conds = [pl.col(k).is_in(pl.Series(sorted(found[k]), dtype=pl.UInt64).implode())
                 for k in frame.columns if found.get(k)]
        return pl.any_horizontal(conds).fill_null(False) if conds else pl.lit(False)

    changed = True
    while changed:
        changed = False
        for key, frame in hashed.values():
            if key == REQUESTS_ENTITY:
                continue
            hit = frame.filter(matches(frame))
            for kind in hit.columns:
                new = set(hit[kind].drop_nulls().to_list()) - found.get(kind, set())
                if new:
                    found.setdefault(kind, set()).update(new)
                    changed = True
    return {i: frame.select(matches(frame).arg_true()).to_series()
            for i, (_, frame) in hashed.items()}


def load_raw_index(landing: Path, quarantine: Path, classification: Classification,
                   until: date | None = None, *, about: Values | None = None) -> RawIndex:
    """The raw zone's identifiers. With `about` (clue kind -> normalised values of the subjects
    at hand), only the rows linked to them: two passes over the raw files in batches, the first
    on 64-bit hashes of the identifiers, so that memory follows the requests and not the book
    (every row of a 1M-contract landing zone is about 1.5 GiB in memory as text)."""
    files = list(raw_files(landing, quarantine, classification, until))
    keep: dict[int, pl.Series] | None = None
    unreadable: set[int] = set()
    if about is not None:
        hashed: dict[int, tuple[tuple[str, str], pl.DataFrame]] = {}
        for i, (where, entity, path) in enumerate(files):
            frame = _read_identity(where, entity, path, hashed=True)
            if frame is None:
                unreadable.add(i)
            elif frame.width:
                hashed[i] = ((entity.system, entity.name), frame)
        keep = _linked_rows(hashed, about)
    parts: dict[tuple[str, str], list[pl.DataFrame]] = {}
    skipped = 0
    for i, (where, entity, path) in enumerate(files):
        rows = None
        if keep is not None and i not in unreadable:
            rows = keep.get(i)
            if rows is None or rows.is_empty():
                continue
        ident = None if i in unreadable else _read_identity(where, entity, path, rows=rows)
        if ident is None:
            skipped += 1
            continue
        if ident.width == 0:
            continue
        parts.setdefault((entity.system, entity.name), []).append(
            ident.with_columns(pl.lit(where).alias("_where")))
    frames = {k: pl.concat(v, how="diagonal_relaxed") for k, v in parts.items()}
    return RawIndex(frames, skipped)


def _row_matches(frame: pl.DataFrame, values: Values) -> pl.Expr:
    conds = [pl.col(k).is_in(sorted(values[k])) for k in frame.columns
             if k in values and values[k]]
    return pl.any_horizontal(conds) if conds else pl.lit(False)


def expand_raw(index: RawIndex, start: Values) -> Values:
    """Add every identifier of every raw row that shares one with the subject, to a fixpoint."""
    found = {k: set(v) for k, v in start.items()}
    changed = True
    while changed:
        changed = False
        for key, frame in index.frames.items():
            if key == REQUESTS_ENTITY:
                continue
            hit = frame.filter(_row_matches(frame, found))
            for kind in (c for c in hit.columns if c in found):
                new = set(hit[kind].drop_nulls().to_list()) - found[kind]
                if new:
                    found[kind] |= new
                    changed = True
    return found


def raw_counts(index: RawIndex, values: Values) -> dict[str, int]:
    """Rows of the subject per raw place, e.g. `landing:policy_admin/contracts`."""
    out: dict[str, int] = {}
    for (system, name), frame in index.frames.items():
        hit = frame.filter(_row_matches(frame.drop("_where"), values))
        for where, n in hit.group_by("_where").len().iter_rows():
            out[f"{where}:{system}/{name}"] = int(n)
    return out


# -- the pseudonym domains ------------------------------------------------------------------


def hash_values(values: Values, keys: DomainKeys, domain: str) -> Values:
    """The pseudonyms of the values in one domain, computed by the pipeline's own engine."""
    out: Values = {k: set() for k in KINDS}
    for kind in KINDS:
        if values.get(kind):
            frame = pl.DataFrame({"v": sorted(values[kind])}, schema={"v": pl.String})
            out[kind] = set(frame.select(pseudonymise(pl.col("v"), keys, domain))
                            .to_series().to_list())
    return out


def pseudo_tables(con: duckdb.DuckDBPyConnection, domain: str) -> dict[str, dict[str, str]]:
    """`schema.table` -> {pseudonym column: kind} for the domain's warehouse tables."""
    # DuckDB's own catalog functions: 4x faster than information_schema on a warehouse with
    # dbt's tables, and request processing asks this hundreds of times per run
    rows = con.execute(
        "select table_name, column_name from duckdb_columns() "
        "where schema_name = ? and database_name = current_database() and table_name in ("
        "select table_name from duckdb_tables() where schema_name = ? "
        "and database_name = current_database()) order by table_name, column_index",
        [f"pseudo_{domain}"] * 2,
    ).fetchall()
    out: dict[str, dict[str, str]] = {}
    for table, column in rows:
        cols = out.setdefault(f"pseudo_{domain}.{table}", {})
        if column in PSEUDONYM_COLUMNS:
            cols[column] = PSEUDONYM_COLUMNS[column]
    return {t: c for t, c in out.items() if c}


def is_requests_table(table: str) -> bool:
    """The subject-request tables (as delivered, and as resolved by rights/processing.py)."""
    return ".dpo__subject_requests" in table


def match_sql(columns: dict[str, str], pseudonyms: Values) -> tuple[str, list[list[str]]]:
    """A WHERE clause true for rows whose pseudonym columns hold one of the subject's values."""
    conds, params = [], []
    for column, kind in columns.items():
        if pseudonyms.get(kind):
            conds.append(f'list_contains(?::varchar[], "{column}")')
            params.append(sorted(pseudonyms[kind]))
    return (" or ".join(conds) if conds else "false"), params


def expand_domain(con: duckdb.DuckDBPyConnection, domain: str, start: Values,
                  tables: dict[str, dict[str, str]] | None = None) -> Values:
    """Add every pseudonym of every domain row that shares one with the subject, to a fixpoint
    (over `tables`, the domain's pseudo_tables when the caller already has them)."""
    found = {k: set(start.get(k, ())) for k in KINDS}
    tables = {t: c for t, c in (tables if tables is not None else pseudo_tables(con, domain)
                                ).items() if not is_requests_table(t)}
    changed = True
    while changed:
        changed = False
        for table, columns in tables.items():
            where, params = match_sql(columns, found)
            if where == "false":
                continue
            cols = ", ".join(f'"{c}"' for c in columns)
            rows = con.execute(f"select distinct {cols} from {table} where {where}",
                               params).fetchall()
            for i, kind in enumerate(columns.values()):
                new = {r[i] for r in rows if r[i] is not None} - found[kind]
                if new:
                    found[kind] |= new
                    changed = True
    return found


def domain_counts(con: duckdb.DuckDBPyConnection, domain: str, pseudonyms: Values,
                  request_ids: Iterable[str] = (),
                  tables: dict[str, dict[str, str]] | None = None) -> dict[str, int]:
    """Rows of the subject per warehouse table of one domain (plus the given requests' rows;
    over `tables`, the domain's pseudo_tables when the caller already has them)."""
    out: dict[str, int] = {}
    ids = sorted(request_ids)
    for table, columns in (tables if tables is not None else pseudo_tables(con, domain)).items():
        where, params = match_sql(columns, pseudonyms)
        if is_requests_table(table) and ids:
            where, params = f"({where}) or list_contains(?::varchar[], request_id)", [*params, ids]
        n = con.execute(f"select count(*) from {table} where {where}", params).fetchall()[0][0]
        if n:
            out[table] = int(n)
    return out


# -- the subject ---------------------------------------------------------------------------


@dataclass
class Subject:
    """Everything found for one subject. Values stay in memory; repr shows counts only."""

    raw: Values = field(default_factory=_empty, repr=False)
    pseudonyms: dict[str, Values] = field(default_factory=dict, repr=False)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def records(self) -> int:
        """Records about the subject, not counting the subject's own requests."""
        return sum(n for place, n in self.counts.items() if "subject_requests" not in place)

    def overlaps(self, other: Subject) -> bool:
        if any(self.raw[k] & other.raw[k] for k in KINDS):
            return True
        return any(self.pseudonyms.get(d, {}).get(k, set()) & other.pseudonyms.get(d, {}).get(
            k, set()) for d in self.pseudonyms for k in KINDS)

    def all_pseudonyms(self) -> set[str]:
        return {p for per in self.pseudonyms.values() for vs in per.values() for p in vs}

    def __repr__(self) -> str:
        return f"Subject(records={self.records}, places={len(self.counts)})"


def resolve(con: duckdb.DuckDBPyConnection | None, index: RawIndex, keys: DomainKeys,
            given_clues: dict[str, str], domains: tuple[str, ...] = DOMAINS,
            tables: dict[str, dict[str, dict[str, str]]] | None = None) -> Subject:
    """Expand the clues over the raw zone, hash in every domain, expand in every domain
    (`tables`: each domain's pseudo_tables, read once by the caller when it resolves often)."""
    if con is not None and tables is None:
        tables = {d: pseudo_tables(con, d) for d in domains}
    start = _empty()
    for kind, value in given_clues.items():
        start[kind].add(value)
    raw = expand_raw(index, start)
    subject = Subject(raw=raw)
    subject.counts.update(raw_counts(index, raw))
    for domain in domains:
        hashed = hash_values(raw, keys, domain)
        if con is not None:
            hashed = expand_domain(con, domain, hashed, tables[domain])
            subject.counts.update(domain_counts(con, domain, hashed, tables=tables[domain]))
        subject.pseudonyms[domain] = hashed
    return subject


class ConflictingIdentifiers(ValueError):
    """The identifiers given lead to different people: nothing is done."""


def resolve_request(con: duckdb.DuckDBPyConnection | None, index: RawIndex, keys: DomainKeys,
                    given_clues: dict[str, str]) -> Subject:
    """Resolve each clue alone, refuse clues that point at different people, and merge.

    Why each alone: a typo in a contract number must not erase somebody else. When two clues
    each find records and those records share nothing, the request is refused.
    """
    # the catalogue once per request, not per clue and step: nothing here creates a table, and
    # at 1M contracts each lookup is one of thousands of catalogue reads a run would make
    tables = None if con is None else {d: pseudo_tables(con, d) for d in DOMAINS}
    alone = {k: resolve(con, index, keys, {k: v}, tables=tables) for k, v in given_clues.items()}
    if len(alone) == 1:  # one clue: resolving it "with the others" is the same computation
        return next(iter(alone.values()))
    found = [s for s in alone.values() if s.records]
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            if not a.overlaps(b):
                raise ConflictingIdentifiers("the identifiers given match different subjects")
    return resolve(con, index, keys, given_clues, tables=tables)

"""Keyed fingerprints of the raw identifier values of each delivery, written at ingest for the
publication gate.

Why: the gate must know which raw values were delivered, to find them in the marts whatever
they look like. Re-reading every landing file at the gate and holding the values in memory cost
3.3 GB at 1M contracts. Instead the ingest, which reads each row anyway, writes a *fingerprint*
of each candidate (transforms/privacy/raw_values.py: which values count, folded as the gate
folds them) into `gate_fingerprints.<system>__<entity>`, and the gate fingerprints the folded
text of the marts the same way and joins in DuckDB, which spills to disk under its memory limit.

A fingerprint is HMAC-SHA-256 under the gate's own key (HKDF domain "gate-fingerprint" of the
master key, transforms/privacy/keys.py), truncated to 128 bits, of the fold's UTF-8 bytes, with the
fold's length in characters (the gate needs the lengths to cut its substrings). It is not a
pseudonym of any purpose (another key) and cannot be reversed without the master key; the table
holds no value, only these hashes, the length, the delivery date and the key version.

The 128 bits are stored as four unsigned 32-bit integers (`fingerprint_1` to `fingerprint_4`:
the hash's hex digits 1-8, 9-16, 17-24 and 25-32), not as 32 hex characters: at 1M contracts
these tables hold 16M rows, and as text they were most of the bytes the ingest inserted, the
compaction copied and the gate and erasures joined on (an 11M-row insert: 5.6 s as text,
1.8 s as integers). Why 32-bit words and not two 64-bit ones: a scanner that reads every cell
as text and looks for delivered values inside it would find, by chance, national phone numbers
(10-12 digits) inside 20-digit decimals; a 32-bit word has at most 10 digits and never a leading
zero. `upgrade_tables` converts tables written as text.

Rows go through the delivery's writer (transforms/ingest/load.py): replaced with the delivery, in
the delivery's transaction, all or nothing; a different key version is refused as for pseudonyms.

Each row also counts its `occurrences` (how many candidates of the batch's raw rows hash to it),
so that an erasure can take the removed rows' fingerprints away by subtraction
(`remove_rows`) instead of fingerprinting every kept row of a rewritten full extract again:
at 1M contracts that re-fingerprinting was 50 s and 1.7 GB of the erasure's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import duckdb
import polars as pl
import polars_hash  # noqa: F401  (registers the `chash` expression namespace)

from transforms.classification import Entity
from transforms.ingest.load import DeliveryWriter
from transforms.ingest.minimise import DELIVERY_COLUMN, KEY_VERSION_COLUMN
from transforms.privacy.keys import FINGERPRINT_DOMAIN, DomainKeys
from transforms.privacy.raw_values import Scope, candidates

SCHEMA = "gate_fingerprints"
FINGERPRINT_HEX = 32  # 128 bits: no chance collision among billions of values
FINGERPRINT = ("fingerprint_1", "fingerprint_2", "fingerprint_3", "fingerprint_4")  # 4 x 32 bits
SLICE_ROWS = 50_000  # raw rows fingerprinted at a time
OCCURRENCES = "occurrences"
PRINT_SCHEMA = {**dict.fromkeys(FINGERPRINT, pl.UInt32), "chars": pl.Int32}
COUNTED_SCHEMA = {**PRINT_SCHEMA, OCCURRENCES: pl.Int64}
LEGACY = "fingerprint"  # the hex text column of tables written before the integers
LEFT = "_fingerprints_left"  # remove_rows' temporary table: (fingerprint, chars, occurrences)


def table_name(entity: Entity) -> str:
    return f"{SCHEMA}.{entity.system}__{entity.name}"


def with_fingerprint(frame: pl.DataFrame, text: str, key_hex: str) -> pl.DataFrame:
    """`frame` with the fingerprint of its folded-text column `text` (`fingerprint_1` to
    `fingerprint_4`: the first 128 bits of its HMAC-SHA-256, as four unsigned 32-bit words)."""
    hexed = "_fingerprint_hex"
    return (
        frame.with_columns(pl.col(text).chash.hmac_sha256(key=key_hex).alias(hexed))
        .with_columns(pl.col(hexed).str.slice(8 * i, 8).str.to_integer(base=16, dtype=pl.UInt32)
                      .alias(name) for i, name in enumerate(FINGERPRINT))
        .drop(hexed)
    )


def folded_counts(batch: pl.DataFrame, entity: Entity) -> pl.DataFrame:
    """(folded, occurrences): the folds of a batch of raw rows' candidates that the gate looks
    for (Scope.ANYWHERE; single name parts are not looked for in marts), each with how many
    candidates of the batch fold to it. Raw values: never leaves the caller's memory."""
    query, _ = candidates(batch.lazy(), entity)
    if query is None:
        return pl.DataFrame(schema={"folded": pl.String, OCCURRENCES: pl.Int64})
    return (
        query.filter(pl.col("scope") == str(Scope.ANYWHERE))
        .group_by("folded")
        .agg(pl.len().cast(pl.Int64).alias(OCCURRENCES))
        .collect()
    )


def _hashed(folds: pl.DataFrame, key_hex: str) -> pl.DataFrame:
    """(fingerprint_1..4, chars, occurrences) of (folded, occurrences) rows with
    distinct folds: each fold is hashed once (the raw and normalised forms of a value mostly
    fold alike, so about half the candidates are repeats)."""
    return with_fingerprint(folds, "folded", key_hex).select(
        *FINGERPRINT, chars=pl.col("folded").str.len_chars().cast(pl.Int32),
        occurrences=pl.col(OCCURRENCES))


def fingerprint_counts(batch: pl.DataFrame, entity: Entity, key_hex: str) -> pl.DataFrame:
    """(fingerprint_1..4, chars, occurrences): the fingerprints of a batch of raw
    rows' candidates that the gate looks for, each with how many candidates of the batch hash to
    it."""
    return _hashed(folded_counts(batch, entity), key_hex)


def fingerprint_frame(batch: pl.DataFrame, entity: Entity, key_hex: str) -> pl.DataFrame:
    """(fingerprint_1..4, chars): the distinct fingerprints of
    `fingerprint_counts`."""
    return fingerprint_counts(batch, entity, key_hex).select(*FINGERPRINT, "chars")


def record(writer: DeliveryWriter, entity: Entity, batch: pl.DataFrame,
           keys: DomainKeys) -> None:
    """Add the fingerprints of one batch of the delivery's raw rows (all rows, quarantined ones
    too: a refused row's values were delivered all the same).

    Each batch also adds a marker row (empty fingerprint, 0 characters: it matches nothing), so
    that `unaccounted` can tell a delivery fingerprinted with no candidate from one loaded
    without fingerprints (a warehouse built before they existed).
    """
    writer.append(table_name(entity), _rows(batch, entity, keys, writer.delivery_date))


def delivery_rows(batch: pl.DataFrame, entity: Entity, keys: DomainKeys,
                  delivery_date: date) -> pl.DataFrame:
    """The rows `record` adds for a batch, for a writer other than DuckDB's (the Spark ingest,
    transforms/ingest/spark_load.py, writes them as its delivery's Parquet partition)."""
    return _rows(batch, entity, keys, delivery_date)


def _counts(batch: pl.DataFrame, entity: Entity, keys: DomainKeys) -> pl.DataFrame:
    """`fingerprint_counts` of a batch, in slices: each row makes a dozen forms, so a whole
    ingest batch at once would add about 0.45 GiB to the ingest's peak at 1M contracts
    (measured with bench/peak_rss.py)."""
    key = keys.hmac_key(FINGERPRINT_DOMAIN)
    parts = [folded_counts(part, entity) for part in batch.iter_slices(SLICE_ROWS)]
    if len(parts) > 1:  # the slices' folds merged first: each distinct fold is hashed once
        folds = pl.concat(parts).group_by("folded").agg(pl.col(OCCURRENCES).sum())
    else:  # one slice, or none: an empty batch, counted as such
        folds = parts[0] if parts else folded_counts(batch, entity)
    return _hashed(folds, key)


def _rows(batch: pl.DataFrame, entity: Entity, keys: DomainKeys,
          delivery_date: date) -> pl.DataFrame:
    """The table rows for a batch: its fingerprints with their counts, and the marker row."""
    prints = _counts(batch, entity, keys)
    marker = pl.DataFrame({**{w: [0] for w in FINGERPRINT}, "chars": [0], OCCURRENCES: [0]},
                          schema=prints.schema)
    return pl.concat([marker, prints]).with_columns(
        pl.lit(delivery_date).alias(DELIVERY_COLUMN),
        pl.lit(keys.key_version).alias(KEY_VERSION_COLUMN),
    )


def _exists(con: duckdb.DuckDBPyConnection, entity: Entity) -> bool:
    return bool(con.execute("select count(*) from duckdb_tables() where schema_name = ? and "
                            "table_name = ? and database_name = current_database()",
                            [SCHEMA, f"{entity.system}__{entity.name}"]).fetchall()[0][0])


def upgrade_tables(con: duckdb.DuckDBPyConnection) -> int:
    """Bring fingerprint tables written by earlier versions to today's columns, in today's
    order (the ingest appends by position): the hex `fingerprint` becomes `fingerprint_1` to
    `fingerprint_4` (the same 128 bits; the marker rows' empty text, zeros), and a table
    without `occurrences` gets it as NULL (`remove_rows` then declines for those deliveries,
    which are fingerprinted again whole). Also applied to the Spark warehouse's working copies,
    whose Parquet partitions of two versions read as one table with both columns. Returns the
    tables changed."""
    tables = {}
    for table, column in con.execute(
            "select table_name, column_name from duckdb_columns() where schema_name = ? "
            "and database_name = current_database() order by table_name, column_index",
            [SCHEMA]).fetchall():
        tables.setdefault(table, []).append(column)
    target = [*FINGERPRINT, "chars", OCCURRENCES, DELIVERY_COLUMN, KEY_VERSION_COLUMN]
    changed = 0
    for table, columns in tables.items():
        if columns == target:
            continue
        occurrences = OCCURRENCES if OCCURRENCES in columns else f"null::bigint as {OCCURRENCES}"
        words = ", ".join(_word(w, 1 + 8 * i, columns) for i, w in enumerate(FINGERPRINT))
        select = (f"{words}, chars::integer as chars, {occurrences}, {DELIVERY_COLUMN}, "
                  f"{KEY_VERSION_COLUMN}")
        name = f'"{SCHEMA}"."{table}"'
        con.execute(f'create or replace table "{SCHEMA}"."{table}__upgraded" as '
                    f"select {select} from {name}")
        con.execute(f"drop table {name}")
        con.execute(f'alter table "{SCHEMA}"."{table}__upgraded" rename to "{table}"')
        changed += 1
    return changed


def _word(name: str, start: int, present: list[str]) -> str:
    """SQL for one 32-bit word of the fingerprint in `upgrade_tables`: the column itself, or
    read from the legacy hex text (its 8 digits from `start`), or the first where it is NULL
    (a Spark table of partitions of both versions)."""
    legacy = (f"case when {LEGACY} = '' then 0 else "
              f"('0x' || substr({LEGACY}, {start}, 8))::uinteger end")
    if name in present and LEGACY in present:
        return f"coalesce({name}, {legacy}) as {name}"
    return name if name in present else f"{legacy} as {name}"


def _columns(alias: str = "") -> str:
    """The fingerprint's words and its length, as SQL columns (of `alias`)."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(f"{prefix}{c}" for c in (*FINGERPRINT, "chars"))


def _same(left: str, right: str) -> str:
    """SQL: rows `left` and `right` hold the same fingerprint and length."""
    return " and ".join(f"{left}.{c} = {right}.{c}" for c in (*FINGERPRINT, "chars"))


def recount_delete_sql(table: str) -> str:
    """remove_rows' delete of a delivery's fingerprints that LEFT recounts (parameter: the
    delivery date). Written so that DuckDB plans a semi join of the table with LEFT: with the
    length compared a second time (`and l.chars = t.chars`, as it was), it planned a dependent
    subquery instead, a DISTINCT of every fingerprint of the table, which ran the rights step
    out of its 512MB at 3M contracts and took 10-12 s a file (0.5-1 s as a semi join)."""
    return (f"delete from {table} where {DELIVERY_COLUMN} = ? and exists "
            f"(select 1 from {LEFT} l where {_same('l', table)})")


def remove_rows(con: duckdb.DuckDBPyConnection, entity: Entity, delivery_date: date,
                removed: pl.DataFrame, keys: DomainKeys) -> bool:
    """Take the fingerprints of rows removed from a delivery's file away from its table by
    subtracting their counts (caller's transaction); a fingerprint whose count reaches 0 goes.
    Returns False, having changed nothing, where subtraction cannot be trusted (a delivery
    counted under another key version or before counts existed, or counts that would go
    negative: the table and the file disagree); the caller then fingerprints the rewritten file
    whole (`replace_delivery`).

    Why it is exact: a delivery's count of a fingerprint is the number of its raw rows'
    candidates that hash to it, summed over the ingest's batches; the removed rows contribute
    exactly their own candidates, so what is left is what fingerprinting the kept rows would
    give. Marker rows (empty fingerprint) are never touched.
    """
    table = table_name(entity)
    columns = {c for (c,) in con.execute(
        "select column_name from duckdb_columns() where schema_name = ? and table_name = ? "
        "and database_name = current_database()",
        [SCHEMA, f"{entity.system}__{entity.name}"]).fetchall()}
    if not columns:
        return True  # no table: a warehouse from before fingerprints, the gate refuses it anyway
    if OCCURRENCES not in columns:
        return False
    uncounted = con.execute(
        f"select count(*) from {table} where {DELIVERY_COLUMN} = ? "
        f"and ({OCCURRENCES} is null or {KEY_VERSION_COLUMN} <> ?)",
        [delivery_date, keys.key_version]).fetchall()[0][0]
    if uncounted:
        return False
    gone = _counts(removed, entity, keys) if removed.height else pl.DataFrame(
        schema=COUNTED_SCHEMA)
    if gone.height == 0:
        return True
    con.register("_removed_fingerprints", gone.to_arrow())
    try:
        con.execute(
            f"create or replace temp table {LEFT} as select {_columns('g')}, "
            f"coalesce(sum(f.{OCCURRENCES}), 0) - any_value(g.{OCCURRENCES}) as {OCCURRENCES} "
            f"from (select {_columns()}, sum({OCCURRENCES}) as {OCCURRENCES} "
            "from _removed_fingerprints group by all) g "
            f"left join {table} f on {_same('f', 'g')} "
            f"and f.{DELIVERY_COLUMN} = ? group by all", [delivery_date])
    finally:
        con.unregister("_removed_fingerprints")
    if con.execute(f"select count(*) from {LEFT} where {OCCURRENCES} < 0").fetchall()[0][0]:
        con.execute(f"drop table if exists {LEFT}")
        return False
    con.execute(recount_delete_sql(table), [delivery_date])
    con.execute(f"insert into {table} ({_columns()}, {OCCURRENCES}, {DELIVERY_COLUMN}, "
                f"{KEY_VERSION_COLUMN}) select {_columns()}, {OCCURRENCES}, ?, ? "
                f"from {LEFT} where {OCCURRENCES} > 0", [delivery_date, keys.key_version])
    # not in a `finally`: after a failed statement the transaction is aborted, the drop would
    # fail too and hide the cause (the caller's rollback drops the temporary table)
    con.execute(f"drop table if exists {LEFT}")
    return True


def replace_delivery(con: duckdb.DuckDBPyConnection, entity: Entity, delivery_date: date,
                     raw: pl.DataFrame | Iterable[pl.DataFrame], keys: DomainKeys) -> None:
    """Fingerprint one delivery file again from its rewritten raw rows (caller's transaction).

    Why: an erasure (or the sweep of an erased subject's redelivered rows) rewrites the raw
    files without the subject's rows. The fingerprints of those rows are keyed hashes of the
    subject's identifiers: personal data, which must go with the rows. Deleting the subject's
    own fingerprints would be wrong where another person shares a value (a name), so the
    delivery's fingerprints are recomputed from what the file still holds. `raw` may come in
    batches (a rewritten full extract is not held whole): one marker row per batch, as at ingest.
    """
    if not _exists(con, entity):
        return  # a warehouse from before fingerprints: the gate refuses it anyway
    con.execute(f"delete from {table_name(entity)} where {DELIVERY_COLUMN} = ?",
                [delivery_date])
    for batch in [raw] if isinstance(raw, pl.DataFrame) else raw:
        frame = _rows(batch, entity, keys, delivery_date).to_arrow()
        con.register("_replacement_fingerprints", frame)
        try:
            con.execute(f"insert into {table_name(entity)} by name "
                        "select * from _replacement_fingerprints")
        finally:
            con.unregister("_replacement_fingerprints")


def unaccounted(con: duckdb.DuckDBPyConnection) -> int:
    """Loaded deliveries (audit.deliveries) of which no fingerprint was recorded: the gate
    refuses to run on such a warehouse rather than look for fewer values than were delivered."""
    tables = {t for (t,) in con.execute(
        "select table_name from duckdb_tables() where schema_name = ? "
        "and database_name = current_database()", [SCHEMA]).fetchall()}
    if not con.execute("select count(*) from duckdb_tables() where schema_name = 'audit' "
                       "and table_name = 'deliveries' and database_name = current_database()"
                       ).fetchall()[0][0]:
        return 0
    missing = 0
    for system, entity, day in con.execute(
            "select distinct system, entity, delivery_date from audit.deliveries "
            "where rows_read > 0").fetchall():  # an empty file delivered no value
        name = f"{system}__{entity}"
        if name not in tables or not con.execute(
                f'select count(*) from "{SCHEMA}"."{name}" where chars = 0 '
                f"and {DELIVERY_COLUMN} = ?", [day]).fetchall()[0][0]:
            missing += 1
    return missing

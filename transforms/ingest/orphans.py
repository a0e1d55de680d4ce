"""Child rows whose parent is quarantined or missing: quarantined with their own reason.

Why: a claim transaction whose claim row was quarantined (or never delivered) joins nothing in
dbt, so it vanished from every mart and from every count (seed 42: 26 transactions of 6 claims,
2,572.91 paid). A row the pipeline does not use must be accounted for: it goes to the quarantine
with the reason `orphan:<column>` (e.g. `orphan:claim_number`), is counted in
`audit.quarantine` and the run summary, and the reconciliation can account for every amount.

The links come from the classification (the one source of truth), not from a list here: a
column of an entity is a link to a parent when another entity of the same system has that
column, alone, as its key (claims/claim_transactions.claim_number -> claims/claims). Same system
because parent and child arrive in the same delivery; the ingest loads parents first.

A parent is known when its key was accepted in the same delivery (the file loaded just before)
or is in the warehouse from an earlier delivery (looked up by its pseudonym, computed here in
memory; no raw value is written anywhere). Rows of erased subjects are left to the erasure
hook (transforms/ingest/suppression.py), which drops them uncounted as orphans.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import polars as pl

from transforms.classification import Classification, Entity
from transforms.ingest.suppression import Suppression, suppressed_mask
from transforms.ingest.validation import ROW_INDEX
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise

REASON = "orphan:{column}"


@dataclass(frozen=True)
class ParentLink:
    """`child.column` must name an accepted row of `parent` (keyed by that column alone)."""

    child: Entity
    column: str
    parent: Entity

    @property
    def reason(self) -> str:
        return REASON.format(column=self.column)

    def warehouse_lookup(self) -> tuple[str, str, str] | None:
        """(purpose, parent table, pseudonym column) where parents already loaded are found."""
        col = self.parent.column(self.column)
        for t in col.treatments:
            if t.verb == "hash":
                return t.purpose, self.parent.table_name(t.purpose), t.output
        return None


def parent_links(entity: Entity, classification: Classification) -> list[ParentLink]:
    """The entity's links to parents of the same system, from the classification's keys."""
    links = []
    for other in classification.entities_of(entity.system):
        if other.name == entity.name or len(other.key) != 1:
            continue
        column = other.key[0]
        if column in entity.column_names and column not in entity.key:
            links.append(ParentLink(entity, column, other))
    return links


def is_parent(entity: Entity, classification: Classification) -> bool:
    """Whether another entity of the system links to this one (its accepted keys are then
    collected while a delivery loads)."""
    return any(link.parent.name == entity.name
               for other in classification.entities_of(entity.system)
               for link in parent_links(other, classification))


def parents_first(entities: list[Entity], classification: Classification) -> list[Entity]:
    """Order a delivery's entities so that every parent is loaded before its children."""
    ordered: list[Entity] = []
    pending = list(entities)
    while pending:
        for e in pending:
            parents = {link.parent.name for link in parent_links(e, classification)}
            if not parents & {p.name for p in pending if p is not e}:
                ordered.append(e)
                pending.remove(e)
                break
        else:  # a cycle: keep the given order for the rest
            ordered.extend(pending)
            break
    return ordered


def _known_in_warehouse(con: duckdb.DuckDBPyConnection, link: ParentLink, values: list[str],
                        keys: DomainKeys) -> set[str]:
    lookup = link.warehouse_lookup()
    if lookup is None or not values:
        return set()
    purpose, table, output = lookup
    schema, name = table.split(".", 1)
    exists = con.execute("select count(*) from information_schema.tables "
                         "where table_schema = ? and table_name = ?", [schema, name]
                         ).fetchall()[0][0]
    if not exists:
        return set()
    frame = pl.DataFrame({"value": values}, schema={"value": pl.String}).with_columns(
        pseudonymise(pl.col("value"), keys, purpose).alias("pseudonym"))
    con.register("_orphan_candidates", frame.to_arrow())
    try:
        rows = con.execute(f'select c.value from _orphan_candidates c where exists (select 1 '
                           f'from {table} t where t."{output}" = c.pseudonym)').fetchall()
    finally:
        con.unregister("_orphan_candidates")
    return {r[0] for r in rows}


def orphan_mask(clean: pl.DataFrame, link: ParentLink, delivered: set[str],
                con: duckdb.DuckDBPyConnection, keys: DomainKeys) -> pl.Series:
    """True for the accepted rows whose parent is neither in `delivered` (accepted in this
    delivery) nor in the warehouse."""
    values = clean[link.column]
    candidates = set(values.drop_nulls().to_list()) - delivered
    # the parents neither delivered nor known: a few values, where the set of those delivered
    # holds a whole extract's keys (sorting and matching that per batch was 8 s of a 1M ingest)
    missing = candidates - _known_in_warehouse(con, link, sorted(candidates), keys)
    return values.is_in(sorted(missing)).fill_null(False).alias("orphan")


def quarantine_orphans(result, raw: pl.DataFrame, links: list[ParentLink],
                       delivered: dict[str, set[str]], con: duckdb.DuckDBPyConnection,
                       keys: DomainKeys, suppression: Suppression) -> int:
    """The ingest hook: move accepted rows without a parent to the quarantine of the batch.

    `result` is the batch's transforms.ingest.validation.ValidationResult (before the erasure hook),
    `raw` the batch as read (with its row index): the quarantine keeps raw rows, like every
    other reason. `delivered` maps a parent entity's name to the keys accepted for it in this
    delivery. Returns the number of rows moved.
    """
    if not links or result.clean.height == 0:
        return 0
    entity = links[0].child
    accepted_raw = raw.filter(~pl.col(ROW_INDEX).is_in(result.quarantine[ROW_INDEX].implode()))
    mask = pl.Series("orphan", [False] * result.clean.height, dtype=pl.Boolean)
    reasons = pl.Series("_reasons", [None] * result.clean.height, dtype=pl.String)
    for link in links:
        hit = orphan_mask(result.clean, link, delivered.get(link.parent.name, set()), con, keys)
        reasons = pl.select(pl.when(hit & reasons.is_null()).then(pl.lit(link.reason))
                            .when(hit).then(reasons + ";" + link.reason)
                            .otherwise(reasons)).to_series()
        mask = mask | hit
    if suppression and mask.any():  # an erased subject's rows: the erasure hook drops them
        mask = mask & ~suppressed_mask(result.clean, entity, suppression, keys)
    moved = int(mask.sum())
    if not moved:
        return 0
    orphans = accepted_raw.filter(mask).with_columns(reasons.filter(mask).alias("_reasons"))
    result.quarantine = pl.concat([result.quarantine, orphans.select(result.quarantine.columns)],
                                  how="vertical_relaxed")
    result.clean = result.clean.filter(~mask)
    for reason, n in orphans["_reasons"].value_counts().iter_rows():
        for part in reason.split(";"):
            result.reason_counts[part] = result.reason_counts.get(part, 0) + int(n)
    return moved

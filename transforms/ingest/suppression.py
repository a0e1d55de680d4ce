"""The erasure suppression list: the one trace an erased subject leaves, and the ingest hook
that uses it.

Why a trace at all: the source systems do not act on requests (docs/source-contract.md); they
keep sending an erased subject's contracts, claims and consent changes. Without a memory of who
was erased, the next delivery would bring the subject straight back. The list is the minimum
that prevents this:

* only pseudonyms, in the `dpo` domain: HMAC-SHA-256 under the DPO's own domain key, so they
  cannot be joined to any actuarial or marketing table or mart (other keys), and cannot be
  reversed or tested without the master key;
* only the identifiers a redelivered row carries: the person, contract, customer, claim and
  quote numbers; no date, no request id, no reason, nothing else about the subject;
* kept in the warehouse (`rights.erasure_suppression`) beside the audit tables, never
  published, never in a mart.

The ingest hook (`drop_erased_subjects`, called from transforms/ingest/run.py) drops matching rows
of a delivery before they are minimised and counts them under the reason `erased_subject`; they
are neither loaded nor written to the quarantine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import duckdb
import polars as pl

from transforms.classification import Entity
from transforms.privacy.identity import PERSON, identity_exprs
from transforms.privacy.keys import DomainKeys
from transforms.privacy.pseudonymise import pseudonymise

TABLE = "rights.erasure_suppression"
DOMAIN = "dpo"
REASON = "erased_subject"
# What a redelivered row carries that identifies the subject (transactions: their claim).
KINDS = (PERSON, "contract_number", "customer_number", "claim_number", "quote_number")
DDL = (
    "create schema if not exists rights",
    f"""create table if not exists {TABLE} (
        kind varchar not null, pseudonym varchar not null, key_version varchar not null,
        added_on date not null)""",
)


@dataclass(frozen=True)
class Suppression:
    """The erased subjects' dpo-domain pseudonyms, per kind. repr shows counts only."""

    pseudonyms: dict[str, frozenset[str]] = field(default_factory=dict, repr=False)
    stale: int = 0  # entries made with another key version (cannot be matched)

    def __bool__(self) -> bool:
        return any(self.pseudonyms.values())

    def __len__(self) -> int:
        return sum(len(v) for v in self.pseudonyms.values())

    def union(self, extra: dict[str, set[str]]) -> Suppression:
        merged = {k: frozenset(self.pseudonyms.get(k, frozenset()) | extra.get(k, set()))
                  for k in KINDS}
        return Suppression(merged, self.stale)


def ensure_table(con: duckdb.DuckDBPyConnection) -> None:
    for ddl in DDL:
        con.execute(ddl)


def _exists(con: duckdb.DuckDBPyConnection) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables "
        "where table_schema = 'rights' and table_name = 'erasure_suppression'").fetchall()[0][0])


def load_suppression(con: duckdb.DuckDBPyConnection, keys: DomainKeys) -> Suppression:
    """The list for the current key version (empty when nobody was erased)."""
    if not _exists(con):
        return Suppression()
    rows = con.execute(f"select kind, pseudonym, key_version from {TABLE}").fetchall()
    per: dict[str, set[str]] = {k: set() for k in KINDS}
    stale = 0
    for kind, pseudonym, version in rows:
        if version != keys.key_version:
            stale += 1
        elif kind in per:
            per[kind].add(pseudonym)
    return Suppression({k: frozenset(v) for k, v in per.items()}, stale)


def add_entries(con: duckdb.DuckDBPyConnection, pseudonyms: dict[str, set[str]],
                keys: DomainKeys, added_on: date) -> int:
    """Add dpo-domain pseudonyms (inside the caller's transaction); returns entries added."""
    ensure_table(con)
    rows = [(k, p) for k in KINDS for p in sorted(pseudonyms.get(k, ()))]
    if not rows:
        return 0
    frame = pl.DataFrame(rows, schema={"kind": pl.String, "pseudonym": pl.String}, orient="row")
    con.register("_suppress", frame.to_arrow())
    try:
        before = con.execute(f"select count(*) from {TABLE}").fetchall()[0][0]
        con.execute(
            f"insert into {TABLE} select s.kind, s.pseudonym, ?, ? from _suppress s "
            f"where not exists (select 1 from {TABLE} t where t.kind = s.kind "
            "and t.pseudonym = s.pseudonym and t.key_version = ?)",
            [keys.key_version, added_on, keys.key_version],
        )
        return con.execute(f"select count(*) from {TABLE}").fetchall()[0][0] - before
    finally:
        con.unregister("_suppress")


def suppressed_mask(frame: pl.DataFrame, entity: Entity, suppression: Suppression,
                    keys: DomainKeys) -> pl.Series:
    """True for the rows of `frame` (raw or validated) that belong to an erased subject."""
    if not suppression or frame.height == 0:
        return pl.Series("suppressed", [False] * frame.height, dtype=pl.Boolean)
    conds = [
        pseudonymise(expr, keys, DOMAIN).is_in(sorted(suppression.pseudonyms[kind]))
        for kind, expr in identity_exprs(frame, entity).items()
        if kind in KINDS and suppression.pseudonyms.get(kind)
    ]
    if not conds:
        return pl.Series("suppressed", [False] * frame.height, dtype=pl.Boolean)
    return frame.select(pl.any_horizontal(conds).fill_null(False).alias("suppressed")).to_series()


def drop_erased_subjects(result, entity: Entity, suppression: Suppression,
                         keys: DomainKeys) -> int:
    """The ingest hook: take erased subjects' rows out of a validated batch.

    `result` is a transforms.ingest.validation.ValidationResult; its accepted rows (`clean`) and its
    quarantine lose the matching rows, and `reason_counts['erased_subject']` counts them.
    Returns the number of rows dropped (the caller counts them as not loaded).
    """
    if not suppression:
        return 0
    keep_clean = ~suppressed_mask(result.clean, entity, suppression, keys)
    keep_quarantine = ~suppressed_mask(result.quarantine, entity, suppression, keys)
    dropped = int((~keep_clean).sum() + (~keep_quarantine).sum())
    if dropped:
        result.clean = result.clean.filter(keep_clean)
        result.quarantine = result.quarantine.filter(keep_quarantine)
        result.reason_counts[REASON] = result.reason_counts.get(REASON, 0) + dropped
    return dropped

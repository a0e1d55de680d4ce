"""The publication gate: every mart of the classification, every rule, through Great Expectations.

Why one entry point: the DAG calls `run_gate` between dbt and publish, and nothing is published
unless it returns `passed`. Results, the JSON summary, log lines and `GateFailed` name the rule,
the table, the column and a count, never a value (see expectations/findings.py).

Great Expectations is imported only when the gate runs (it takes seconds to import), so that
importing this package from a DAG file stays cheap.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl
import pyarrow as pa

from expectations.disclosure import Risk, histogram
from expectations.disclosure_rules import (
    ledger_shares,
    rule_counts,
    unpooled_categories,
    warehouse_risk,
)
from expectations.findings import RULE_TEXT, Check, Finding, Rule
from expectations.known_values import KnownValues
from expectations.pseudonyms import PseudonymMatcher, matcher
from expectations.scan import (
    KEY_VERSION_COLUMN,
    Observed,
    combine,
    identifier_like_names,
    observe,
    scan_counts,
)
from transforms import settings
from transforms.checksums import quote_identifier
from transforms.classification import Classification, Mart
from transforms.classification import load as load_classification
from transforms.ingest.load import table_exists

if TYPE_CHECKING:
    import pandas as pd

    from expectations.gx_project import GxProject

log = logging.getLogger(__name__)

SUMMARY_FILE = "gate-summary.json"
DATA_DOCS_SITE = Path("uncommitted") / "data_docs" / "local_site"  # GX's file-mode site


@dataclass
class GateResult:
    """What the gate decided, with counts only. `report_files()` is what publish copies."""

    passed: bool
    findings: list[Finding]
    checks: list[Check] = field(default_factory=list)
    tables: dict[str, dict[str, object]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    min_cell_size: int = 10
    run_name: str = ""
    seconds: float = 0.0
    data_docs: Path | None = None
    summary_path: Path | None = None

    def summary(self) -> str:
        verdict = "PASSED" if self.passed else "FAILED"
        lines = [
            f"Publication gate {verdict}: {len(self.findings)} finding(s) over "
            f"{len(self.tables)} mart(s), {len(self.checks)} checks, {self.seconds:.1f} s"
        ]
        lines += [f"  - {f.describe()}" for f in self.findings]
        if self.skipped:
            lines.append(f"  rules not run (no input given): {', '.join(self.skipped)}")
        if self.data_docs:
            lines.append(f"  Data Docs: {self.data_docs}")
        return "\n".join(lines)

    def as_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            "run": self.run_name,
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "seconds": round(self.seconds, 3),
            "min_cell_size": self.min_cell_size,
            "skipped_rules": self.skipped,
            "rules": {str(r): text for r, text in RULE_TEXT.items()},
            "tables": self.tables,
            "findings": [f.as_dict() for f in self.findings],
            "checks": [c.as_dict() for c in self.checks],
        }

    def report_files(self) -> dict[str, Path]:
        """Files for the publication's reports/ folder: {name in reports/: source path}."""
        return report_files(self.summary_path.parent) if self.summary_path else {}

    def raise_for_failure(self) -> None:
        if not self.passed:
            raise GateFailed(self)


def report_files(gx_root: Path) -> dict[str, Path]:
    """The last gate run's summary and Data Docs under gx_root, as `publish(reports=...)` wants
    them: for a publish task that runs apart from the gate task (nothing passes through XCom).
    """
    files: dict[str, Path] = {}
    if (Path(gx_root) / SUMMARY_FILE).is_file():
        files[SUMMARY_FILE] = Path(gx_root) / SUMMARY_FILE
    if (Path(gx_root) / DATA_DOCS_SITE / "index.html").is_file():
        files["data-docs"] = Path(gx_root) / DATA_DOCS_SITE
    return files


class GateFailed(RuntimeError):
    """Publication blocked. The message lists rule, table, column and count per finding."""

    def __init__(self, result: GateResult) -> None:
        super().__init__(result.summary())
        self.result = result


def _measurable(mart: Mart, present: list[str]) -> bool:
    """Whether every column the disclosure rule reads is there (else column_set fails)."""
    rule = mart.disclosure
    if rule is None:
        return False
    needed = {*rule.quasi_identifiers, *rule.order_by,
              *(c for c in (rule.unit_key, rule.count_column) if c)}
    return needed <= set(present)


def _redaction(names: list[str], known: KnownValues | None, mart: Mart) -> dict[str, str]:
    """Column name -> the positional name it is reported under, for names that are
    identifiers themselves (see identifier_like_names)."""
    bad = identifier_like_names(names, known, mart.column_names)
    return {n: f"redacted_column_{i}" for i, n in enumerate(names) if n in bad}


def _hand_to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """GX's pandas copy of a batch of the mart (Arrow-backed columns), made column by column
    while each polars column is dropped from `frame` (emptied: the caller hands the batch over
    and keeps no reference), so that the two copies are never held at once: at 1M contracts, a
    whole-frame conversion of the largest mart added 0.6 GiB to the gate's peak, this 0.1."""
    import pandas as pd

    columns = {name: frame.drop_in_place(name).to_pandas(use_pyarrow_extension_array=True)
               for name in list(frame.columns)}
    return pd.DataFrame(columns, copy=False)


def _quoted_table(name: str) -> str:
    schema, table = name.split(".", 1)
    return f"{quote_identifier(schema)}.{quote_identifier(table)}"


@dataclass
class _MartRead:
    """What the gate learns from reading one mart batch by batch (counts, never rows)."""

    rows: int = 0
    columns: list[str] = field(default_factory=list)
    redacted: int = 0  # column names that are identifiers, reported by position
    observed: Observed | None = None
    checks: list[list[Check]] = field(default_factory=list)  # GX checks, one list per part
    unpooled: dict[str, int] = field(default_factory=dict)
    key_versions: set[str] = field(default_factory=set)
    risk: Risk | None = None


def _batches(con: duckdb.DuckDBPyConnection, table: str, rows: int) -> Iterator[pl.DataFrame]:
    """The table's rows, `rows` at a time (the last batch fewer; at least one frame, empty for
    an empty table): Arrow batches as DuckDB streams them, gathered up to `rows`, so that the
    number of parts is the one announced (ceil(rows in the table / rows))."""
    reader = con.sql(f"select * from {table}").to_arrow_reader(rows)
    pending: list[pa.RecordBatch] = []
    held = 0
    yielded = False
    for batch in reader:
        while batch.num_rows:
            take = batch.slice(0, rows - held)
            pending.append(take)
            held += take.num_rows
            batch = batch.slice(take.num_rows)
            if held == rows:
                yield pl.from_arrow(pa.Table.from_batches(pending))  # type: ignore[misc]
                pending, held, yielded = [], 0, True
    if pending:
        yield pl.from_arrow(pa.Table.from_batches(pending))  # type: ignore[misc]
    elif not yielded:
        yield con.sql(f"select * from {table} limit 0").pl()


def _read_mart(project: GxProject, mart: Mart, con: duckdb.DuckDBPyConnection, *,
               known: KnownValues | None, foreign: PseudonymMatcher | None,
               min_cell_size: int, classification: Classification,
               batch_rows: int) -> _MartRead | None:
    """Stream one mart through the row-level checks: each batch of `batch_rows` rows is
    observed for the scans (expectations/scan.py: distinct values with counts), counted for
    unpooled categories and key versions, then validated by GX as one part of the mart; the
    disclosure figures are computed by DuckDB on the table. Memory is one batch's, whatever the
    mart's size. None when the mart does not exist."""
    from expectations import gx_project, suites

    table = _quoted_table(mart.name)
    if not table_exists(con, *mart.name.split(".", 1)):
        return None
    total = int(con.execute(f"select count(*) from {table}").fetchall()[0][0])
    parts = max(1, -(-total // batch_rows))
    read = _MartRead()
    rename: dict[str, str] | None = None
    k = mart.disclosure.k if mart.disclosure else min_cell_size
    for i, frame in enumerate(_batches(con, table, batch_rows), start=1):
        if rename is None:
            rename = _redaction(frame.columns, known, mart)
            read.redacted = len(rename)
        frame = frame.rename(rename) if rename else frame
        read.rows += frame.height
        read.columns = frame.columns
        seen = observe(frame, mart, foreign=foreign)
        read.observed = seen if read.observed is None else combine([read.observed, seen])
        if _measurable(mart, frame.columns):
            for column, n in unpooled_categories(classification, mart, frame).items():
                read.unpooled[column] = read.unpooled.get(column, 0) + n
        if KEY_VERSION_COLUMN in frame.columns:
            read.key_versions.update(frame.get_column(KEY_VERSION_COLUMN).cast(pl.String)
                                     .drop_nulls().unique().to_list())
        part = mart.name if parts == 1 else f"{mart.name} part {i} of {parts}"
        suite = suites.table_suite(mart, frame.columns, k, name=part)
        rows = _hand_to_pandas(frame)
        read.checks.append(gx_project.checks_from(gx_project.validate(project, part, suite,
                                                                      rows)))
        del rows, frame
    if mart.disclosure is not None and _measurable(mart, read.columns):
        read.risk = warehouse_risk(con, table, mart)
    return read


def _merged(parts: list[list[Check]], suite: str) -> list[Check]:
    """One mart's GX checks over all its parts: a rule passes when it passed on every part,
    its count is the parts' sum (a column-set mismatch, the same in every part, counts once)
    and so are the rows evaluated."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[tuple[object, ...], Check] = {}
    for checks in parts:
        for c in checks:
            key = (c.rule, c.table, c.column, c.kind, c.expectation)
            had = merged.get(key)
            if had is None:
                merged[key] = replace(c, suite=suite)
                continue
            count = max(had.count, c.count) if c.rule == Rule.COLUMN_SET else \
                had.count + c.count
            evaluated = None if had.evaluated is None or c.evaluated is None else \
                had.evaluated + c.evaluated
            merged[key] = replace(had, count=count, passed=had.passed and c.passed,
                                  evaluated=evaluated)
    return list(merged.values())


def _check_mart(
    project: GxProject,
    mart: Mart,
    warehouse: Path,
    *,
    known: KnownValues | None,
    foreign: PseudonymMatcher | None,
    min_cell_size: int,
    classification: Classification,
    batch_rows: int,
) -> tuple[list[Check], dict[str, object]]:
    from expectations import gx_project, suites

    con = duckdb.connect(str(warehouse))
    try:
        settings.bound_duckdb(con)
        read = _read_mart(project, mart, con, known=known, foreign=foreign,
                          min_cell_size=min_cell_size, classification=classification,
                          batch_rows=batch_rows)
        ledger_name = mart.disclosure.ledger if mart.disclosure else None
        ledger = None
        if read is not None and read.risk is not None and ledger_name \
                and table_exists(con, *ledger_name.split(".", 1)):
            ledger = con.sql(f"select * from {_quoted_table(ledger_name)}").pl()
    finally:
        con.close()
    checks: list[Check] = []
    extra = {Rule.MISSING_TABLE: int(read is None)}
    counts = []
    stats: dict[str, object] = {"present": read is not None, "rows": None, "columns": None}
    if read is not None:
        extra[Rule.COLUMN_NAME] = read.redacted
        if len(read.checks) > 1 and KEY_VERSION_COLUMN in read.columns:
            # each part's suite allows one version; across parts it must be the same one
            extra[Rule.KEY_VERSION] = max(0, len(read.key_versions) - 1)
        stats.update(rows=read.rows, columns=len(read.columns), parts=len(read.checks))
        assert read.observed is not None
        counts = scan_counts(read.observed, mart, known=known, classification=classification)
        checks += _merged(read.checks, mart.name)
        if read.risk is not None:
            risk = read.risk
            figures: dict[str, object] = risk.as_dict()
            figures["histogram"] = histogram(risk.cell_sizes, risk.k)
            figures["quasi_identifiers"] = list(mart.disclosure.quasi_identifiers) \
                if mart.disclosure else []
            if ledger is not None:
                figures["shares"] = ledger_shares(ledger)
            stats["disclosure"] = figures
            disclosure = rule_counts(mart, risk, read.unpooled)
            if disclosure:
                suite, table = suites.disclosure_suite(mart, disclosure)
                checks += gx_project.checks_from(
                    gx_project.validate(project, f"{mart.name} disclosure", suite, table))
    suite, table = suites.scan_suite(mart, counts, extra)
    checks += gx_project.checks_from(
        gx_project.validate(project, f"{mart.name} privacy scan", suite, table)
    )
    return checks, stats


def run_gate(
    warehouse: Path,
    *,
    classification: Classification | None = None,
    min_cell_size: int = 10,
    known_values: KnownValues | None = None,
    foreign_pseudonyms: Mapping[str, Collection[str] | pl.Series | PseudonymMatcher]
    | None = None,
    gx_root: Path,
    run_name: str | None = None,
    batch_rows: int | None = None,
) -> GateResult:
    """Validate every mart listed in the classification; build Data Docs; write the summary.

    `known_values` (KnownValues.from_warehouse, or collect_known_values) and
    `foreign_pseudonyms` (purpose -> pseudonyms that must not appear in that purpose's marts:
    pseudonyms.foreign_pseudonyms, which joins in the warehouse, or values in memory) are optional
    so that the gate can run on its own; a rule without its input is listed as skipped.
    A mart larger than `batch_rows` (default settings.gate_batch_rows()) is validated by GX in
    parts of that many rows, each its own validation in Data Docs, their checks merged.
    """
    from expectations import gx_project

    started = time.perf_counter()
    classification = classification or load_classification()
    run_name = run_name or datetime.now(UTC).strftime("gate-%Y%m%dT%H%M%SZ")
    gx_root = Path(gx_root)
    (gx_root / SUMMARY_FILE).unlink(missing_ok=True)  # never leave a stale verdict behind
    project = gx_project.open_project(gx_root, run_name)
    foreign = {p: matcher(v) for p, v in (foreign_pseudonyms or {}).items()}
    empty = matcher(pl.Series("p", [], dtype=pl.String))
    checks: list[Check] = []
    tables: dict[str, dict[str, object]] = {}
    for mart in classification.marts:
        # one batch of one mart in memory at a time: the gate's memory is set by the batch
        # size (settings.gate_batch_rows), not by the marts
        mart_checks, tables[mart.name] = _check_mart(
            project, mart, Path(warehouse), known=known_values,
            foreign=None if foreign_pseudonyms is None else foreign.get(mart.purpose, empty),
            min_cell_size=min_cell_size, classification=classification,
            batch_rows=batch_rows or settings.gate_batch_rows(),
        )
        checks += mart_checks
    docs = gx_project.build_docs(project)
    findings = sorted(
        (Finding(c.rule, c.table, c.column, c.count, c.kind) for c in checks if not c.passed),
        key=lambda f: (f.table, f.rule, f.column or "", f.kind or ""),
    )
    skipped = [str(r) for r, given in ((Rule.KNOWN_VALUE, known_values),
                                       (Rule.FOREIGN_PSEUDONYM, foreign_pseudonyms))
               if given is None]
    result = GateResult(
        passed=not findings, findings=findings, checks=checks, tables=tables, skipped=skipped,
        min_cell_size=min_cell_size, run_name=run_name, data_docs=docs,
    )
    result.seconds = time.perf_counter() - started
    result.summary_path = gx_root / SUMMARY_FILE
    result.summary_path.write_text(json.dumps(result.as_dict(), indent=2), encoding="utf-8")
    for f in findings:
        log.error("publication gate: %s", f.describe())
    log.info("%s", result.summary())
    return result

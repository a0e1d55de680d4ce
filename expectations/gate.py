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
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb
import polars as pl

from expectations.disclosure import histogram
from expectations.disclosure_rules import disclosure_counts, ledger_shares
from expectations.findings import RULE_TEXT, Check, Finding, Rule
from expectations.known_values import KnownValues
from expectations.pseudonyms import PseudonymMatcher, matcher
from expectations.scan import identifier_like_names, scan_table
from transforms import settings
from transforms.classification import Classification, Mart
from transforms.classification import load as load_classification

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


def _read_tables(warehouse: Path, names: dict[str, str]) -> dict[str, pl.DataFrame]:
    """The tables named by `names` (key -> "schema.table") that exist, as polars frames.

    Not read_only: dbt-duckdb may hold the same file open in this process, and DuckDB refuses
    a second configuration of an open database.
    """
    con = duckdb.connect(str(warehouse))
    try:
        settings.bound_duckdb(con)
        existing = {
            f"{s}.{t}"
            for s, t in con.execute(
                "select table_schema, table_name from information_schema.tables"
            ).fetchall()
        }
        out = {}
        for key, name in names.items():
            if name in existing:
                schema, table = name.split(".", 1)
                out[key] = con.sql(f'select * from "{schema}"."{table}"').pl()
        return out
    finally:
        con.close()


def read_marts(warehouse: Path, classification: Classification) -> dict[str, pl.DataFrame]:
    """Every mart of the classification that exists in the warehouse, as polars frames."""
    return _read_tables(warehouse, {m.name: m.name for m in classification.marts})


def read_ledgers(warehouse: Path, classification: Classification) -> dict[str, pl.DataFrame]:
    """The disclosure ledger of every mart that declares one (what pooling moved and suppression
    removed), by mart name; a missing ledger is simply absent (its shares are not reported)."""
    return _read_tables(warehouse, {m.name: m.disclosure.ledger for m in classification.marts
                                    if m.disclosure and m.disclosure.ledger})


def _disclosure_stats(classification: Classification, mart: Mart, frame: pl.DataFrame,
                      ledger: pl.DataFrame | None) -> tuple[dict[str, object], dict[str, int]]:
    """Figures for the summary and the report (counts and shares), and the gate's counts."""
    risk, counts = disclosure_counts(classification, mart, frame)
    if risk is None:
        return {}, counts
    stats: dict[str, object] = risk.as_dict()
    stats["histogram"] = histogram(risk.cell_sizes, risk.k)
    stats["quasi_identifiers"] = list(mart.disclosure.quasi_identifiers) if mart.disclosure \
        else []
    if ledger is not None:
        stats["shares"] = ledger_shares(ledger)
    return stats, counts


def _measurable(mart: Mart, present: list[str]) -> bool:
    """Whether every column the disclosure rule reads is there (else column_set fails)."""
    rule = mart.disclosure
    if rule is None:
        return False
    needed = {*rule.quasi_identifiers, *rule.order_by,
              *(c for c in (rule.unit_key, rule.count_column) if c)}
    return needed <= set(present)


def _redact_names(frame: pl.DataFrame, known: KnownValues | None,
                  mart: Mart) -> tuple[pl.DataFrame, int]:
    bad = identifier_like_names(frame.columns, known, mart.column_names)
    if not bad:
        return frame, 0
    mapping = {n: f"redacted_column_{i}" for i, n in enumerate(frame.columns) if n in bad}
    return frame.rename(mapping), len(bad)


def _hand_to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    """GX's pandas copy of the mart (Arrow-backed columns), made column by column while each
    polars column is dropped from `frame` (emptied: run_gate hands the mart over and keeps no
    reference), so that the two copies of the whole mart are never held at once: 1M contracts,
    2 million rows, the whole-frame conversion added 0.6 GiB to the gate's peak, this 0.1."""
    import pandas as pd

    columns = {name: frame.drop_in_place(name).to_pandas(use_pyarrow_extension_array=True)
               for name in list(frame.columns)}
    return pd.DataFrame(columns, copy=False)


def _check_mart(
    project: GxProject,
    mart: Mart,
    frame: pl.DataFrame | None,
    *,
    known: KnownValues | None,
    foreign: PseudonymMatcher | None,
    min_cell_size: int,
    classification: Classification,
    ledger: pl.DataFrame | None = None,
) -> tuple[list[Check], dict[str, object]]:
    from expectations import gx_project, suites

    checks: list[Check] = []
    extra = {Rule.MISSING_TABLE: int(frame is None)}
    counts = []
    stats: dict[str, object] = {"present": frame is not None, "rows": None, "columns": None}
    if frame is not None:
        frame, redacted = _redact_names(frame, known, mart)
        extra[Rule.COLUMN_NAME] = redacted
        stats.update(rows=frame.height, columns=frame.width)
        counts = scan_table(frame, mart, known=known, foreign=foreign)
        k = mart.disclosure.k if mart.disclosure else min_cell_size
        # the disclosure figures first, then GX's pandas copy of the mart: the two working sets
        # (a sort and group-by of every unit, a second copy of every row) are not held at once
        measured = mart.disclosure is not None and _measurable(mart, frame.columns)
        if measured:
            stats["disclosure"], disclosure = _disclosure_stats(classification, mart, frame,
                                                                ledger)
        suite = suites.table_suite(mart, frame.columns, k)
        rows = _hand_to_pandas(frame)
        checks += gx_project.checks_from(gx_project.validate(project, mart.name, suite, rows))
        del rows
        if measured and disclosure:
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
) -> GateResult:
    """Validate every mart listed in the classification; build Data Docs; write the summary.

    `known_values` (KnownValues.from_warehouse, or collect_known_values) and
    `foreign_pseudonyms` (purpose -> pseudonyms that must not appear in that purpose's marts:
    pseudonyms.foreign_pseudonyms, which joins in the warehouse, or values in memory) are optional
    so that the gate can run on its own; a rule without its input is listed as skipped.
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
        # one mart (and its ledger) in memory at a time: the gate's memory is the largest
        # mart's, not the sum of them all
        ledger = mart.disclosure.ledger if mart.disclosure and mart.disclosure.ledger else None
        read = _read_tables(Path(warehouse), {"mart": mart.name, **({"ledger": ledger}
                                                                    if ledger else {})})
        mart_checks, tables[mart.name] = _check_mart(
            project, mart, read.pop("mart", None), known=known_values,  # handed over: not kept
            foreign=None if foreign_pseudonyms is None else foreign.get(mart.purpose, empty),
            min_cell_size=min_cell_size, classification=classification,
            ledger=read.pop("ledger", None),
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

"""Retention: the privacy policy's storage limits (section 9), applied by the pipeline itself.

The periods come from `retention:` in config/classification.yml, with the policy's values as
defaults (RetentionPolicy). Every run takes a fixed "as of" date, so that a run can be replayed
and tested at a boundary; a limit that falls on the as-of date is applied that day.

| rule                 | what goes                                                        |
| -------------------- | ---------------------------------------------------------------- |
| contracts_and_claims | contract rows `contract_prescription_years` after the contract   |
|                      | ended (cancellation or end date), with their claims and claim    |
|                      | transactions; orphan claims that long after their last activity  |
| prospects            | quotes `prospects_years_after_last_contact` after the person's   |
|                      | latest quote                                                     |
| billing              | premium and IPT blanked `billing_years_after_contract_end` after |
|                      | the contract ended (a ceiling: the default 10 years outlives the |
|                      | contract rows, and the pipeline is not the billing record)       |
| orphans              | consent changes and subject requests older than the prescription |
|                      | period that match no contract or quote left                      |
| landing              | delivery folders (and their quarantine) `landing_grace_days`     |
|                      | after the delivery date, once loaded and their requests handled  |
| never_kept           | GPS positions and call data: checked absent from the warehouse,  |
|                      | blanked in the quarantine (telephone recordings: never received) |

Subjects whose restriction of processing is in force are held (see retention_rules). Counts go
to `audit.retention_runs` (run id, as-of date, rule, target, rows): never a key or a value.
Published marts are rebuilt from what is left (the DAG signals the rebuild), older publications
are retired and the warehouse file is compacted (transforms/rights/removals.py).
A rerun of the same date over the tables a run left skips the warehouse rules and reports what
they would (transforms/retention/unchanged.py).
"""

from __future__ import annotations

import argparse
import json
import logging
import uuid
from dataclasses import asdict, dataclass, field, fields
from datetime import date
from pathlib import Path

import duckdb

from transforms import settings
from transforms.classification import Classification
from transforms.classification import load as load_classification
from transforms.compaction import compact_if_due
from transforms.privacy.keys import DomainKeys
from transforms.retention import files as retention_files
from transforms.retention import rules as retention_rules
from transforms.retention import unchanged
from transforms.rights.erasure import RawZone, carry_clean_sweep, vouched_files
from transforms.rights.removals import record_removal, utc_now
from transforms.transaction import transaction

log = logging.getLogger(__name__)

AUDIT_DDL = (
    "create schema if not exists audit",
    """create table if not exists audit.retention_runs (
        run_id varchar, run_at timestamp, as_of date, rule varchar, target varchar,
        rows bigint)""",
)
REMOVING_RULES = ("contracts_and_claims", "prospects", "billing", "orphans")


class RetentionConfigError(ValueError):
    """The retention configuration is unusable; names the setting."""


@dataclass(frozen=True)
class RetentionPolicy:
    """The periods, with the privacy policy's values as defaults (section 9)."""

    prospects_years_after_last_contact: int = 2
    contract_prescription_years: int = 6
    billing_years_after_contract_end: int = 10
    landing_grace_days: int = 7
    telephone_recordings_months: int = 6  # no recording is received: documented, not applied

    @classmethod
    def from_config(cls, config: dict | None) -> RetentionPolicy:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config or {}) - known)
        if unknown:
            raise RetentionConfigError(f"retention: unknown setting(s) {unknown}")
        values = {}
        for name, value in (config or {}).items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise RetentionConfigError(f"retention.{name} must be a whole number >= 0")
            values[name] = value
        return cls(**values)

    @classmethod
    def from_classification(cls, classification: Classification | None = None
                            ) -> RetentionPolicy:
        return cls.from_config((classification or load_classification()).retention)


@dataclass
class RetentionReport:
    run_id: str
    as_of: date
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # rule -> target -> rows
    landing_kept_past_grace: int = 0
    # "applied", or "unchanged inputs" when the warehouse rules were skipped (unchanged.py)
    warehouse_rules: str = "applied"

    def rows(self, rule: str | None = None) -> int:
        rules = [rule] if rule else list(self.counts)
        return sum(n for r in rules for t, n in self.counts.get(r, {}).items()
                   if not t.endswith(":held_by_restriction") and not t.startswith("check:"))

    @property
    def removed_from_warehouse(self) -> int:
        return sum(self.rows(r) for r in REMOVING_RULES)

    def as_dict(self) -> dict[str, object]:
        return {"run_id": self.run_id, "as_of": self.as_of.isoformat(), "counts": self.counts,
                "rows_removed_from_warehouse": self.removed_from_warehouse,
                "landing_kept_past_grace": self.landing_kept_past_grace,
                "warehouse_rules": self.warehouse_rules}


def billing_figures(classification: Classification) -> dict[str, list[str]]:
    """Purpose -> warehouse columns holding the contract's billing figures (financial fields
    of policy_admin/contracts)."""
    entity = classification.entity("policy_admin", "contracts")
    out: dict[str, list[str]] = {}
    for col in entity.columns:
        if col.category != "financial":
            continue
        for t in col.treatments:
            out.setdefault(t.purpose, []).append(t.output)
    return out


def _record(con: duckdb.DuckDBPyConnection, report: RetentionReport, rules: list[str]) -> None:
    for ddl in AUDIT_DDL:
        con.execute(ddl)
    at = utc_now()
    for rule, targets in ((r, report.counts.get(r, {})) for r in rules):
        for target, rows in sorted(targets.items()):
            con.execute("insert into audit.retention_runs values (?, ?, ?, ?, ?, ?)",
                        [report.run_id, at, report.as_of, rule, target, rows])


def apply_retention(warehouse: Path, landing: Path, quarantine: Path, as_of: date, *,
                    policy: RetentionPolicy | None = None,
                    classification: Classification | None = None,
                    compact: bool = True, keys: DomainKeys | None = None) -> RetentionReport:
    """Apply every rule for `as_of`; the warehouse changes in one transaction. With `keys`, a
    raw zone the last clean sweep vouched for stays vouched for after the file rules
    (erasure.carry_clean_sweep): they only blank columns and delete files."""
    classification = classification or load_classification()
    policy = policy or RetentionPolicy.from_classification(classification)
    report = RetentionReport(uuid.uuid4().hex[:12], as_of)
    warehouse.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(warehouse))
    settings.bound_duckdb(con, settings.duckdb_maintenance_memory_limit())
    try:
        # files first: each file rule stands alone and is recorded as soon as it is done
        zone = RawZone(landing, quarantine, classification)
        vouched = None if keys is None else vouched_files(con, zone, keys)
        rewritten: set[str] = set()
        report.counts["never_kept"] = {
            "check:warehouse_columns": retention_files.assert_never_kept(con, classification),
            **retention_files.strip_quarantine(quarantine, classification, rewritten),
        }
        expired, report.landing_kept_past_grace = retention_files.expired_deliveries(
            con, landing, classification, policy.landing_grace_days, as_of)
        report.counts["landing"] = retention_files.delete_deliveries(expired, quarantine)
        if keys is not None and vouched is not None:
            carry_clean_sweep(con, zone, keys, vouched, rewritten)
        _record(con, report, ["never_kept", "landing"])
        years = policy.contract_prescription_years
        figures = billing_figures(classification)
        settings_used = {"policy": asdict(policy), "billing_figures": figures}
        with transaction(con):
            recorded = unchanged.recorded_counts(con, as_of, settings_used)
            if recorded is not None:  # the inputs are those a run of this date left
                report.counts.update(recorded)
                report.warehouse_rules = "unchanged inputs"
            else:
                report.counts["contracts_and_claims"] = retention_rules.contracts_and_claims(
                    con, years, as_of)
                report.counts["prospects"] = retention_rules.prospects(
                    con, policy.prospects_years_after_last_contact, as_of)
                report.counts["billing"] = retention_rules.billing(
                    con, policy.billing_years_after_contract_end, as_of, figures)
                report.counts["orphans"] = retention_rules.orphans(con, years, as_of)
                unchanged.record(con, as_of, settings_used,
                                 unchanged.rerun_counts({r: report.counts[r]
                                                         for r in REMOVING_RULES}))
            _record(con, report, list(REMOVING_RULES))
            if report.removed_from_warehouse:
                record_removal(con, "retention", report.removed_from_warehouse)
    finally:
        con.close()
    if compact:  # removed rows must not survive in the file (marked due by the removal)
        compact_if_due(warehouse)
    log.info("retention as of %s: %s", as_of, json.dumps(report.as_dict()))
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.retention.run",
                                     description="Apply the retention rules as of a date.")
    parser.add_argument("--as-of", required=True, metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)
    try:
        as_of = date.fromisoformat(args.as_of)
    except ValueError:
        parser.error("--as-of: expected YYYY-MM-DD")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    p = settings.paths()
    report = apply_retention(p.warehouse, p.landing, p.quarantine, as_of)
    print(json.dumps(report.as_dict(), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

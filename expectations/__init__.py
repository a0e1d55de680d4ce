"""The publication gate (Great Expectations, driven by config/classification.yml).

Usage, in the order the DAG calls it::

    known = KnownValues.from_warehouse(warehouse, keys)   # what the ingest fingerprinted
    result = run_gate(warehouse, known_values=known,     # joins in DuckDB, holds no raw value
                      foreign_pseudonyms=foreign_pseudonyms(warehouse), gx_root=gx_dir)
    result.raise_for_failure()                             # GateFailed: counts, never values

Importing this package does not import Great Expectations; `run_gate` does.
"""

from expectations.findings import Check, Finding, Rule
from expectations.gate import GateFailed, GateResult, report_files, run_gate
from expectations.known_values import KnownValues, collect_known_values
from expectations.main_module import mark_main_module
from expectations.pseudonyms import domain_pseudonyms, foreign_pseudonyms

# none of the above imports GX; its modules (gx_project, suites) are imported after this
# package, so this runs first: expectations/main_module.py says why
mark_main_module()

__all__ = [
    "Check",
    "Finding",
    "GateFailed",
    "GateResult",
    "KnownValues",
    "Rule",
    "collect_known_values",
    "domain_pseudonyms",
    "foreign_pseudonyms",
    "report_files",
    "run_gate",
]

"""Great Expectations suites of the publication gate, built in code from the classification.

Two suites per mart, because GX validates one batch per suite:
- `<mart>` runs on the mart's rows: the exact column set, the pseudonym format, a single key
  version, the smallest cell. GX computes these itself and can report them without values.
- `<mart>.privacy_scan` runs on a one-row table of counts made in polars (expectations/scan.py):
  identifier patterns per column and kind, known raw values, foreign pseudonyms. Each count is a
  column and each expectation says it must be 0, so Data Docs show every rule and its count,
  while the values the counts are about never enter GX.

Every expectation carries `meta` = {rule, table, column, kind}: the gate's findings are read back
from the GX results through it.
"""

from __future__ import annotations

import great_expectations as gx
import great_expectations.expectations as gxe
import pandas as pd

from expectations.detectors import LABELS
from expectations.findings import RULE_TEXT, Rule
from expectations.pseudonyms import PSEUDONYM_REGEX
from expectations.scan import KEY_VERSION_COLUMN, NUMBER_KINDS, ScanCount
from transforms.classification import Mart
from transforms.privacy.keys import KEY_VERSION_REGEX


def _meta(rule: Rule, mart: Mart, column: str | None = None, kind: str | None = None) -> dict:
    return {"rule": str(rule), "table": mart.name, "column": column, "kind": kind,
            "rule_text": RULE_TEXT[rule]}


def table_suite(mart: Mart, present: list[str], min_cell_size: int,
                name: str | None = None) -> gx.ExpectationSuite:
    """Row-level checks on the mart itself; column checks only for columns that exist (a missing
    one is already a column_set finding, and GX would fail on it with an error instead).
    `name`: the suite's name when the mart is validated in parts (default the mart's)."""
    found: list[gxe.Expectation] = []
    found.append(gxe.ExpectTableColumnsToMatchSet(
        column_set=mart.column_names, exact_match=True, meta=_meta(Rule.COLUMN_SET, mart),
        description=f"Exactly the {len(mart.column_names)} columns that the classification "
                    f"allows for purpose {mart.purpose}.",
    ))
    for col in mart.columns:
        if col.cls == "pseudonym" and col.name in present:
            found.append(gxe.ExpectColumnValuesToMatchRegex(
                column=col.name, regex=PSEUDONYM_REGEX,
                meta=_meta(Rule.PSEUDONYM_FORMAT, mart, col.name),
                description=f"{col.name}: every pseudonym is 64 lowercase hex characters.",
            ))
    if KEY_VERSION_COLUMN in present and KEY_VERSION_COLUMN in mart.column_names:
        meta = _meta(Rule.KEY_VERSION, mart, KEY_VERSION_COLUMN)
        found.append(gxe.ExpectColumnUniqueValueCountToBeBetween(
            column=KEY_VERSION_COLUMN, min_value=0, max_value=1, meta=meta,
            description="A single key version in the whole mart.",
        ))
        found.append(gxe.ExpectColumnValuesToNotBeNull(
            column=KEY_VERSION_COLUMN, meta=meta,
            description="Every row names the key version of its pseudonyms.",
        ))
        found.append(gxe.ExpectColumnValuesToMatchRegex(
            column=KEY_VERSION_COLUMN, regex=KEY_VERSION_REGEX, meta=meta,
            description="The key version has the key-version format (kv- and 12 hex "
                        "characters), and so holds nothing else.",
        ))
    if mart.aggregated and mart.count_column and mart.count_column in present:
        meta = _meta(Rule.SMALL_CELL, mart, mart.count_column)
        found.append(gxe.ExpectColumnValuesToBeBetween(
            column=mart.count_column, min_value=min_cell_size, meta=meta,
            description=f"Every cell counts at least k = {min_cell_size} ({mart.count_column}).",
        ))
        found.append(gxe.ExpectColumnValuesToNotBeNull(
            column=mart.count_column, meta=meta,
            description=f"Every cell has a count ({mart.count_column}).",
        ))
    return gx.ExpectationSuite(name=name or mart.name, expectations=found)


def scan_suite(
    mart: Mart, counts: list[ScanCount], extra: dict[Rule, int] | None = None
) -> tuple[gx.ExpectationSuite, pd.DataFrame]:
    """The suite over the one-row table of counts, and that table.

    `extra` holds table-level counts (missing_table, identifier_in_column_name). The split of
    an identifier count by kind travels in the expectation's meta (`kinds`: counts only).
    """
    found: list[gxe.Expectation] = []
    row: dict[str, int] = {}
    for rule, n in (extra or {}).items():
        name = str(rule)
        row[name] = n
        found.append(gxe.ExpectColumnMaxToBeBetween(
            column=name, min_value=0, max_value=0, meta=_meta(rule, mart),
            description=f"{RULE_TEXT[rule].capitalize()}: count must be 0.",
        ))
    for c in counts:
        name = f"{c.rule}:{c.column}"
        row[name] = c.count
        meta = _meta(c.rule, mart, c.column) | {"kinds": dict(c.kinds)}
        found_text = ", ".join(f"{LABELS.get(k, NUMBER_KINDS.get(k, k))}: {n}"
                               for k, n in c.kinds.items())
        found.append(gxe.ExpectColumnMaxToBeBetween(
            column=name, min_value=0, max_value=0, meta=meta,
            description=f"Column {c.column}: rows holding {c.label} must be 0."
                        + (f" Rows found this run, by kind: {found_text}." if found_text else ""),
        ))
    suite = gx.ExpectationSuite(name=f"{mart.name}.privacy_scan", expectations=found)
    return suite, pd.DataFrame([row]) if row else pd.DataFrame({"empty": [0]})


def disclosure_suite(mart: Mart, counts: dict[str, int]) -> tuple[gx.ExpectationSuite,
                                                                  pd.DataFrame]:
    """The mart's disclosure rule as counts that must be 0 (expectations/disclosure_rules.py):
    `unique_share` (units unique beyond the declared share) and `unpooled_category:<column>`
    (rows outside the column's hierarchy). GX sees the counts, never the rows behind them."""
    found: list[gxe.Expectation] = []
    for name in counts:
        rule_name, _, column = name.partition(":")
        rule = Rule(rule_name)
        text = (f"Column {column}: rows with a level outside its declared hierarchy must be 0."
                if column else "Units unique on the declared quasi-identifiers beyond the "
                               "declared share must be 0.")
        found.append(gxe.ExpectColumnMaxToBeBetween(
            column=name, min_value=0, max_value=0, meta=_meta(rule, mart, column or None),
            description=text,
        ))
    suite = gx.ExpectationSuite(name=f"{mart.name}.disclosure", expectations=found)
    return suite, pd.DataFrame([counts]) if counts else pd.DataFrame({"empty": [0]})

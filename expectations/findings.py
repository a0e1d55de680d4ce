"""What the gate reports: a rule, a table, a column and a count. Never a value.

Why a type of its own: every message the gate produces (exceptions, log lines, the JSON summary,
Great Expectations metadata) is built from these fields only, so that no code path can copy an
offending value into a place that outlives the run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Rule(StrEnum):
    """The gate's rules; the values are stable identifiers used in results and reports."""

    MISSING_TABLE = "missing_table"
    COLUMN_SET = "column_set"
    COLUMN_NAME = "identifier_in_column_name"
    IDENTIFIER = "identifier_pattern"
    KNOWN_VALUE = "known_value"
    SMALL_CELL = "small_cell"
    UNIQUE_SHARE = "unique_share"
    UNPOOLED_CATEGORY = "unpooled_category"
    PSEUDONYM_FORMAT = "pseudonym_format"
    KEY_VERSION = "key_version"
    FOREIGN_PSEUDONYM = "foreign_pseudonym"
    SPLIT_IDENTIFIER = "identifier_across_columns"
    NUMBER = "identifier_in_number"
    NOT_ALLOWED = "value_not_allowed"
    GX_ERROR = "gx_error"


RULE_TEXT: dict[Rule, str] = {
    Rule.MISSING_TABLE: "the mart exists in the warehouse",
    Rule.COLUMN_SET: "exactly the columns the classification allows for the mart's purpose",
    Rule.COLUMN_NAME: "no column name is itself an identifier",
    Rule.IDENTIFIER: "no valid direct identifier (validated, not just shaped) in string columns",
    Rule.KNOWN_VALUE: "no raw identifier value of this run's deliveries, whole or inside text",
    Rule.SMALL_CELL: "every row of an aggregated mart counts at least k persons",
    Rule.UNIQUE_SHARE: "a row-level mart's units unique on its quasi-identifiers stay within the "
                       "declared share (units over the limit must be 0)",
    Rule.UNPOOLED_CATEGORY: "a pooled column holds only levels of its declared hierarchy",
    Rule.PSEUDONYM_FORMAT: "pseudonyms are 64 lowercase hex characters (HMAC-SHA-256)",
    Rule.KEY_VERSION: "a single, non-null, well-formed key version per mart",
    Rule.FOREIGN_PSEUDONYM: "no pseudonym of another purpose's domain",
    Rule.SPLIT_IDENTIFIER: "no identifier split over two adjacent text columns of a row",
    Rule.NUMBER: "no card, phone or delivered identifier written as a number, and no number of "
                 "an implausible magnitude",
    Rule.NOT_ALLOWED: "dimension values the classification closes are among its allowed values",
    Rule.GX_ERROR: "the Great Expectations check ran without error",
}


@dataclass(frozen=True)
class Finding:
    """One failed check. `kind` refines the rule (`email` for identifier_pattern, `unexpected`
    or `missing` for column_set); `count` is rows for value rules, 1 for a column."""

    rule: str
    table: str
    column: str | None
    count: int
    kind: str | None = None

    def describe(self) -> str:
        where = f"{self.table}.{self.column}" if self.column else self.table
        what = f"{self.rule}:{self.kind}" if self.kind else self.rule
        return f"{what} failed in {where}: count {self.count}"

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class Check:
    """One check as run, failed or not: what the summary and the privacy report list."""

    rule: str
    table: str
    column: str | None
    kind: str | None
    count: int
    passed: bool
    # which GX suite and expectation ran it, and over how many rows: for the offline
    # validation page (transforms/publish/validation_report.py); names and counts, no value
    suite: str | None = None
    expectation: str | None = None
    evaluated: int | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

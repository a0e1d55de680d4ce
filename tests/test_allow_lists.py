"""The classification's allow-lists, as pure functions: a field that a purpose receives must be
closed, and validation applies each closing rule (or maps an unknown category to `other`)."""

from __future__ import annotations

import copy
from datetime import date

import polars as pl
import pytest
import yaml

from transforms.classification import CLASSIFICATION_PATH, ClassificationError, parse
from transforms.ingest.validation import validate

DOC = yaml.safe_load(CLASSIFICATION_PATH.read_text(encoding="utf-8"))


def _claims_column(doc: dict, name: str) -> dict:
    return doc["sources"]["claims"]["claims"]["columns"][name]


@pytest.mark.parametrize(("column", "drop", "message"), [
    ("failed_component", "checks", "allowed values"),
    ("mileage_at_claim", "checks", "plausible range"),
    ("loss_date", "checks", "window"),
    ("claim_number", "identifier", "identifier format"),
])
def test_an_open_field_is_refused(column: str, drop: str, message: str) -> None:
    doc = copy.deepcopy(DOC)
    _claims_column(doc, column).pop(drop)
    with pytest.raises(ClassificationError, match=message):
        parse(doc)


def test_unknown_category_mapped_to_other_where_declared_and_counted() -> None:
    doc = copy.deepcopy(DOC)
    spec = _claims_column(doc, "failed_component")
    spec["checks"] = [{"one_of": ["engine", "gearbox"], "unknown": "other"}]
    entity = parse(doc).entity("claims", "claims")
    raw = pl.DataFrame({c: ["x", "x", "x"] for c in entity.column_names}).with_columns(
        claim_number=pl.Series(["CLM-00000001", "CLM-00000002", "CLM-00000003"]),
        contract_number=pl.lit("OPW-0000001"), loss_date=pl.lit("2026-01-01"),
        notification_date=pl.lit("2026-01-02"), mileage_at_claim=pl.lit("1000"),
        status=pl.lit("open"), breakdown_latitude=pl.lit(None, pl.String),
        breakdown_longitude=pl.lit(None, pl.String),
        failed_component=pl.Series(["engine", "ab12cde", "gearbox"]),
    )
    result = validate(raw, entity, date(2026, 11, 26))
    assert result.quarantine.height == 0
    assert result.clean["failed_component"].to_list() == ["engine", "other", "gearbox"]
    assert result.nullified_counts == {"failed_component": 1}


def test_range_and_window_quarantine_with_their_reasons() -> None:
    entity = parse(DOC).entity("claims", "claims")
    raw = pl.DataFrame({
        "claim_number": ["CLM-00000001", "CLM-00000002", "CLM-00000003"],
        "contract_number": ["OPW-0000001"] * 3,
        "loss_date": ["2026-01-01", "1999-12-31", "2026-01-01"],
        "notification_date": ["2026-01-02"] * 3,
        "failed_component": ["engine"] * 3,
        "mileage_at_claim": ["1000", "1000", "2000001"],
        "repairer_id": [None] * 3, "status": ["open"] * 3, "description": [None] * 3,
        "breakdown_latitude": [None] * 3, "breakdown_longitude": [None] * 3,
    }, schema_overrides={c: pl.String for c in entity.column_names})
    result = validate(raw, entity, date(2026, 11, 26))
    assert result.clean.height == 1
    assert result.reason_counts == {"out_of_window:loss_date": 1,
                                    "out_of_range:mileage_at_claim": 1}

"""The classification is parsed strictly: a mistake in config/classification.yml stops loading
with the file, line and column and the key path of the mistake, and says what is expected.

Each case edits the real file's text in one place, writes it to tmp_path and loads it with the
real loader (PyYAML's SafeLoader composing the node tree, pydantic validating it); the expected
line and column are those of the edit, found in the text, not written down.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import get_args

import pytest
import yaml

from transforms.classification import (
    CLASSIFICATION_PATH,
    ClassificationError,
    load,
    parse,
)
from transforms.classification.schema import GeneraliseRule, Purpose
from transforms.privacy import generalise, keys

TEXT = CLASSIFICATION_PATH.read_text(encoding="utf-8")


def _edit(old: str, new: str, marker: str) -> tuple[str, int, int]:
    """The file with `old` (which occurs once) replaced by `new`, and the 1-based line and
    column of `marker`'s first occurrence within the replacement."""
    assert TEXT.count(old) == 1, old
    text = TEXT.replace(old, new)
    at = TEXT.index(old) + new.index(marker)
    line = text.count("\n", 0, at) + 1
    column = at - (text.rfind("\n", 0, at) + 1) + 1
    return text, line, column


def _load(tmp_path: Path, text: str) -> ClassificationError:
    path = tmp_path / "classification.yml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ClassificationError) as caught:
        load(path)
    return caught.value


CLAIM_NUMBER = ("      key: [claim_number]\n      columns:\n        claim_number:\n"
                "          class: direct_identifier\n          category: contract\n"
                "          type: string\n          identifier: claim_number\n")
STATUS_CHECK = "          checks: [{one_of: [open, closed, declined, reopened]}]\n"
STATUS = ("        status:\n          class: non_personal\n          category: claims\n"
          "          type: string\n          required: true\n" + STATUS_CHECK +
          "          treatment:\n            actuarial: {keep: status}\n")


@pytest.mark.parametrize(("old", "new", "marker", "path", "message"), [
    pytest.param(CLAIM_NUMBER, CLAIM_NUMBER.replace("identifier:", "identifer:"), "identifer",
                 "sources.claims.claims.columns.claim_number.identifer",
                 "Extra inputs are not permitted", id="unknown-key"),
    pytest.param("  landing_grace_days: 7\n", "  landing_grace_days: seven\n", "landing",
                 "retention.landing_grace_days", "valid integer", id="wrong-type"),
    pytest.param(STATUS, STATUS.replace("{keep: status}", "{keep: status, hash: status_key}"),
                 "actuarial", "sources.claims.claims.columns.status.treatment.actuarial",
                 "exactly one of hash/keep/generalise", id="two-verbs"),
    pytest.param("        repairer_id:\n          class: quasi_identifier\n",
                 "        repairer_id:\n          class: quasi-identifier\n", "class",
                 "sources.claims.claims.columns.repairer_id.class",
                 "'direct_identifier', 'quasi_identifier', 'sensitive' or 'non_personal'",
                 id="bad-enum"),
    pytest.param("    purpose: marketing\n    grain: One row per product, vehicle age band",
                 "    purpose: research\n    grain: One row per product, vehicle age band",
                 "purpose", "marts.marketing.segments.purpose",
                 "'actuarial', 'marketing' or 'dpo'", id="bad-purpose"),
    pytest.param("checks: [non_negative_payment, {range: [-25000, 25000]}]",
                 "checks: [non_negative_payment, {range: [25000, -25000]}]", "range",
                 "sources.claims.claim_transactions.columns.amount.checks[1].range",
                 "min <= max", id="bad-range"),
    pytest.param("disclosure:\n  k: 10\n", "disclosure:\n  k: 1\n", "k: 1", "disclosure.k",
                 "greater than or equal to 2", id="k-below-2"),
    pytest.param("disclosure:\n  k: 10\n  max_unique_share: 0.05\n",
                 "disclosure:\n  k: 10\n  max_unique_share: 5\n", "max_unique_share",
                 "disclosure.max_unique_share", "less than or equal to 1", id="share-above-1"),
    pytest.param('          checks: [{window: ["1900-01-01", 0]}]',
                 '          checks: [{window: ["1900-13-01", 0]}]', '"1900-13-01"',
                 "sources.policy_admin.contracts.columns.date_of_birth.checks[0].window[0]",
                 "ISO date", id="bad-date"),
    pytest.param(CLAIM_NUMBER, CLAIM_NUMBER.replace("          type: string\n", ""),
                 "claim_number:\n", "sources.claims.claims.columns.claim_number.type",
                 "Field required",
                 id="missing-required"),
    pytest.param("        description:\n          class: sensitive\n",
                 "        status:\n          class: sensitive\n", "status",
                 "", "key 'status' is repeated", id="repeated-key"),
    pytest.param("  landing_grace_days: 7\n", "\tlanding_grace_days: 7\n", "\t", "",
                 "not valid YAML", id="yaml-syntax"),
    # what relates blocks is checked with the same positions
    pytest.param(STATUS, STATUS.replace(STATUS_CHECK, ""), "status",
                 "sources.claims.claims.columns.status",
                 "a kept text field needs allowed values", id="open-field"),
    pytest.param("      key: [claim_number]\n", "      key: [claim_id]\n", "claim_id",
                 "sources.claims.claims.key[0]", "key column 'claim_id' is not a column",
                 id="key-not-a-column"),
    pytest.param("      pooling: [region]\n", "      pooling: [postcode]\n", "pooling",
                 "marts.marketing.segments.disclosure.pooling", "unknown hierarchies",
                 id="unknown-hierarchy"),
])
def test_a_mistake_is_named_at_its_line_and_column(
    tmp_path: Path, old: str, new: str, marker: str, path: str, message: str
) -> None:
    text, line, column = _edit(old, new, marker)
    error = _load(tmp_path, text)
    first = str(error).splitlines()[0]
    where = f"{tmp_path / 'classification.yml'}:{line}:"
    assert first.startswith(where), (first, where)
    problem = error.problems[0]
    assert problem.position is not None and problem.position.line == line
    assert problem.path == path, first
    assert problem.position.column == column, first
    assert message in problem.message, first


def test_every_mistake_is_listed_with_its_own_position(tmp_path: Path) -> None:
    text = TEXT.replace("  landing_grace_days: 7\n", "  landing_grace_days: -1\n")
    text = text.replace("  k: 10\n", "  k: ten\n")
    error = _load(tmp_path, text)
    paths = {p.path: p.position.line for p in error.problems if p.position}
    lines = text.splitlines()
    assert lines[paths["retention.landing_grace_days"] - 1].strip() == "landing_grace_days: -1"
    assert lines[paths["disclosure.k"] - 1].strip() == "k: ten"


def test_a_message_quotes_the_expected_shape_never_the_value_found(tmp_path: Path) -> None:
    hostile = "GB29NWBK60161331926819-<script>"
    text, _, _ = _edit("        repairer_id:\n          class: quasi_identifier\n",
                       f"        repairer_id:\n          class: '{hostile}'\n", "class")
    text = text.replace("  k: 10\n", f"  k: '{hostile}'\n")
    error = _load(tmp_path, text)
    assert len(error.problems) == 2
    assert hostile not in str(error) and "GB29" not in str(error)


def test_a_plain_document_still_gets_the_key_path() -> None:
    doc = yaml.safe_load(TEXT)
    doc["sources"]["claims"]["claims"]["columns"]["status"]["on_invalid"] = "drop"
    with pytest.raises(ClassificationError) as caught:
        parse(doc)
    problem = caught.value.problems[0]
    assert problem.path == "sources.claims.claims.columns.status.on_invalid"
    assert problem.position is None and "'quarantine' or 'null'" in problem.message


def test_the_real_file_loads_into_the_same_objects_from_text_or_document() -> None:
    real = load()
    assert real.version == 1 and len(real.entities) == 6 and len(real.marts) == 5
    assert dataclasses.asdict(parse(yaml.safe_load(TEXT))) == dataclasses.asdict(real)
    treatment = real.entity("policy_admin", "contracts").column("date_of_birth").treatments[0]
    assert (treatment.verb, treatment.rule, treatment.output, treatment.params) == (
        "generalise", "age_band", "driver_age_band", {"reference": "start_date"})


def test_the_vocabularies_follow_the_code_that_implements_them() -> None:
    assert set(get_args(Purpose)) == set(keys.DOMAINS)
    assert set(get_args(GeneraliseRule)) == set(generalise.RULES)

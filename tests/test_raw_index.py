"""The raw index limited to the subjects at hand finds exactly what the whole index finds.

Why: request processing no longer holds every raw row's identifiers (about 1.5 GiB at 1M
contracts) but only the rows linked to the pending requests' clues, found by a fixpoint on
64-bit hashes. A subject's expansion and counts must not change: checked on a small generated
book, for every request of its DPO feed, against the index of every row.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import polars as pl
import pytest

from transforms.classification import load
from transforms.frames import buffer_bytes, owned
from transforms.rights.subject_resolution import (
    GivenIdentifiers,
    MalformedIdentifiers,
    clues,
    clues_of,
    expand_raw,
    load_raw_index,
    raw_counts,
)
from transforms.sources.generate import generate_book

AS_OF = date(2026, 11, 26)


@pytest.fixture(scope="module")
def zone(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("raw_index")
    generate_book(root / "landing", contracts=2_000, days=2, as_of=AS_OF, seed=11)
    quarantine = root / "quarantine"
    quarantine.mkdir()
    requests = pl.concat([
        pl.read_csv(p, infer_schema=False)
        for p in sorted((root / "landing" / "dpo").glob("*/subject_requests.csv"))])
    givens = [GivenIdentifiers.from_mapping(row) for row in requests.iter_rows(named=True)]
    readable = []
    for given in givens:
        try:
            found = clues(given)
        except MalformedIdentifiers:
            continue
        if found:
            readable.append({k: {v} for k, v in found.items()})
    assert len(readable) >= 10
    return {"landing": root / "landing", "quarantine": quarantine, "givens": givens,
            "clues": readable}


def _start(found: dict[str, set[str]]) -> dict[str, set[str]]:
    start = clues_of([])
    for kind, values in found.items():
        start[kind] |= values
    return start


def test_limited_index_resolves_every_request_as_the_whole_index(zone: dict) -> None:
    classification = load()
    whole = load_raw_index(zone["landing"], zone["quarantine"], classification)
    limited = load_raw_index(zone["landing"], zone["quarantine"], classification,
                             about=clues_of(zone["givens"]))
    assert sum(f.height for f in limited.frames.values()) \
        < sum(f.height for f in whole.frames.values()) / 5
    linked = 0
    for found in zone["clues"][:15]:
        expected = expand_raw(whole, _start(found))
        got = expand_raw(limited, _start(found))
        assert got == expected
        assert raw_counts(limited, got) == raw_counts(whole, expected)
        linked += bool(raw_counts(whole, expected))
    assert linked >= 5  # most requests match a customer: the comparison is not on empty sets


def test_one_subjects_index_holds_only_rows_linked_to_it(zone: dict) -> None:
    classification = load()
    found = zone["clues"][0]
    limited = load_raw_index(zone["landing"], zone["quarantine"], classification, about=found)
    values = expand_raw(limited, _start(found))
    for frame in limited.frames.values():
        linked = pl.any_horizontal([pl.col(k).is_in(sorted(values[k])) for k in frame.columns
                                    if k in values and values[k]] or [pl.lit(False)])
        assert frame.filter(~linked.fill_null(False)).is_empty()
        # and holds their own bytes, not the batches they were read in (transforms/frames.py)
        assert buffer_bytes(frame) <= buffer_bytes(owned(frame))


def test_unreadable_raw_file_is_skipped_and_counted(zone: dict, tmp_path: Path) -> None:
    classification = load()
    landing = tmp_path / "landing"
    import shutil
    shutil.copytree(zone["landing"], landing)
    target = next(landing.glob("claims/*/claims.csv"))
    target.write_bytes(b"claim_number,x\n1,2,3,4\n")
    for about in (None, clues_of(zone["givens"])):
        index = load_raw_index(landing, zone["quarantine"], classification, about=about)
        assert index.files_skipped == 1


def _one_at_a_time(given: GivenIdentifiers) -> dict[str, str]:
    """clues() as it was before it read several subjects in one pass: one select per field."""
    from transforms.privacy.identifiers import (
        UNIT_SEPARATOR,
        is_valid,
        normalise,
        normalise_email,
        normalise_name,
        normalise_person,
    )
    from transforms.privacy.identity import NAMES_EMAIL, PERSON, date_expr, text_expr

    frame = pl.DataFrame({k: [v] for k, v in given.__dict__.items()},
                         schema={k: pl.String for k in given.__dict__})
    dob = frame.select(date_expr(frame, "date_of_birth")).item()
    if given.date_of_birth is not None and dob is None:
        raise MalformedIdentifiers("date_of_birth is not a date (YYYY-MM-DD)")
    out: dict[str, str] = {}
    for kind in ("contract_number", "customer_number"):
        if getattr(given, kind) is None:
            continue
        value = frame.select(normalise(kind, text_expr(kind))).item()
        if not frame.select(is_valid(kind, pl.lit(value))).item():
            raise MalformedIdentifiers(f"{kind} does not have the source contract's format")
        out[kind] = value
    email = None
    if given.email is not None:
        email = frame.select(normalise_email(text_expr("email"))).item()
        if not frame.select(is_valid("email", pl.lit(email))).item():
            raise MalformedIdentifiers("email is not an email address")
    person = frame.select(normalise_person(text_expr("surname"), text_expr("first_name"),
                                           pl.lit(dob, dtype=pl.Date))).item()
    if person is not None:
        out[PERSON] = person
    if email is not None and given.surname and given.first_name:
        names = frame.select(normalise_name(text_expr("surname")),
                             normalise_name(text_expr("first_name")))
        out[NAMES_EMAIL] = UNIT_SEPARATOR.join([*names.row(0), email])
    return out


def test_clues_read_together_are_each_subjects_own(zone: dict) -> None:
    """clues_each reads every subject in one pass (a run's requests: 8 s at 1M one at a time);
    each answer, clues or the error and its message, is what reading it alone gives."""
    from transforms.rights.subject_resolution import clues_each

    odd = [GivenIdentifiers(" SMITH ", "Ann", "1980-02-30", None, None, None),
           GivenIdentifiers("Smith", "Ann", "1980-02-03", "ann@@example", None, None),
           GivenIdentifiers("Smith", "Ann", "1980-02-03", " Ann.Smith@Example.COM ", None, None),
           GivenIdentifiers(None, None, None, None, "opw 1234567", None),
           GivenIdentifiers(None, None, None, None, "not-a-contract", None),
           GivenIdentifiers(None, None, None, None, None, "CUST-1"),
           GivenIdentifiers("Ὀδυσσεύς", "ＡＮＮ", "1970-01-01", None, None, None),
           GivenIdentifiers(None, None, None, "a@b.co", None, None),
           GivenIdentifiers(None, None, None, None, None, None)]
    givens = [*zone["givens"], *odd]
    together = clues_each(givens)
    assert len(together) == len(givens)
    kinds = set()
    for given, found in zip(givens, together, strict=True):
        try:
            alone: dict[str, str] | MalformedIdentifiers = _one_at_a_time(given)
        except MalformedIdentifiers as exc:
            alone = exc
        if isinstance(alone, MalformedIdentifiers):
            assert isinstance(found, MalformedIdentifiers) and str(found) == str(alone)
            kinds.add("malformed")
        else:
            assert found == alone
            kinds.update(alone)
    assert {"malformed", "person", "contract_number"} <= kinds
    assert clues_each([]) == []

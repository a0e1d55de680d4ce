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

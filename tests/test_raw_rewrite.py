"""Removing rows from a landing file, streamed: the bytes of every kept record are preserved.

Why: an erasure rewrites raw deliveries without the subject's rows. The rewrite now matches in
batches and copies records file to file (a 1M-contract extract is no longer held whole, with its
records and the new file beside it), so quoted line ends, the last line's end and the batch
boundaries are checked against the bytes expected.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from transforms import landing
from transforms.classification import load
from transforms.frames import buffer_bytes

ENTITY = load().entity("claims", "claims")


def remove_ids(*ids: str) -> landing.Matcher:
    return lambda frame, entity: frame["id"].is_in(list(ids))


def plan(path: Path, data: bytes, matcher: landing.Matcher) -> landing.PlannedFile | None:
    path.write_bytes(data)
    return landing._plan_csv(path, ENTITY, matcher)


@pytest.mark.parametrize("chunk", [1, 5, 1 << 22])
@pytest.mark.parametrize("batch", [1, 2, 200_000])
def test_kept_records_keep_their_bytes_across_batches(tmp_path: Path, batch: int, chunk: int,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever the batches of rows matched and the chunks of bytes read at a time."""
    monkeypatch.setattr(landing, "REWRITE_BATCH_ROWS", batch)
    monkeypatch.setattr(landing, "RECORD_CHUNK_BYTES", chunk)
    data = b'id,text\n1,"two\nlines"\n2,x\n3,"a ""quote"""\n4,\n5,y\n'
    planned = plan(tmp_path / "f.csv", data, remove_ids("2", "5"))
    assert planned is not None and planned.tmp is not None
    expected = b'id,text\n1,"two\nlines"\n3,"a ""quote"""\n4,\n'
    assert planned.tmp.read_bytes() == expected
    assert (planned.rows_removed, planned.new_rows) == (2, 3)
    assert planned.old_sha == hashlib.sha256(data).hexdigest()
    assert planned.new_sha == hashlib.sha256(expected).hexdigest()
    assert (tmp_path / "f.csv").read_bytes() == data  # nothing replaced before the commit


def test_a_file_without_a_last_line_end_stays_without(tmp_path: Path) -> None:
    planned = plan(tmp_path / "f.csv", b"id,text\n1,a\n2,b", remove_ids("2"))
    assert planned is not None and planned.tmp.read_bytes() == b"id,text\n1,a"
    planned = plan(tmp_path / "g.csv", b"id,text\n1,a\n2,b", remove_ids("1"))
    assert planned is not None and planned.tmp.read_bytes() == b"id,text\n2,b"


def test_every_row_removed_leaves_the_header(tmp_path: Path) -> None:
    planned = plan(tmp_path / "f.csv", b"id,text\n1,a\n", remove_ids("1"))
    assert planned is not None and planned.tmp.read_bytes() == b"id,text\n"
    assert pl.read_csv(planned.tmp, infer_schema=False).height == 0


def test_nothing_to_remove_writes_nothing(tmp_path: Path) -> None:
    assert plan(tmp_path / "f.csv", b"id,text\n1,a\n", remove_ids("9")) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


def test_a_ragged_file_is_refused_without_its_values(tmp_path: Path) -> None:
    with pytest.raises(landing.RawRewriteError) as err:
        plan(tmp_path / "f.csv", b"id,text\n1,secret-value,extra\n", remove_ids("1"))
    assert "secret-value" not in str(err.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.csv"]


@pytest.mark.parametrize("batch", [2, 200_000])
def test_a_matcher_naming_owners_counts_removed_rows_per_owner(
        tmp_path: Path, batch: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """An erasure batch's matcher gives, per row, the request it is counted for (null keeps
    the row): the same records go, and the plan counts them per owner and place."""
    monkeypatch.setattr(landing, "REWRITE_BATCH_ROWS", batch)
    owners = {"1": 0, "3": 1, "4": 0}

    def owned(frame: pl.DataFrame, entity) -> pl.Series:
        return frame["id"].replace_strict(owners, default=None, return_dtype=pl.Int64)

    data = b"id,text\n1,a\n2,b\n3,c\n4,d\n5,e\n"
    planned = plan(tmp_path / "f.csv", data, owned)
    assert planned is not None and planned.tmp.read_bytes() == b"id,text\n2,b\n5,e\n"
    assert (planned.rows_removed, planned.new_rows, planned.owners) == (3, 2, {0: 2, 1: 1})
    rewrite = landing.RewritePlan([planned])
    assert rewrite.counts_by_owner() == {0: {"landing:claims/claims": 2},
                                         1: {"landing:claims/claims": 1}}
    assert rewrite.counts() == {"landing:claims/claims": 3}


def test_the_removed_rows_are_held_without_their_batches(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plan keeps the removed rows (for the gate's fingerprints), one or two per batch here:
    their own bytes only. Kept as views, they held every batch of the file (0.3 GiB of the
    contracts extract at 1M contracts)."""
    monkeypatch.setattr(landing, "REWRITE_BATCH_ROWS", 1_000)
    rows = b"".join(b"%d,a text long enough to be held in a data buffer %08d\n" % (i, i)
                    for i in range(20_000))
    planned = plan(tmp_path / "f.csv", b"id,text\n" + rows,
                   remove_ids(*(str(i) for i in range(0, 20_000, 999))))
    assert planned is not None and planned.removed.height == 21
    assert buffer_bytes(planned.removed) < 4_000  # the file's text is over 1 MB


def _line_records(data: bytes) -> list[bytes]:
    """The records as the earlier line-by-line reader cut them (the reference): each physical
    line without its `\\n`, joined to the next while its quotes are unbalanced."""
    out, pending, quotes = [], [], 0
    for line in io.BytesIO(data):  # a binary file's lines end at \n only
        body = line[:-1] if line.endswith(b"\n") else line
        pending.append(body)
        quotes += body.count(b'"')
        if quotes % 2 == 0:
            out.append(b"\n".join(pending))
            pending, quotes = [], 0
    if pending:
        raise landing.RawRewriteError("unbalanced")
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b"a", b",", b'"', b"\n", b"\r", b"\xc3\xa9", b'""']),
                max_size=60).map(b"".join),
       st.integers(1, 9))
def test_records_are_cut_where_the_line_reader_cut_them(data: bytes, chunk: int) -> None:
    """Cut with numpy a chunk at a time (as small as one byte here), the records are those of
    the line-by-line reader, with the same refusal of unbalanced quotes."""
    try:
        expected = _line_records(data)
    except landing.RawRewriteError:
        with pytest.raises(landing.RawRewriteError):
            list(landing._record_runs(io.BytesIO(data), chunk))
        return
    got = [buf[a:b] for buf, starts, ends in landing._record_runs(io.BytesIO(data), chunk)
           for a, b in zip(starts.tolist(), ends.tolist(), strict=True)]
    assert got == expected


@pytest.mark.parametrize("chunk", [1, 4, 1 << 22])
@pytest.mark.parametrize("rows", [1, 2, 3, 50_000])
def test_batches_are_the_file_cut_in_rows(tmp_path: Path, chunk: int, rows: int,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(landing, "RECORD_CHUNK_BYTES", chunk)
    path = tmp_path / "f.csv"
    path.write_bytes(b'id,text\n1,"two\nlines"\n2,x\n3,"a ""quote"""\n4,\n5,y')
    batches = list(landing.read_raw_csv_batches(path, rows))
    assert [b.height for b in batches[:-1]] == [rows] * (len(batches) - 1)
    assert pl.concat(batches).equals(pl.read_csv(path, infer_schema=False))
    path.write_bytes(b"id,text\n")
    assert [b.height for b in landing.read_raw_csv_batches(path, rows)] == [0]

"""Rows kept from a large batch hold their own bytes, not the batch's (transforms/frames.py).

Why: polars' string columns are views into shared buffers, so the few rows an erasure or a
subject's index keeps of each 50,000-row batch kept the whole file alive (0.3 GiB of the
contracts extract at 1M contracts, in the rights step, and ten times that at 10M).
"""

from __future__ import annotations

from datetime import date

import polars as pl

from transforms.frames import buffer_bytes, owned


def _batch(rows: int = 100_000) -> pl.DataFrame:
    return pl.DataFrame({
        "text": [f"a value long enough not to be inlined {i:08d}" for i in range(rows)],
        "number": list(range(rows)),
        "day": [date(2026, 11, 26)] * rows,
        "kind": pl.Series(["a", "b"] * (rows // 2), dtype=pl.Categorical),
    })


def test_a_few_rows_of_a_batch_hold_the_whole_batch_unless_owned() -> None:
    batch = _batch()
    few = batch.filter(pl.col("number") % 25_000 == 0)
    assert few.height == 4
    assert buffer_bytes(few) > buffer_bytes(batch) / 2  # the views keep the batch's text
    kept = owned(few)
    assert kept.equals(few) and kept.schema == few.schema
    assert buffer_bytes(kept) < 2_000


def test_owned_keeps_nulls_and_empty_frames() -> None:
    frame = pl.DataFrame({"text": ["x" * 40, None], "number": [None, 2]})
    assert owned(frame).equals(frame)
    empty = frame.clear()
    assert owned(empty).schema == empty.schema and owned(empty).is_empty()

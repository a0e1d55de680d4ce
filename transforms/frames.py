"""Keeping a few rows of a large batch without keeping the batch.

Why: a polars string column is a column of *views* into shared data buffers. A filter or a
gather of a few rows copies the views, not the bytes, so the few rows keep every buffer of
the batch they came from alive. Code that reads a file in batches and keeps, from each batch,
the rows it matched (an erasure's removed rows, the raw rows linked to a request) then holds
the whole file after all: at 1M contracts the erasure's rewrite plan kept 0.3 GiB of the
contracts extract alive for a few hundred removed rows, and the subject index as much again;
at 10M, ten times that. `owned` copies the rows out, so that the batch can go.
"""

from __future__ import annotations

import polars as pl


def owned(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of `frame` whose columns hold their own rows' bytes only (same schema, same
    rows): an Arrow round trip, which writes each string into a new buffer."""
    if frame.is_empty():
        return frame.clear()
    return pl.DataFrame(pl.from_arrow(frame.to_arrow()), schema=frame.schema)


def buffer_bytes(frame: pl.DataFrame) -> int:
    """Bytes of every buffer `frame` keeps alive, the shared ones whole: what `owned` saves is
    the difference. Read through Arrow's zero-copy export (polars' views as Arrow's)."""
    table = frame.to_arrow(compat_level=pl.CompatLevel.newest())
    return sum(buf.size for column in table.columns for chunk in column.chunks
               for buf in chunk.buffers() if buf is not None)

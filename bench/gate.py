"""Time the gate over synthetic marts of a given size: `python bench/gate.py 50000 1000000`.

Why synthetic: the gate's cost depends on the marts' sizes and on how many raw values and
foreign pseudonyms it compares against, not on where the rows came from. For a book of N
contracts this makes row-level marts of N rows, about 13 known raw values per contract (the
direct identifiers of contracts, claims and quotes in their raw and normalised forms) and three
foreign pseudonyms per contract, then runs the whole gate, Great Expectations and Data Docs
included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # synthetic_marts

from expectations.known_values import KnownValues, fold

KNOWN_PER_CONTRACT = 13
FOREIGN_PER_CONTRACT = 3


def fake_known_values(contracts: int) -> KnownValues:
    """Identifier-shaped strings in the numbers a book of this size delivers."""
    i = pl.int_range(0, contracts, eager=True).cast(pl.String)
    forms = [
        "user" + i + "@example.com", "+4477" + i.str.zfill(8), "077" + i.str.zfill(8),
        "OPW-" + i.str.zfill(7), "C" + i.str.zfill(8), "CLM-" + i.str.zfill(8),
        "WVWZZZ1J" + i.str.zfill(9), "GB82WEST" + i.str.zfill(14), i.str.zfill(5) + " High Street",
        "AB" + i.str.zfill(5), "Q" + i.str.zfill(9), "TX" + i.str.zfill(10),
        "anna" + i + "ford",
    ][:KNOWN_PER_CONTRACT]
    values = pl.concat([s.rename("v") for s in forms])
    return KnownValues(pl.DataFrame({"v": values}).select(fold(pl.col("v")))["v"])


def fake_foreign(contracts: int) -> dict[str, pl.Series]:
    con = duckdb.connect()
    try:
        n = contracts * FOREIGN_PER_CONTRACT
        p = con.sql(f"select sha256('foreign' || i) as p from range({n}) t(i)").pl()["p"]
    finally:
        con.close()
    return {"actuarial": p, "marketing": p}


def bench(rows: int, workdir: Path) -> dict[str, float]:
    from synthetic_marts import synthetic_marts

    from expectations.gate import run_gate

    warehouse = workdir / f"bench-{rows}.duckdb"
    t0 = time.perf_counter()
    made = synthetic_marts(warehouse, rows=rows)
    t1 = time.perf_counter()
    known, foreign = fake_known_values(rows), fake_foreign(rows)
    t2 = time.perf_counter()
    result = run_gate(warehouse, known_values=known, foreign_pseudonyms=foreign,
                      gx_root=workdir / f"gx-{rows}")
    t3 = time.perf_counter()
    assert result.passed, result.summary()
    return {"rows": rows, "mart_rows": sum(made.values()), "known_values": len(known),
            "make_marts_s": t1 - t0, "make_inputs_s": t2 - t1, "gate_s": t3 - t2}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/gate.py")
    parser.add_argument("rows", type=int, nargs="+", help="contracts (row-level mart rows)")
    args = parser.parse_args(argv)
    t = time.perf_counter()
    import great_expectations  # noqa: F401  (imported once; timed apart from the gate)

    print(f"import great_expectations: {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as tmp:
        for rows in args.rows:
            r = bench(rows, Path(tmp))
            print(f"{r['rows']:>9} contracts: {r['mart_rows']:>9} mart rows, "
                  f"{r['known_values']:>9} known values, gate {r['gate_s']:.1f} s "
                  f"(marts made in {r['make_marts_s']:.1f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

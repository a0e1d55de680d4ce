"""Time the gate over synthetic marts of a given size: `python bench/gate.py 50000 1000000`.

Why synthetic: the gate's cost depends on the marts' sizes and on how many raw values and
foreign pseudonyms it compares against, not on where the rows came from. For a book of N
contracts this makes row-level marts of N rows, about 13 known raw values per contract (the
direct identifiers of contracts, claims and quotes in their raw and normalised forms) and three
foreign pseudonyms per contract, then runs the whole gate, Great Expectations and Data Docs
included. As in the pipeline, the raw values are fingerprinted into the warehouse (as the ingest
does, transforms/ingest/fingerprints.py) and the pseudonyms sit in `pseudo_*` tables; the gate joins
against both in DuckDB. The peak RSS of this process is printed with the time.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))  # synthetic_marts

from expectations.known_values import KnownValues, fold
from expectations.pseudonyms import WarehousePseudonyms
from transforms.ingest.fingerprints import FINGERPRINT, SCHEMA, with_fingerprint
from transforms.privacy.keys import FINGERPRINT_DOMAIN, DomainKeys

KNOWN_PER_CONTRACT = 13
FOREIGN_PER_CONTRACT = 3


def fake_known_values(contracts: int) -> pl.Series:
    """Identifier-shaped strings in the numbers a book of this size delivers, folded."""
    i = pl.int_range(0, contracts, eager=True).cast(pl.String)
    forms = [
        "user" + i + "@example.com", "+4477" + i.str.zfill(8), "077" + i.str.zfill(8),
        "OPW-" + i.str.zfill(7), "C" + i.str.zfill(8), "CLM-" + i.str.zfill(8),
        "WVWZZZ1J" + i.str.zfill(9), "GB82WEST" + i.str.zfill(14), i.str.zfill(5) + " High Street",
        "AB" + i.str.zfill(5), "Q" + i.str.zfill(9), "TX" + i.str.zfill(10),
        "anna" + i + "ford",
    ][:KNOWN_PER_CONTRACT]
    values = pl.concat([s.rename("v") for s in forms])
    return pl.DataFrame({"v": values}).select(fold(pl.col("v")))["v"]


def write_inputs(warehouse: Path, contracts: int, keys: DomainKeys) -> None:
    """The fingerprints the ingest would have written, and other domains' pseudonyms."""
    key = keys.hmac_key(FINGERPRINT_DOMAIN)
    con = duckdb.connect(str(warehouse))
    try:
        prints = with_fingerprint(pl.DataFrame({"v": fake_known_values(contracts)}), "v",
                                  key).select(*FINGERPRINT,
                                              chars=pl.col("v").str.len_chars().cast(pl.Int32))
        con.execute(f"create schema {SCHEMA}")
        con.register("_prints", prints.to_arrow())
        con.execute(f"create table {SCHEMA}.bench__values as select * from _prints")
        con.unregister("_prints")
        n = contracts * FOREIGN_PER_CONTRACT
        con.execute("create schema pseudo_bench")
        con.execute(f"create table pseudo_bench.keys as select sha256('foreign' || i) as p "
                    f"from range({n}) t(i)")
    finally:
        con.close()


def bench(rows: int, workdir: Path) -> dict[str, float]:
    from synthetic_marts import synthetic_marts

    from expectations.gate import run_gate

    warehouse = workdir / f"bench-{rows}.duckdb"
    keys = DomainKeys.derive(os.urandom(32))
    t0 = time.perf_counter()
    made = synthetic_marts(warehouse, rows=rows)
    t1 = time.perf_counter()
    write_inputs(warehouse, rows, keys)
    known = KnownValues.from_warehouse(warehouse, keys)
    foreign = WarehousePseudonyms(warehouse, [("pseudo_bench", "keys", "p")])
    t2 = time.perf_counter()
    result = run_gate(warehouse, known_values=known,
                      foreign_pseudonyms={"actuarial": foreign, "marketing": foreign},
                      gx_root=workdir / f"gx-{rows}")
    t3 = time.perf_counter()
    assert result.passed, result.summary()
    return {"rows": rows, "mart_rows": sum(made.values()), "known_values": len(known),
            "make_marts_s": t1 - t0, "make_inputs_s": t2 - t1, "gate_s": t3 - t2,
            "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20}


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
                  f"(marts made in {r['make_marts_s']:.1f} s), peak RSS so far "
                  f"{r['peak_rss_gib']:.2f} GiB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

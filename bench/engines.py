"""Both engines' ingest on one book: wall time and peak memory of the whole process tree.

`python bench/engines.py 100000` generates a book of that many contracts (3 days) in a
temporary folder, then runs, each in its own child process so that memory is measured
separately, the DuckDB ingest (transforms/ingest/run.py) and the Spark ingest
(transforms/ingest/spark_load.py, `local[2]` unless PIPELINE_SPARK_MASTER says otherwise),
and prints seconds, peak RSS of the child and its descendants (the JVM and Python workers
included) and rows loaded. The dbt build on Spark is not in it yet (docs/scale-out.md).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHILD = """
import sys
from pathlib import Path
sys.path.insert(0, {root!r})
from transforms.privacy.keys import load_domain_keys
engine, landing, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
keys = load_domain_keys()
if engine == "duckdb":
    from transforms.ingest.run import ingest
    reports = ingest(landing, out / "warehouse.duckdb", out / "q-duckdb", keys)
else:
    from transforms.ingest.spark_load import ingest_spark
    reports = ingest_spark(landing, out / "q-spark", keys, warehouse=str(out / "spark-wh"))
print("LOADED", sum(r.rows_loaded for r in reports))
"""


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measure(engine: str, landing: Path, out: Path) -> tuple[float, int, str]:
    """Seconds, peak tree RSS (bytes) and rows loaded of one engine's ingest."""
    start = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(root=str(ROOT)), engine,
                              str(landing), str(out)], stdout=subprocess.PIPE, text=True)
    proc, peak = psutil.Process(child.pid), 0
    while child.poll() is None:
        peak = max(peak, tree_rss(proc))
        time.sleep(0.2)
    elapsed = time.perf_counter() - start
    output = child.stdout.read() if child.stdout else ""
    if child.returncode:
        raise SystemExit(f"{engine} ingest failed ({child.returncode})")
    loaded = next((line.split()[1] for line in output.splitlines()
                   if line.startswith("LOADED")), "?")
    return elapsed, peak, loaded


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("contracts", type=int, nargs="?", default=10_000)
    parser.add_argument("--days", type=int, default=3)
    args = parser.parse_args()
    from transforms.sources.generate import generate_book

    os.environ.setdefault("PIPELINE_MASTER_KEY", os.urandom(32).hex())
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp:
        base = Path(tmp)
        os.environ["PIPELINE_DATA_DIR"] = str(base / "data")
        generate_book(base / "landing", args.contracts, args.days, date(2026, 11, 26), 42,
                      truth_dir=base / "truth")
        print(f"{args.contracts} contracts, {args.days} days; load average "
              f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for engine in ("duckdb", "spark"):
            seconds, peak, loaded = measure(engine, base / "landing", base)
            print(f"{engine:7s} ingest {seconds:7.1f} s  peak {peak / 2**30:5.2f} GiB  "
                  f"rows loaded {loaded}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

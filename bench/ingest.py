"""Ingest against DuckDB's own CSV reader, on the same landing files, in one run.

Why: the pipeline's ingest (validate, quarantine, minimise, pseudonymise, load) should cost a
small multiple of what DuckDB needs just to load the same CSVs (issue 12 asks for at least a
quarter of its rows per second). Prints, side by side: DuckDB `create table ... as select *
from read_csv(...)` per file (rows/s), the pipeline's `transforms.ingest.run.ingest` of the same
deliveries (rows/s, the ratio, CPU utilisation of the 2 cores, peak RSS), each in its own
process so that its peak is its own; with `--profile`, where the pipeline's time goes
(cProfile, the transforms functions by cumulative time). Figures, not assertions.

    uv run python bench/ingest.py [--contracts 100000] [--landing DIR] [--systems policy_admin]
                                  [--profile]

Without `--landing`, a book of `--contracts` contracts (3 days up to 2026-11-26, seed 42) is
generated into a temporary folder first (about 4 rows per contract; not timed).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Each measurement runs in a child process; it prints one JSON line.
_CHILD_PRELUDE = """
import json, os, sys, time, resource
sys.path.insert(0, {root!r})
def _finish(out, t, c):
    out["wall"] = time.perf_counter() - t
    out["cpu"] = time.process_time() - c
    hwm = [line for line in open("/proc/self/status") if line.startswith("VmHWM")][0]
    out["peak_mb"] = int(hwm.split()[1]) / 1024
    print("RESULT " + json.dumps(out))
"""

_DUCKDB = _CHILD_PRELUDE + """
import duckdb
from pathlib import Path
files = [Path(p) for p in json.loads(os.environ["BENCH_FILES"])]
con = duckdb.connect(os.environ["BENCH_DB"])
con.execute("set enable_progress_bar = false")
t, c = time.perf_counter(), time.process_time()
rows = 0
for i, f in enumerate(files):
    con.execute(f"create table t{{i}} as select * from read_csv('{{f}}')")
    rows += con.execute(f"select count(*) from t{{i}}").fetchall()[0][0]
con.close()
_finish({{"rows": rows}}, t, c)
"""

_PIPELINE = _CHILD_PRELUDE + """
from pathlib import Path
from transforms.ingest.run import ingest
from transforms.privacy.keys import DomainKeys
systems = json.loads(os.environ["BENCH_SYSTEMS"]) or None
tmp = Path(os.environ["BENCH_OUT"])
keys = DomainKeys.derive(os.urandom(32))
args = (Path(os.environ["BENCH_LANDING"]), tmp / "warehouse.duckdb", tmp / "quarantine", keys)
t, c = time.perf_counter(), time.process_time()
if os.environ.get("BENCH_PROFILE"):
    import cProfile, pstats, io
    prof = cProfile.Profile()
    reports = prof.runcall(ingest, *args, systems=systems)
    stream = io.StringIO()
    stats = pstats.Stats(prof, stream=stream).sort_stats("cumulative")
    stats.print_stats(r"transforms", 30)
    print(stream.getvalue())
else:
    reports = ingest(*args, systems=systems)
_finish({{"rows": sum(r.rows_read for r in reports),
          "loaded": sum(r.rows_loaded for r in reports),
          "quarantined": sum(r.rows_quarantined for r in reports)}}, t, c)
"""


def _child(code: str, env: dict[str, str]) -> dict:
    out = subprocess.run([sys.executable, "-c", code.format(root=str(ROOT))],
                         env={**os.environ, **env}, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"benchmark child failed:\n{out.stderr[-3000:]}")
    for line in out.stdout.splitlines():
        if not line.startswith("RESULT "):
            print(line)
    result = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")][-1]
    return json.loads(result.removeprefix("RESULT "))


def _files(landing: Path, systems: list[str]) -> list[Path]:
    return sorted(p for p in landing.glob("*/*/*.csv")
                  if not systems or p.parent.parent.name in systems)


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _line(name: str, r: dict) -> str:
    return (f"{name:<22}{r['rows']:>11,}{r['wall']:>9.1f}{r['rows'] / r['wall']:>12,.0f}"
            f"{r['cpu'] / r['wall'] / 2:>9.0%}{r['peak_mb']:>9.0f}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contracts", type=int, default=100_000)
    parser.add_argument("--landing", type=Path, help="reuse this landing zone (not generated)")
    parser.add_argument("--systems", nargs="*", default=[])
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp_dir:
        tmp = Path(tmp_dir)
        landing = args.landing
        if landing is None:
            landing = tmp / "landing"
            subprocess.run([sys.executable, "-m", "transforms.sources.generate", "--out",
                            str(landing), "--contracts", str(args.contracts), "--days", "3",
                            "--as-of", "2026-11-26", "--seed", "42"], cwd=ROOT, check=True,
                           capture_output=True)
        files = _files(landing, args.systems)
        size = sum(f.stat().st_size for f in files) / 1e6
        print(f"ingest vs DuckDB read_csv: {len(files)} files, {size:.0f} MB "
              f"({'all systems' if not args.systems else ', '.join(args.systems)})")
        print(f"{'':<22}{'rows':>11}{'wall s':>9}{'rows/s':>12}{'CPU/2':>9}{'peak MB':>9}")
        print(f"load average before: {_load()}")
        duck = _child(_DUCKDB, {"BENCH_FILES": json.dumps([str(f) for f in files]),
                                "BENCH_DB": str(tmp / "read_csv.duckdb")})
        print(_line("duckdb read_csv", duck), flush=True)
        (tmp / "out").mkdir()
        env = {"BENCH_LANDING": str(landing), "BENCH_OUT": str(tmp / "out"),
               "BENCH_SYSTEMS": json.dumps(args.systems)}
        if args.profile:
            env["BENCH_PROFILE"] = "1"
        pipe = _child(_PIPELINE, env)
        print(_line("pipeline ingest", pipe)
              + f"   loaded {pipe['loaded']:,}, quarantined {pipe['quarantined']:,}")
        print(f"load average after: {_load()}")
        ratio = (pipe["rows"] / pipe["wall"]) / (duck["rows"] / duck["wall"])
        print(f"pipeline / read_csv rows per second: {ratio:.2f} (target >= 0.25); the pipeline "
              f"takes {pipe['wall'] / duck['wall']:.1f}x DuckDB's load time")
        print(f"ratio: ingest / DuckDB read_csv rows per second {ratio:.2f} (target >= 0.25); "
              f"ingest {pipe['cpu'] / pipe['wall']:.2f} cores busy, peak {pipe['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()

"""Every ratio issue 12 asks for, in one run (`make bench`, under 10 minutes on 2 cores).

    uv run python bench/all.py [--ingest-contracts 100000] [--incremental-contracts 50000]

Runs, one after the other and each in its own process (so that one's memory does not count in
the next's):

1. bench/pseudonymise.py on 1M values of each identifier type: the engine (normalise + HMAC)
   against `openssl speed -multi 2 -hmac sha256` and a plain Python `hmac` loop;
2. bench/ingest.py: the pipeline's ingest against DuckDB's own `read_csv` of the same files;
3. bench/incremental.py: full vs no-op vs one-new-day runs through the real DAGs, with each
   DAG's CPU seconds, cores kept busy and peak RSS of its process tree (the stages' memory).

Each prints its full table as it goes; the lines they mark `ratio:` are gathered at the end,
with each part's wall time and the load average (figures from a shared machine are only
comparable at a similar load).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MARK = "ratio:"
BUDGET_SECONDS = 600


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def _run(title: str, argv: list[str]) -> tuple[float, list[str]]:
    """Run one bench, echoing its output; return its wall seconds and its `ratio:` lines."""
    print(f"\n=== {title} ({' '.join(argv)})", flush=True)
    started = time.perf_counter()
    marked: list[str] = []
    with subprocess.Popen([sys.executable, *argv], cwd=ROOT, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            if line.startswith(MARK):
                marked.append(line[len(MARK):].strip())
    if proc.returncode:
        sys.exit(f"{title} failed (exit {proc.returncode})")
    return time.perf_counter() - started, marked


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench/all.py")
    parser.add_argument("--ingest-contracts", type=int, default=100_000)
    parser.add_argument("--incremental-contracts", type=int, default=50_000)
    parser.add_argument("--identifiers", type=int, default=1_000_000)
    args = parser.parse_args(argv)
    load_before = _load()
    started = time.perf_counter()
    parts = [
        ("pseudonymisation: engine vs openssl vs Python loop",
         ["bench/pseudonymise.py", "--sizes", str(args.identifiers), "--memory-rows", "0"]),
        ("ingest vs DuckDB read_csv",
         ["bench/ingest.py", "--contracts", str(args.ingest_contracts)]),
        ("full vs no-op vs one new day, CPU and peak RSS per DAG",
         ["bench/incremental.py", str(args.incremental_contracts)]),
    ]
    results = [(title, *_run(title, command)) for title, command in parts]
    total = time.perf_counter() - started
    print(f"\n=== ratios (load average before {load_before}, after {_load()}; "
          f"{os.cpu_count()} cores)")
    for title, seconds, marked in results:
        print(f"{title} ({seconds:.0f} s):")
        for line in marked:
            print(f"  {line}")
    within = "within" if total <= BUDGET_SECONDS else "OVER"
    print(f"make bench: {total:.0f} s, {within} the {BUDGET_SECONDS // 60}-minute budget")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

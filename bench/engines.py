"""Both engines on one book, stage by stage: wall time, CPU and peak memory, against a baseline.

Why: users choosing `PIPELINE_ENGINE` need to know where Spark starts to pay on one machine and
how its path scales with executors (issue 15). The DAGs' own task functions
(transforms/operations/) run in one child process per engine, stage after stage as a run does
them: the ingest of every system, subject requests + retention + compaction, `dbt build` (its
data tests included, as the DAG runs it), the gate and publish. The parent samples the summed RSS
and CPU time of the child and all its descendants (the JVM and Spark's Python workers
included), and charges each sample to the stage the child announced. The baseline, measured in
the same run on the same files: DuckDB's own `read_csv` of every landing CSV
(bench/ingest.py), so that the figures read as multiples of "just loading the CSVs".

    uv run python bench/engines.py [--contracts 250000] [--days 3] [--landing DIR]
                                   [--masters 'local[2]' 'local[1]'] [--skip duckdb]

A book of `--contracts` contracts and `--days` daily deliveries (about 4 rows per contract at 3
days: 250,000 contracts is about 1M rows) is generated first (not timed). Each Spark master in
`--masters` is a separate run: `local[1]` against `local[2]` shows what a second executor core
buys. Both engines' publications are compared at the end (same files, same rows), so a
benchmark that measured a broken run says so. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.ingest import _DUCKDB, _child, _files  # noqa: E402  (after the path is set)

AS_OF = "2026-11-26"
SAMPLE_SECONDS = 0.25
MARKER = re.compile(r"^STAGE (?P<stage>.+) (?P<at>[0-9.]+)$")

# One engine's run of the pipeline's stages; prints "STAGE <name>" before each and
# "RESULT {...}" at the end. The task functions read PIPELINE_* from the environment.
_STAGES = """
import json, sys, time
sys.path.insert(0, {root!r})
as_of = sys.argv[1]
from transforms import settings
from transforms.operations.rights_tasks import (apply_retention_rules,
    compact_if_anything_removed, process_subject_requests)
from transforms.operations.tasks import build_marts, gate_marts, publish_marts, ingest_system
from transforms.sources.deliveries import SYSTEMS
out = {{}}
def stage(name, fn):
    print("\\nSTAGE", name, time.time(), flush=True)  # own line: dbt's may lack its newline
    out[name] = fn()
try:
    stage("ingest", lambda: sum(ingest_system(s, as_of)["rows_loaded"] for s in SYSTEMS))
    stage("rights + retention", lambda: (process_subject_requests(as_of),
                                         apply_retention_rules(as_of),
                                         compact_if_anything_removed()) and None)
    stage("dbt build", lambda: build_marts(as_of) and None)
    stage("gate", lambda: gate_marts()["checks"])
    stage("publish", lambda: {{k: v for k, v in publish_marts("bench").items()
                               if k in ("publication", "tables")}})
finally:
    if settings.engine() == "spark":
        from transforms.engines.spark_session import stop_spark_session
        stop_spark_session()
print("\\nSTAGE end", time.time(), flush=True)
print("\\nRESULT " + json.dumps(out, default=str), flush=True)
"""


@dataclass
class Stage:
    seconds: float = 0.0
    cpu: float = 0.0
    peak: int = 0


@dataclass
class Run:
    name: str
    stages: dict[str, Stage] = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    wall: float = 0.0
    cpu: float = 0.0


def _sample(proc: psutil.Process, cpu: dict[int, float]) -> int:
    """Summed RSS of the tree now; each live process's CPU seconds so far, by pid."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
            t = p.cpu_times()
            cpu[p.pid] = t.user + t.system + t.children_user + t.children_system
    return total


def run_engine(name: str, env: dict[str, str], log: Path) -> Run:
    """One child running every stage; per stage: wall seconds (the child's own clock at each
    stage marker), CPU seconds and peak RSS of the whole tree (sampled here, charged to the
    stage whose marker was last seen; the last stage gets the rest of the tree's CPU, read
    from the kernel's accounting of the waited-for child)."""
    run = Run(name)
    other_keys = ("PIPELINE_MASTER_KEY_FILE", "AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY")
    inherited = {k: v for k, v in os.environ.items() if k not in other_keys}  # env's key only
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    # a script file: its __main__ is a real one (expectations/main_module.py says why it matters)
    script = log.with_name("bench_stages.py")
    script.write_text(_STAGES.format(root=str(ROOT)))
    child = subprocess.Popen([sys.executable, str(script), AS_OF],
                             env={**inherited, **env}, stdout=subprocess.PIPE,
                             stderr=log.open("w"), text=True, errors="replace", cwd=ROOT)
    markers: list[tuple[str, float]] = []  # (stage, the child's time.time() at its start)
    lines: list[str] = []

    def read() -> None:
        assert child.stdout is not None
        for line in child.stdout:
            if marker := MARKER.match(line):
                markers.append((marker["stage"], float(marker["at"])))
            else:
                lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc, cpu = psutil.Process(child.pid), {}
    started, seen, stage, charged = time.perf_counter(), 0, "start", 0.0
    while child.poll() is None:
        rss = _sample(proc, cpu)
        while seen < len(markers):  # stages that started since the last sample
            used = sum(cpu.values())
            run.stages.setdefault(stage, Stage()).cpu += used - charged
            stage, charged, seen = markers[seen][0], used, seen + 1
        s = run.stages.setdefault(stage, Stage())
        s.peak = max(s.peak, rss)
        time.sleep(SAMPLE_SECONDS)
    reader.join()
    log.with_suffix(".stdout").write_text("".join(lines))
    run.wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    total_cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    run.stages.setdefault(stage, Stage()).cpu += max(0.0, total_cpu - charged)
    run.cpu = max(total_cpu, sum(s.cpu for s in run.stages.values()))
    for (stage_name, at), (_, end) in zip(markers, markers[1:], strict=False):
        run.stages.setdefault(stage_name, Stage()).seconds = end - at
    for gone in ("start", "end"):
        run.stages.pop(gone, None)
    if child.returncode:
        tail = [ln for ln in log.read_text(errors="replace").splitlines()
                if "WARN SparkSession" not in ln][-20:]
        raise SystemExit(f"{name}: the run failed (exit {child.returncode}); the end of its "
                         f"log ({log}, kept with --keep):\n" + "\n".join(tail))
    result = [ln for ln in lines if ln.startswith("RESULT ")]
    if not result or [m[0] for m in markers][-1:] != ["end"]:
        raise SystemExit(f"{name}: the run stopped before its last stage; its log: {log}")
    run.result = json.loads(result[-1].removeprefix("RESULT "))
    return run


def publication_digest(run: Run) -> dict[str, str]:
    """Each mart's published row count and the SHA-256 of each Parquet extract (publish writes
    them in a total order, so equal data is equal bytes on both engines)."""
    published = run.result.get("publish") or {}
    extracts = Path(published.get("publication", "/nonexistent")) / "extracts"
    digest = {f"rows {k}": str(v) for k, v in sorted(published.get("tables", {}).items())}
    digest.update({p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                   for p in sorted(extracts.glob("*.parquet"))})
    return digest


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--contracts", type=int, default=250_000)
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--landing", type=Path, help="reuse this landing zone (not generated)")
    parser.add_argument("--masters", nargs="+", default=["local[2]"],
                        help="Spark masters to run, each a separate run (default: local[2])")
    parser.add_argument("--skip", nargs="*", default=[], choices=["duckdb", "spark"])
    parser.add_argument("--keep", type=Path, help="keep every run's data directory here")
    args = parser.parse_args()
    key = os.environ.get("PIPELINE_MASTER_KEY") or os.urandom(32).hex()
    with tempfile.TemporaryDirectory(prefix="bench-engines-") as tmp_dir:
        base = args.keep or Path(tmp_dir)
        base.mkdir(parents=True, exist_ok=True)
        landing = args.landing
        if landing is None:
            landing = base / "landing"
            print(f"generating {args.contracts:,} contracts, {args.days} days ...", flush=True)
            subprocess.run([sys.executable, "-m", "transforms.sources.generate", "--out",
                            str(landing), "--contracts", str(args.contracts), "--days",
                            str(args.days), "--as-of", AS_OF, "--seed", "42"], cwd=ROOT,
                           check=True, capture_output=True)
        files = _files(landing, [])
        size = sum(f.stat().st_size for f in files) / 1e6
        print(f"landing: {len(files)} files, {size:.0f} MB; load average "
              f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores",
              flush=True)
        baseline = _child(_DUCKDB, {"BENCH_FILES": json.dumps([str(f) for f in files]),
                                    "BENCH_DB": str(base / "read_csv.duckdb")})
        (base / "read_csv.duckdb").unlink(missing_ok=True)
        print(f"baseline: DuckDB read_csv of every landing CSV: {baseline['rows']:,} rows in "
              f"{baseline['wall']:.1f} s ({baseline['rows'] / baseline['wall']:,.0f} rows/s)",
              flush=True)
        plans = [] if "duckdb" in args.skip else [("duckdb", {})]
        if "spark" not in args.skip:
            plans += [(f"spark {m}", {"PIPELINE_SPARK_MASTER": m}) for m in args.masters]
        runs: list[Run] = []
        digests: dict[str, dict[str, str]] = {}
        for name, extra in plans:
            data = base / name.replace(" ", "-").replace("[", "").replace("]", "")
            shutil.copytree(landing, data / "landing")  # an erasure rewrites the landing zone
            env = {"PIPELINE_ENGINE": name.split()[0], "PIPELINE_DATA_DIR": str(data),
                   "PIPELINE_SPARK_WAREHOUSE": str(data / "spark-warehouse"),
                   "PIPELINE_MASTER_KEY": key, **extra}
            print(f"{name}: running ...", flush=True)
            run = run_engine(name, env, data / "bench.log")
            runs.append(run)
            digests[name] = publication_digest(run)
            print(_report(run, baseline["wall"]), flush=True)
        print(_summary(runs, baseline, digests))
    return 0


def _report(run: Run, baseline: float) -> str:
    lines = [f"  {'stage':<20}{'wall s':>9}{'CPU s':>9}{'cores':>7}{'peak GiB':>10}"]
    for name, s in run.stages.items():
        lines.append(f"  {name:<20}{s.seconds:>9.1f}{s.cpu:>9.1f}"
                     f"{s.cpu / s.seconds if s.seconds else 0:>7.2f}{s.peak / 2**30:>10.2f}")
    peak = max((s.peak for s in run.stages.values()), default=0)
    lines.append(f"  {'whole run':<20}{run.wall:>9.1f}"
                 f"{run.cpu:>9.1f}{run.cpu / run.wall:>7.2f}{peak / 2**30:>10.2f}"
                 f"   = {run.wall / baseline:.0f}x the read_csv baseline")
    return "\n".join(lines)


def _summary(runs: list[Run], baseline: dict, digests: dict[str, dict[str, str]]) -> str:
    out = ["", f"{'run':<16}{'wall s':>9}{'x read_csv':>12}{'x duckdb':>10}{'peak GiB':>10}"
                f"{'rows loaded':>13}"]
    duck = next((r for r in runs if r.name == "duckdb"), None)
    for r in runs:
        peak = max((s.peak for s in r.stages.values()), default=0)
        ratio = f"{r.wall / duck.wall:.2f}" if duck else "-"
        out.append(f"{r.name:<16}{r.wall:>9.1f}{r.wall / baseline['wall']:>12.0f}{ratio:>10}"
                   f"{peak / 2**30:>10.2f}{r.result.get('ingest', 0):>13,}")
    if len(digests) > 1:
        first, *rest = digests.items()
        same = all(d == first[1] for _, d in rest)
        out.append(f"published marts of every run: {'identical' if same else 'DIFFERENT'} "
                   f"(row counts of every mart, SHA-256 of {len(first[1])} extracts and counts)")
    return "\n".join(out)


if __name__ == "__main__":
    raise SystemExit(main())

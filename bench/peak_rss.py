"""Peak resident memory of a command's whole process tree, per pipeline stage.

`python bench/peak_rss.py -- make run CONTRACTS=1000000` runs the command, samples the summed
RSS of it and all its descendants every `--interval` seconds, and prints the peak overall and
per stage. Why a sampler of our own and not `/usr/bin/time -v`: time reports the largest single
process, while `make run` is a tree (make, bash, uv, Airflow, dbt) whose sum is what the machine
must hold; and we want to know *which* stage peaks.

The stage is the Airflow task running at the time, read from the newest run log under
`data/logs/` (the lines Airflow writes name `task_id=...`, and run_pipeline.sh writes `== ...`
step lines); before the first task it is the last step line.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TASK_ID = re.compile(r"task_id=([A-Za-z_][A-Za-z0-9_]*)")
TASK_DEF = re.compile(r"@task[^\n]*\n\s*def (\w+)\(")


def task_ids() -> set[str]:
    """Every task id of the project's DAGs (the names of the @task functions)."""
    return {m for f in (ROOT / "dags").glob("*.py") for m in TASK_DEF.findall(f.read_text())}


def tree_rss(proc: psutil.Process, cpu: dict[int, float] | None = None) -> int:
    """Summed RSS of a process and all its descendants (processes gone meanwhile are skipped);
    with `cpu`, each one's CPU seconds so far (user + system) are recorded by pid."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        try:
            total += p.memory_info().rss
            if cpu is not None:
                t = p.cpu_times()
                cpu[p.pid] = t.user + t.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return total


class StageTracker:
    """Follows the newest run log (a new one appears when `make run` starts) for stage names."""

    def __init__(self, logs: Path, started: float, tasks: set[str]) -> None:
        self.logs, self.started, self.tasks = logs, started, tasks
        self.path: Path | None = None
        self.offset = 0
        self.stage = "start"

    def poll(self) -> str:
        if self.path is None:
            found = [p for p in self.logs.glob("run-*.log") if p.stat().st_mtime >= self.started]
            if not found:
                return self.stage
            self.path = max(found, key=lambda p: p.stat().st_mtime)
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
            self.offset += len(chunk)
        for line in chunk.decode("utf-8", errors="replace").splitlines():
            if line.startswith("== "):
                self.stage = line[3:].split(":")[0][:60]
            for m in TASK_ID.finditer(line):
                if m.group(1) in self.tasks:
                    self.stage = m.group(1)
        return self.stage


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python bench/peak_rss.py")
    parser.add_argument("--interval", type=float, default=0.25)
    parser.add_argument("--logs", type=Path, default=ROOT / "data" / "logs")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- command ...")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    started = time.time()
    proc = subprocess.Popen(command, cwd=ROOT)
    root = psutil.Process(proc.pid)
    tracker = StageTracker(args.logs, started - 1, task_ids())
    peaks: dict[str, tuple[int, float]] = {}  # stage -> (peak bytes, seconds since start)
    first_seen: dict[str, float] = {}
    # CPU seconds of the tree per stage (each pid's growth since the previous sample, up to its
    # last sample: what a process spends between its last sample and its exit is not seen) and
    # wall seconds per stage: cpu / wall is how many of the cores a stage kept busy
    cpu_seen: dict[int, float] = {}
    cpu_by_stage: dict[str, float] = {}
    wall_by_stage: dict[str, float] = {}
    last = 0.0
    while proc.poll() is None:
        now_cpu: dict[int, float] = {}
        rss = tree_rss(root, now_cpu)
        stage = tracker.poll() if args.logs.is_dir() else "start"
        now = time.time() - started
        first_seen.setdefault(stage, now)
        if rss > peaks.get(stage, (0, 0.0))[0]:
            peaks[stage] = (rss, now)
        grown = sum(max(t - cpu_seen.get(pid, 0.0), 0.0) for pid, t in now_cpu.items())
        cpu_seen.update(now_cpu)
        cpu_by_stage[stage] = cpu_by_stage.get(stage, 0.0) + grown
        wall_by_stage[stage] = wall_by_stage.get(stage, 0.0) + now - last
        last = now
        time.sleep(args.interval)
    wall = time.time() - started
    print(f"\npeak RSS of the process tree by stage ({wall:.0f} s wall, exit {proc.returncode}; "
          f"load average at the end {' '.join(f'{x:.2f}' for x in psutil.getloadavg())}):")
    print(f"  {'stage':<45} {'peak':>10}  {'at':>8}  {'wall':>7}  {'cpu':>7}  cores")
    for stage, (rss, at) in sorted(peaks.items(), key=lambda kv: first_seen[kv[0]]):
        w, c = wall_by_stage.get(stage, 0.0), cpu_by_stage.get(stage, 0.0)
        print(f"  {stage:<45} {rss / 2**30:6.2f} GiB  {at:6.0f} s  {w:5.0f} s  {c:5.0f} s"
              f"  {c / w if w else 0:5.2f}")
    overall = max((v[0] for v in peaks.values()), default=0)
    total_cpu = sum(cpu_by_stage.values())
    print(f"  {'overall':<45} {overall / 2**30:6.2f} GiB  {'':>8}  {wall:5.0f} s  "
          f"{total_cpu:5.0f} s  {total_cpu / wall if wall else 0:5.2f}")
    return proc.returncode or 0


if __name__ == "__main__":
    sys.exit(main())

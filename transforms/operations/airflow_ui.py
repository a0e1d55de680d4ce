"""`make airflow`: this project's Airflow UI and scheduler on 127.0.0.1, stopped on Ctrl-C.

Why a module rather than `airflow standalone`: standalone binds every interface, and SIGTERM to
its parent leaves the scheduler and the API server running (docs/field notes). Here each
component Airflow 3.3 needs (api-server: UI and execution API; scheduler with the
LocalExecutor; dag-processor: parses dags/) is started in its own process group, bound to
loopback, and stopped group by group (SIGTERM, then SIGKILL after a grace period) on Ctrl-C,
SIGTERM, or when any component dies. The scheduler's log server is skipped (the LocalExecutor's
logs are files the API server reads), so nothing listens beyond the one loopback port.

Login: Airflow's simple auth manager, user `admin` (role admin); it writes the generated password
to `$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated`, which is printed as a path,
never the password. DAGs start paused (Airflow's default): unpause one in the UI to schedule it.

    python -m transforms.operations.airflow_ui [--port 8080] [--no-scheduler]

Environment: that of scripts/pipeline_env.sh (AIRFLOW_HOME, DAGs folder, data paths, key).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

HOST = "127.0.0.1"
USER = "admin"
PASSWORDS_FILE = "simple_auth_manager_passwords.json.generated"
STOP_GRACE_SECONDS = 15


@dataclass
class Components:
    """The processes started, one process group each, by name."""

    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def stop(self) -> None:
        """SIGTERM to every group, then SIGKILL to what is still alive after the grace."""
        for proc in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for proc in self.procs.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
        for proc in self.procs.values():
            # the group may outlive its leader (workers, gunicorn/uvicorn children)
            _signal_group(proc, signal.SIGKILL)
            if proc.poll() is None:
                proc.wait()

    def dead(self) -> str | None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return f"{name} exited with status {proc.returncode}"
        return None


def _signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)


def environment(port: int, home: Path) -> dict[str, str]:
    """Airflow's settings for a loopback-only deployment on `port`."""
    base = f"http://{HOST}:{port}"
    return {
        **os.environ,
        "AIRFLOW__API__HOST": HOST,
        "AIRFLOW__API__PORT": str(port),
        "AIRFLOW__API__BASE_URL": base,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{base}/execution/",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": os.environ.get("AIRFLOW__CORE__PARALLELISM", "2"),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": f"{USER}:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(home / PASSWORDS_FILE),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
    }


def commands(scheduler: bool) -> dict[str, list[str]]:
    airflow = [sys.executable, "-m", "airflow"]
    out = {"api-server": [*airflow, "api-server"],
           "dag-processor": [*airflow, "dag-processor"]}
    if scheduler:
        out["scheduler"] = [*airflow, "scheduler", "--skip-serve-logs"]
    return out


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://{HOST}:{port}/api/v2/monitor/health",
                                    timeout=3) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start(port: int, home: Path, *, scheduler: bool = True, log_dir: Path) -> Components:
    """Migrate the metadata database, then start each component in its own process group,
    its output in log_dir/<name>.log."""
    env = environment(port, home)
    log_dir.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    components = Components()
    try:
        for name, cmd in commands(scheduler).items():
            with open(log_dir / f"{name}.log", "ab") as log:
                components.procs[name] = subprocess.Popen(
                    cmd, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                    start_new_session=True)
    except BaseException:
        components.stop()
        raise
    return components


def wait_healthy(components: Components, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not healthy(port):
        if (dead := components.dead()) is not None:
            raise RuntimeError(f"airflow did not come up: {dead}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"airflow did not answer on port {port} within {timeout:.0f} s")
        time.sleep(0.5)


class _Stop(Exception):
    """SIGTERM received: stop like Ctrl-C."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=int(os.environ.get("AIRFLOW_UI_PORT", 8080)))
    parser.add_argument("--no-scheduler", action="store_true",
                        help="the UI only (browse runs; nothing is scheduled)")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    args = parser.parse_args(argv)
    home = Path(os.environ.get("AIRFLOW_HOME", "airflow_home")).resolve()
    # beside the password file: the API server prints the generated password in its log
    log_dir = home / "ui-logs"

    def on_term(signum: int, frame: object) -> None:
        raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    started = time.monotonic()
    components = None
    try:
        components = start(args.port, home, scheduler=not args.no_scheduler, log_dir=log_dir)
        print(f"starting {', '.join(components.procs)} (logs in {log_dir}) ...", flush=True)
        wait_healthy(components, args.port, args.startup_timeout)
        print(f"Airflow UI: http://{HOST}:{args.port}/  (up in "
              f"{time.monotonic() - started:.0f} s)\n"
              f"  user:     {USER}\n"
              f"  password: in {home / PASSWORDS_FILE}\n"
              f"  DAGs start paused: unpause one in the UI to schedule it.\n"
              f"Ctrl-C stops every process started here.", flush=True)
        while (dead := components.dead()) is None:
            time.sleep(1)
        print(f"stopping: {dead}", file=sys.stderr, flush=True)
        return 1
    except (KeyboardInterrupt, _Stop):
        print("stopping airflow ...", flush=True)
        return 0
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if components is not None:
            components.stop()
            print(f"stopped: {', '.join(components.procs)}", flush=True)


if __name__ == "__main__":
    sys.exit(main())

"""The policy-administration system's PostgreSQL server, started and stopped by the project.

Why the project runs its own: the Postgres source path (`make run SOURCE=postgres`, the tests)
must work on a fresh machine with Debian's server package and nothing configured. The server is
a private cluster under a project-local directory (default `data/postgres/`), reachable only
through a Unix socket in that directory (`listen_addresses = ''`: no TCP port at all; socket
mode 0700), with trust authentication for that socket only (`--auth-host=reject`): there is no
password to keep, log or leak. It is stopped after use (`running()` stops it on any exception,
Ctrl-C included; `scripts/run_pipeline.sh` traps EXIT for its `start`/`stop`).

Running as root (CI): PostgreSQL refuses to run as root, so the server's commands run as the
`postgres` system user (Debian's package creates it) and the cluster directory is given to it.
When that user cannot reach the project-local directory (a checkout under a private home), the
cluster goes to a directory of its own under the system's temporary directory, named after the
project path, and that is said on stderr.

    python -m transforms.sources.postgres_server start [BASE]   # prints the libpq DSN
    python -m transforms.sources.postgres_server stop [BASE]
    python -m transforms.sources.postgres_server airflow-conn [BASE]  # AIRFLOW_CONN_... JSON
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from transforms import settings

DATABASE = "policy_admin"
USER = "pipeline"
PORT = 5432  # only names the socket file (.s.PGSQL.5432): the server listens on no TCP port
SERVER_OS_USER = "postgres"  # who runs the server when we are root
# Unix socket paths are limited to 107 bytes; the socket file adds "/.s.PGSQL.5432".
_MAX_SOCKET_DIR = 90


class PostgresServerError(RuntimeError):
    """The server could not be found, initialised, started or stopped (never carries data)."""


@dataclass(frozen=True)
class Server:
    """Where a running (or startable) cluster is, and how to reach it."""

    cluster: Path  # the data directory (initdb's -D)
    socket_dir: Path

    @property
    def dsn(self) -> str:
        """libpq keyword DSN: socket, database and user; no password (trust on the socket)."""
        return f"host={self.socket_dir} port={PORT} dbname={DATABASE} user={USER}"

    def airflow_connection(self) -> str:
        """The Airflow connection (JSON form of AIRFLOW_CONN_POLICY_ADMIN_DB) for this server."""
        return json.dumps({"conn_type": "postgres", "host": str(self.socket_dir), "port": PORT,
                           "login": USER, "schema": DATABASE})


def default_base() -> Path:
    return settings.paths().data / "postgres"


def bin_dir() -> Path:
    """Debian's server binaries (`/usr/lib/postgresql/<major>/bin`, newest major first), or the
    directory named by PIPELINE_POSTGRES_BIN, or wherever `initdb` is on PATH."""
    named = os.environ.get("PIPELINE_POSTGRES_BIN")
    if named:
        return Path(named)
    majors = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                    key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit()
                    else 0, reverse=True)
    if majors:
        return majors[0].parent
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise PostgresServerError(
        "no PostgreSQL server found (initdb): run scripts/install-postgres.sh, or set "
        "PIPELINE_POSTGRES_BIN to the directory holding initdb and pg_ctl")


def _as_root() -> bool:
    return os.geteuid() == 0


def _server_uid() -> tuple[int, int]:
    try:
        entry = pwd.getpwnam(SERVER_OS_USER)
    except KeyError:
        raise PostgresServerError(
            f"running as root, but there is no '{SERVER_OS_USER}' user to run the server as "
            "(scripts/install-postgres.sh installs Debian's package, which creates it)") from None
    return entry.pw_uid, entry.pw_gid


def _reachable_by(path: Path, uid: int, gid: int) -> bool:
    """Whether a user can traverse every existing directory above `path`."""
    for parent in path.resolve().parents:
        if not parent.exists():
            continue  # created later by us, with the usual mode 0755
        st = parent.stat()
        mode = st.st_mode
        if st.st_uid == uid:
            ok = mode & 0o100
        elif st.st_gid == gid:
            ok = mode & 0o010
        else:
            ok = mode & 0o001
        if not ok:
            return False
    return True


def locate(base: Path | None = None) -> Server:
    """The cluster and socket directories for `base` (nothing is created)."""
    base = Path(base or default_base()).resolve()
    home = base
    if _as_root():
        uid, gid = _server_uid()
        if not _reachable_by(base / "x", uid, gid):
            digest = hashlib.sha256(str(base).encode()).hexdigest()[:12]
            home = Path(tempfile.gettempdir()) / f"pipeline-postgres-{digest}"
    socket_dir = home / "run"
    if len(str(socket_dir)) > _MAX_SOCKET_DIR:
        digest = hashlib.sha256(str(home).encode()).hexdigest()[:12]
        socket_dir = Path(tempfile.gettempdir()) / f"pipeline-pg-sock-{digest}"
    return Server(cluster=home / "cluster", socket_dir=socket_dir)


def _run(args: list[str], what: str) -> subprocess.CompletedProcess[str]:
    if _as_root():
        args = ["runuser", "-u", SERVER_OS_USER, "--", *args]
    proc = subprocess.run(args, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise PostgresServerError(f"{what} failed (exit {proc.returncode}): "
                                  f"{(proc.stderr or proc.stdout).strip()[-800:]}")
    return proc


def _own(path: Path) -> None:
    """Create a directory for the server (mode 0700), owned by its user when we are root."""
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o700)
    if _as_root():
        uid, gid = _server_uid()
        os.chown(path, uid, gid)


def is_running(server: Server) -> bool:
    pid_file = server.cluster / "postmaster.pid"
    if not pid_file.is_file():
        return False
    proc = subprocess.run([str(bin_dir() / "pg_isready"), "-h", str(server.socket_dir),
                           "-p", str(PORT), "-q"], check=False)
    return proc.returncode == 0


def start(base: Path | None = None) -> Server:
    """Initialise the cluster if it is new, start it if it is not running, and create the
    policy-administration database; idempotent. Returns where it is."""
    server = locate(base)
    binaries = bin_dir()
    if is_running(server):
        return server
    if not (server.cluster / "PG_VERSION").is_file():
        _own(server.cluster.parent)
        _own(server.cluster)
        _run([str(binaries / "initdb"), "-D", str(server.cluster), "-U", USER,
              "--auth-local=trust", "--auth-host=reject", "-E", "UTF8", "--no-locale"],
             "initdb")
    _own(server.socket_dir)
    log = server.cluster.parent / "server.log"
    options = (f"-k {server.socket_dir} -p {PORT} -c listen_addresses='' "
               "-c unix_socket_permissions=0700")
    _run([str(binaries / "pg_ctl"), "-D", str(server.cluster), "-l", str(log), "-o", options,
          "-w", "-t", "60", "start"], "pg_ctl start")
    create_database(server, DATABASE)
    return server


def create_database(server: Server, name: str) -> None:
    """Create the database `name` in the running cluster unless it exists (the policy
    administration's; Airflow's metadata database for `make run-distributed`)."""
    import psycopg2

    con = psycopg2.connect(host=str(server.socket_dir), port=PORT, dbname="postgres", user=USER)
    try:
        con.autocommit = True
        with con.cursor() as cur:
            cur.execute("select 1 from pg_database where datname = %s", [name])
            if cur.fetchone() is None:
                cur.execute(f'create database "{name}"')
    finally:
        con.close()


def stop(base: Path | None = None) -> bool:
    """Stop the server if it runs (fast shutdown); returns whether it was running."""
    server = locate(base)
    if not (server.cluster / "postmaster.pid").is_file():
        return False
    _run([str(bin_dir() / "pg_ctl"), "-D", str(server.cluster), "-m", "fast", "-w", "-t", "60",
          "stop"], "pg_ctl stop")
    return True


@contextmanager
def running(base: Path | None = None) -> Iterator[Server]:
    """A started server, stopped on the way out whatever happens (exceptions, Ctrl-C)."""
    server = start(base)
    try:
        yield server
    finally:
        stop(base)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m transforms.sources.postgres_server",
        description="Start or stop the project's own PostgreSQL server (policy administration).")
    parser.add_argument("action", choices=["start", "stop", "dsn", "airflow-conn"])
    parser.add_argument("base", nargs="?", type=Path, default=None,
                        help="the server's directory (default: data/postgres)")
    args = parser.parse_args(argv)
    try:
        if args.action == "start":
            print(start(args.base).dsn)
        elif args.action == "stop":
            print("stopped" if stop(args.base) else "not running")
        elif args.action == "dsn":
            print(locate(args.base).dsn)
        else:
            print(locate(args.base).airflow_connection())
    except PostgresServerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

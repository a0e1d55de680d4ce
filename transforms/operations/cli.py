"""`pipeline`: one command for operators, with a subcommand per job.

Why: the operator's jobs (a subject-access count, a rotation of the master key, a leak scan,
retention, the state of the pipeline...) were separate `python -m` entry points to remember.
Each subcommand delegates to that entry point, unchanged (the modules stay runnable), with the
arguments after the subcommand; `pipeline SUBCOMMAND --help` prints the entry point's own help.
Modules are imported only when their subcommand runs, so `pipeline --help` is quick.

    pipeline --help
    pipeline status [--json]
    pipeline access --surname ... --first-name ... --date-of-birth YYYY-MM-DD
    pipeline leak-scan                 # landing vs warehouse, published, logs (the defaults)
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from transforms import settings


@dataclass(frozen=True)
class Command:
    module: str  # whose main(argv) runs
    help: str
    prefix: list[str] = field(default_factory=list)  # the module's own subcommand, if any


COMMANDS: dict[str, Command] = {
    "status": Command("transforms.operations.cli",
                      "what is published, the last run of each task, pending requests"),
    "access": Command("transforms.rights.processing",
                      "subject access: which pseudonymised records exist for a subject (table "
                      "and count, never an identifier)", ["access"]),
    "requests": Command("transforms.rights.processing",
                        "process the DPO feed's pending subject requests", ["process"]),
    "retention": Command("transforms.retention.run", "apply the retention rules as of a date"),
    "rekey": Command("transforms.operations.rekey",
                     "re-pseudonymise the warehouse from landing under a new master key"),
    "leak-scan": Command("transforms.operations.leak_scan",
                         "count raw identifiers of the landing deliveries found in the outputs "
                         "(counts and places, never a value)"),
    "keys": Command("transforms.privacy.keys",
                    "master key: `keys new PATH` (a key file, mode 600), `keys version`"),
    "summary": Command("transforms.operations.summary",
                       "the run summary: delivered, quarantined, loaded, published"),
    "run-dag": Command("transforms.operations.airflow_run",
                       "run DAGs for a date through Airflow, in order "
                       "(`run-dag DAG [DAG ...] YYYY-MM-DD`)"),
    "generate": Command("transforms.sources.generate",
                        "write the synthetic source systems' deliveries"),
    "postgres": Command("transforms.sources.postgres_server",
                        "start or stop the project's PostgreSQL server (policy administration)"),
    "schema": Command("transforms.build.dbt_schema",
                      "check or write the dbt yml generated from the classification"),
}


def _leak_scan_defaults(argv: list[str]) -> list[str]:
    """Without arguments, scan the warehouse, the publication and the logs against landing."""
    if argv:
        return argv
    p = settings.paths()
    targets = [p.warehouse, p.published, p.logs]
    return ["--landing", str(p.landing), *[str(t) for t in targets if t.exists()]]


def status_main(argv: list[str]) -> int:
    from transforms.operations.status import collect, render

    parser = argparse.ArgumentParser(prog="pipeline status", description=COMMANDS["status"].help)
    parser.add_argument("--json", action="store_true", help="print the status as JSON")
    args = parser.parse_args(argv)
    status = collect()
    print(json.dumps(status, indent=2, default=str) if args.json else render(status))
    return 0


def _schema_arguments(argv: list[str]) -> list[str]:
    """dbt_schema's main reads its argv by hand: give it `--help` and a checked action."""
    parser = argparse.ArgumentParser(prog="pipeline schema", description=COMMANDS["schema"].help)
    parser.add_argument("action", choices=["check", "write"],
                        help="check: fail on drift (make test); write: regenerate the dbt yml")
    return [parser.parse_args(argv).action]


def _run_dag_arguments(argv: list[str]) -> list[str]:
    """airflow_run's main reads its argv by hand: give it `--help`."""
    parser = argparse.ArgumentParser(prog="pipeline run-dag", description=COMMANDS["run-dag"].help
                                     + "; fails unless the run succeeded")
    parser.add_argument("dag_ids", nargs="+", metavar="dag_id",
                        help="ingest_deliveries, retention_and_rights, build_and_publish or "
                             "extract_policy_admin; several run one after another")
    parser.add_argument("logical_date", metavar="YYYY-MM-DD")
    args = parser.parse_args(argv)
    return [*args.dag_ids, args.logical_date]


ARGUMENT_HOOKS: dict[str, Callable[[list[str]], list[str]]] = {
    "leak-scan": _leak_scan_defaults, "schema": _schema_arguments,
    "run-dag": _run_dag_arguments}


def parser() -> argparse.ArgumentParser:
    width = max(len(name) for name in COMMANDS)
    listing = "\n".join(f"  {name:<{width}}  {c.help}" for name, c in COMMANDS.items())
    top = argparse.ArgumentParser(
        prog="pipeline", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Operate the claims pseudonymisation pipeline (data under "
                    "PIPELINE_DATA_DIR, default data/).",
        epilog=f"subcommands:\n{listing}\n\n`pipeline SUBCOMMAND --help` for its options.")
    top.add_argument("command", choices=list(COMMANDS), metavar="SUBCOMMAND")
    top.add_argument("args", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    return top


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in COMMANDS:
        parser().parse_args(argv or ["--help"])  # --help, or a clear error naming the choices
        return 2
    name, rest = argv[0], argv[1:]
    command = COMMANDS[name]
    try:
        if name == "status":
            return status_main(rest)
        rest = ARGUMENT_HOOKS.get(name, lambda a: a)(rest)
        module = importlib.import_module(command.module)
        return int(module.main([*command.prefix, *rest]) or 0)
    except SystemExit as exc:  # argparse's --help and usage errors
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)


if __name__ == "__main__":
    raise SystemExit(main())

"""`make docs`: dbt's documentation site of the project, and where it is.

    python -m transforms.build.dbt_docs [--as-of 2026-11-26]

Runs `dbt docs generate --static` through run_dbt (the project's own profiles, the classification
drift check first, no key: run_dbt gives dbt none). `--static` also writes `static_index.html`,
one file with the manifest and catalog inside, which opens from disk without a server or a
network; `index.html` needs `dbt docs serve`. The catalog (column types, row counts) is read
from the warehouse when there is one (data/warehouse.duckdb, PIPELINE_DATA_DIR); without one it
is generated against an empty temporary DuckDB file, so the command needs no pipeline run and
creates no warehouse as a side effect.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date
from pathlib import Path

from transforms import settings
from transforms.build.dbt_run import TARGET_PATH, DbtRunError, run_dbt


def generate_docs(warehouse: Path | None = None, as_of: date | None = None) -> Path:
    """Generate the site; returns the single-file page (target/static_index.html)."""
    warehouse = warehouse or settings.paths().warehouse
    as_of = as_of or date.today()
    if warehouse.exists():
        run_dbt(["docs", "generate", "--static"], warehouse=warehouse, as_of=as_of)
    else:
        with tempfile.TemporaryDirectory(prefix="dbt-docs-") as tmp:
            run_dbt(["docs", "generate", "--static"], warehouse=Path(tmp) / "empty.duckdb",
                    as_of=as_of)
    return TARGET_PATH / "static_index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m transforms.build.dbt_docs",
                                     description="Generate dbt's documentation site.")
    parser.add_argument("--as-of", type=date.fromisoformat, default=None,
                        help="the as-of date dbt renders the models with (default today)")
    args = parser.parse_args(argv)
    try:
        page = generate_docs(as_of=args.as_of)
    except DbtRunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"dbt docs: {page} (one file, opens offline); {TARGET_PATH / 'index.html'} with "
          f"`dbt docs serve --project-dir dbt_project --profiles-dir dbt_project`")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

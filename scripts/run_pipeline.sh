#!/usr/bin/env bash
# The whole pipeline on the embedded default: synthetic deliveries, then the three DAGs through
# Airflow, all for the same logical date (the run's as-of date, transforms/operations/run_date.py):
# ingest_deliveries, retention_and_rights (requests and retention), build_and_publish.
# Parameters from the environment: CONTRACTS, DAYS, AS_OF, SEED, HORIZON_DAYS (see the Makefile).
# An existing landing zone is kept only when it holds the same book (seed, contracts), with the
# days up to AS_OF added if missing; another book is refused (transforms/sources/landing_book.py).
# NEXT_DAY=1 (make next-day): add the next day's deliveries of the book in the landing zone and
# run the three DAGs for that day.
# SOURCE=postgres (make run SOURCE=postgres): the policy-administration system is a database, the
# project's own PostgreSQL server under $PIPELINE_DATA_DIR/postgres (Unix socket only, stopped on
# exit, failure and Ctrl-C included); the generator loads the policy-admin book into its tables
# and the extract_policy_admin DAG pulls it into the landing zone through the Airflow connection
# policy_admin_db, before the three DAGs. SOURCE=files (the default): the file drop.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"
cd "$ROOT"
CONTRACTS="${CONTRACTS:-50000}"; DAYS="${DAYS:-3}"; AS_OF="${AS_OF:-2026-11-26}"; SEED="${SEED:-42}"
HORIZON_DAYS="${HORIZON_DAYS:-7}"; NEXT_DAY="${NEXT_DAY:-0}"; SOURCE="${SOURCE:-files}"
mkdir -p "$PIPELINE_DATA_DIR/logs" "$AIRFLOW_HOME"
LOG="$PIPELINE_DATA_DIR/logs/run-$(date -u +%Y%m%dT%H%M%SZ).log"
start=$(date +%s)
# Progress lines on the terminal; Airflow's, dbt's and GX's full output in the run log.
step() { echo "== $*" | tee -a "$LOG"; }
run_logged() {
  if ! "$@" >>"$LOG" 2>&1; then
    echo "!! failed: $* — last lines of $LOG:" >&2
    tail -n 40 "$LOG" >&2
    exit 1
  fi
}
DAGS=(ingest_deliveries retention_and_rights build_and_publish)
SOURCE_DB=()
case "$SOURCE" in
  files) ;;
  postgres)
    step "policy administration: PostgreSQL under $PIPELINE_DATA_DIR/postgres (Unix socket only)"
    stop_postgres() { uv run python -m transforms.sources.postgres_server stop >>"$LOG" 2>&1 || true; }
    trap stop_postgres EXIT
    trap 'exit 130' INT TERM
    run_logged uv run python -m transforms.sources.postgres_server start
    SOURCE_DB=(--policy-admin-dsn "$(uv run python -m transforms.sources.postgres_server dsn)")
    AIRFLOW_CONN_POLICY_ADMIN_DB="$(uv run python -m transforms.sources.postgres_server airflow-conn)"
    export AIRFLOW_CONN_POLICY_ADMIN_DB
    DAGS=(extract_policy_admin "${DAGS[@]}")
    ;;
  *) echo "!! SOURCE must be files or postgres, not $SOURCE" >&2; exit 2 ;;
esac
if [ "$NEXT_DAY" = 1 ]; then
  step "source systems: the next day's deliveries of the book in $PIPELINE_DATA_DIR/landing"
  uv run python -m transforms.sources.generate --out "$PIPELINE_DATA_DIR/landing" --append-day \
      "${SOURCE_DB[@]}" \
      | tee -a "$LOG" | tail -n 1
  AS_OF="$(uv run python -m transforms.sources.generate --out "$PIPELINE_DATA_DIR/landing" \
      --last-date)"
else
  step "source systems: $CONTRACTS contracts, $DAYS deliveries up to $AS_OF (seed $SEED)"
  uv run python -m transforms.sources.generate --out "$PIPELINE_DATA_DIR/landing" \
      --contracts "$CONTRACTS" --days "$DAYS" --as-of "$AS_OF" --seed "$SEED" \
      --horizon-days "$HORIZON_DAYS" --if-missing "${SOURCE_DB[@]}" | tee -a "$LOG" | tail -n 1
fi
step "airflow metadata (SQLite under $AIRFLOW_HOME)"
run_logged uv run airflow db migrate
if [ "${PIPELINE_DBT_TASKS:-single}" = cosmos ]; then
  # DuckDB's single writer: every dbt task of the cosmos group runs in this one-slot pool
  run_logged uv run airflow pools set duckdb_warehouse 1 "DuckDB warehouse: one writer at a time"
fi
# The DAGs one after another in one process (transforms/operations/airflow_run.py: Airflow's
# own `dags test` for each, Airflow's start paid once): its output to the log, its "== " lines
# (each DAG's start and verdict) to the terminal as well.
set +e
uv run python -m transforms.operations.airflow_run "${DAGS[@]}" "$AS_OF" 2>&1 \
  | tee -a "$LOG" | grep --line-buffered -E '^== '
status=${PIPESTATUS[0]}
set -e
if [ "$status" != 0 ]; then
  echo "!! failed: the DAGs for $AS_OF (exit status $status) — last lines of $LOG:" >&2
  tail -n 40 "$LOG" >&2
  exit 1
fi
uv run python -m transforms.operations.summary --log "$LOG" --seconds $(( $(date +%s) - start )) | tee -a "$LOG"

#!/usr/bin/env bash
# The whole pipeline on the embedded default: synthetic deliveries, then both DAGs through Airflow.
# Parameters from the environment: CONTRACTS, DAYS, AS_OF, SEED (see the Makefile).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"
cd "$ROOT"
CONTRACTS="${CONTRACTS:-50000}"; DAYS="${DAYS:-3}"; AS_OF="${AS_OF:-2026-11-26}"; SEED="${SEED:-42}"
mkdir -p "$PIPELINE_DATA_DIR/logs" "$AIRFLOW_HOME"
LOG="$PIPELINE_DATA_DIR/logs/run-$(date -u +%Y%m%dT%H%M%SZ).log"
export PIPELINE_AS_OF="${PIPELINE_AS_OF:-$AS_OF}"
start=$(date +%s)
{
  echo "== source systems: $CONTRACTS contracts, $DAYS deliveries up to $AS_OF (seed $SEED)"
  uv run python -m transforms.sources.generate --out "$PIPELINE_DATA_DIR/landing" \
      --contracts "$CONTRACTS" --days "$DAYS" --as-of "$AS_OF" --seed "$SEED" --if-missing
  echo "== airflow metadata (SQLite under $AIRFLOW_HOME)"
  uv run airflow db migrate >/dev/null
  for dag in ingest_deliveries build_and_publish; do
    echo "== airflow dags test $dag $AS_OF"
    uv run python -m transforms.airflow_run "$dag" "$AS_OF"
  done
} 2>&1 | tee "$LOG"
uv run python -m transforms.summary --log "$LOG" --seconds $(( $(date +%s) - start ))

#!/usr/bin/env bash
# `make run-distributed`: the pipeline's DAGs through Airflow's CeleryExecutor on this machine
# (transforms/operations/distributed.py): PostgreSQL as Airflow's metadata database, redis-server
# as the broker, the api-server, scheduler, dag-processor and one Celery worker, all on loopback
# or Unix sockets; the three DAGs of `make run` in the same order for the same logical date;
# everything stopped on exit, failure and Ctrl-C included.
# Parameters from the environment: CONTRACTS, DAYS, AS_OF, SEED, HORIZON_DAYS (as `make run`),
# PIPELINE_ENGINE (duckdb unless set: the workers inherit it).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"
cd "$ROOT"
CONTRACTS="${CONTRACTS:-50000}"; DAYS="${DAYS:-3}"; AS_OF="${AS_OF:-2026-11-26}"; SEED="${SEED:-42}"
HORIZON_DAYS="${HORIZON_DAYS:-7}"
export PIPELINE_ENGINE="${PIPELINE_ENGINE:-duckdb}"
mkdir -p "$PIPELINE_DATA_DIR/logs" "$AIRFLOW_HOME"
LOG="$PIPELINE_DATA_DIR/logs/run-distributed-$(date -u +%Y%m%dT%H%M%SZ).log"
echo "== source systems: $CONTRACTS contracts, $DAYS deliveries up to $AS_OF (seed $SEED)" | tee -a "$LOG"
uv run python -m transforms.sources.generate --out "$PIPELINE_DATA_DIR/landing" \
    --contracts "$CONTRACTS" --days "$DAYS" --as-of "$AS_OF" --seed "$SEED" \
    --horizon-days "$HORIZON_DAYS" --if-missing | tee -a "$LOG" | tail -n 1
echo "== engine: $PIPELINE_ENGINE" | tee -a "$LOG"
# the venv's python itself (not `uv run`, no pipe: a reader killed by Ctrl-C must not break the
# module's output while it stops): Ctrl-C and SIGTERM reach the module, which stops each
# component it started. The components' own logs: $PIPELINE_DATA_DIR/logs/distributed/.
exec "$ROOT/.venv/bin/python" -m transforms.operations.distributed --as-of "$AS_OF"

#!/usr/bin/env bash
# `make airflow`: this project's Airflow UI, scheduler and DAG processor on 127.0.0.1
# (transforms/operations/airflow_ui.py); prints the URL, the user and where the password is;
# Ctrl-C stops every process it started. Options: --port N (default 8080, or AIRFLOW_UI_PORT),
# --no-scheduler (browse only).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/pipeline_env.sh"
cd "$ROOT"
mkdir -p "$AIRFLOW_HOME"
# the venv's python itself (not `uv run`): Ctrl-C and SIGTERM reach the module, which stops
# each component by its process group
exec "$ROOT/.venv/bin/python" -m transforms.operations.airflow_ui "$@"

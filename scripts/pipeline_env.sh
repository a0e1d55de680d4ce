# Environment shared by `make run`, the integration tests and operators' shells:
#   source scripts/pipeline_env.sh
# Project-local Airflow (SQLite metadata), data under data/ unless PIPELINE_DATA_DIR says otherwise.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}"
# the project's venv first on PATH: `airflow`, `dbt` and `pipeline` without `uv run`
case ":$PATH:" in *":$ROOT/.venv/bin:"*) ;; *) export PATH="$ROOT/.venv/bin:$PATH" ;; esac
export PIPELINE_DATA_DIR="${PIPELINE_DATA_DIR:-$ROOT/data}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$ROOT/airflow_home}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__PARALLELISM=2
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:///$AIRFLOW_HOME/airflow.db"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$PIPELINE_DATA_DIR/logs/airflow"
# OpenLineage (on unless PIPELINE_LINEAGE=0): Airflow's provider writes one JSON event per file
# to data/lineage/airflow/, the dbt build its own to data/lineage/dbt/ (transforms/build/lineage.py).
# No task source code in events; dataset facets carry a purpose and a key version, never a key.
if [ "${PIPELINE_LINEAGE:-1}" = 0 ]; then
  export AIRFLOW__OPENLINEAGE__DISABLED=True
else
  export AIRFLOW__OPENLINEAGE__DISABLED=False
  mkdir -p "$PIPELINE_DATA_DIR/lineage/airflow"
fi
export AIRFLOW__OPENLINEAGE__NAMESPACE=claims-pseudo-pipeline
export AIRFLOW__OPENLINEAGE__DISABLE_SOURCE_CODE=True
export AIRFLOW__OPENLINEAGE__TRANSPORT="{\"type\": \"file\", \"log_file_path\": \"$PIPELINE_DATA_DIR/lineage/airflow/event\", \"append\": false}"
export DBT_SEND_ANONYMOUS_USAGE_STATS=False
export DO_NOT_TRACK=1
if [ -z "${PIPELINE_MASTER_KEY:-}" ] && [ -z "${PIPELINE_MASTER_KEY_FILE:-}" ] \
   && [ -z "${AIRFLOW_CONN_PSEUDONYMISATION_MASTER_KEY:-}" ]; then
  export PIPELINE_MASTER_KEY_FILE="$ROOT/.secrets/master.key"
fi
# uv as a command, or as the module pip installed when it is not on PATH
if ! command -v uv >/dev/null 2>&1; then
  uv() { python3 -m uv "$@"; }
fi
# Freed memory goes back to the system (peak RSS is what the machine must hold, issue 12):
# glibc's mmap threshold fixed (its dynamic one rises to 32 MiB after the first large free, and
# numpy's arrays of a 1M book then stay on the heap after use); polars' jemalloc purges freed
# pages after a second instead of ten, from its own background thread: without one, jemalloc
# purges only when the same arena allocates again, and a task that ends after freeing a large
# frame (the gate at 1M: 0.47 GiB) handed it to the next task of the same process instead of
# the system (bench/peak_rss.py measures the whole pipeline).
export MALLOC_MMAP_THRESHOLD_="${MALLOC_MMAP_THRESHOLD_:-131072}"
export _RJEM_MALLOC_CONF="${_RJEM_MALLOC_CONF:-background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0}"
# Threads set, not guessed: polars' pool and DuckDB's (transforms/settings.py) use the cores.
export POLARS_MAX_THREADS="${POLARS_MAX_THREADS:-$(nproc)}"
export PIPELINE_DUCKDB_THREADS="${PIPELINE_DUCKDB_THREADS:-$(nproc)}"

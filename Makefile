# Two commands: `make run` (the whole pipeline on the embedded default) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CONTRACTS ?= 50000
DAYS ?= 3
AS_OF ?= 2026-11-26
SEED ?= 42
BENCH_CONTRACTS ?= 100000
BENCH_INCREMENTAL_CONTRACTS ?= 50000
# days the synthetic book's history reaches past AS_OF: what `make next-day` can add
HORIZON_DAYS ?= 7
# where the policy-administration data comes from: files (the file drop) or postgres (a database
# the project starts itself, pulled by the extract_policy_admin DAG)
SOURCE ?= files
AIRFLOW_UI_PORT ?= 8080
# the engine of `make run-distributed` (spark or duckdb)
ENGINE ?= duckdb
export UV_PYTHON := 3.11
# uv on PATH, or the module pip installed (a fresh machine may not have put it on PATH)
UV = $(shell command -v uv 2>/dev/null || echo python3 -m uv)

.PHONY: help install run run-distributed next-day test lint key bench bench-incremental clean clean-warehouse docs airflow

help:
	@echo "make run    - generate the synthetic source systems and run the whole pipeline through Airflow"
	@echo "make run SOURCE=postgres - the same, with policy administration as a PostgreSQL database"
	@echo "make run-distributed - the same DAGs through the CeleryExecutor (PostgreSQL, redis, one worker; ENGINE=duckdb|spark)"
	@echo "make next-day - add the next day's deliveries of the same book and run the pipeline for it"
	@echo "make test   - run the whole test suite (lint included)"
	@echo "make airflow - the Airflow UI and scheduler on http://127.0.0.1:8080 (AIRFLOW_UI_PORT); Ctrl-C stops it"
	@echo "make bench  - print the benchmarks' figures (ingest on BENCH_CONTRACTS=100000 contracts)"
	@echo "make key    - create a local master key file (.secrets/master.key, mode 600)"
	@echo "make docs   - regenerate the classification docs and dbt's documentation site (prints where)"

# Bytecode compiled once at install: where PYTHONDONTWRITEBYTECODE is set (as on this machine and
# its CI), every Airflow, dbt and pipeline process would otherwise compile airflow, polars, pandas
# and dbt from source at each start (12 s of a 41 s `airflow dags test`, measured).
install:
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	$(UV) sync --frozen --quiet --compile-bytecode
	$(UV) run python -m compileall -q -j 2 transforms dags

key: install
	$(UV) run python -m transforms.privacy.keys new .secrets/master.key --if-missing

run: install key
	CONTRACTS=$(CONTRACTS) DAYS=$(DAYS) AS_OF=$(AS_OF) SEED=$(SEED) \
		HORIZON_DAYS=$(HORIZON_DAYS) SOURCE=$(SOURCE) bash scripts/run_pipeline.sh

run-distributed: install key
	bash scripts/install-postgres.sh
	bash scripts/install-redis.sh
	CONTRACTS=$(CONTRACTS) DAYS=$(DAYS) AS_OF=$(AS_OF) SEED=$(SEED) \
		HORIZON_DAYS=$(HORIZON_DAYS) PIPELINE_ENGINE=$(ENGINE) bash scripts/run_distributed.sh

next-day: install key
	NEXT_DAY=1 SOURCE=$(SOURCE) bash scripts/run_pipeline.sh

airflow: install key
	AIRFLOW_UI_PORT=$(AIRFLOW_UI_PORT) bash scripts/airflow_ui.sh

test: install
	bash scripts/install-chromium.sh
	bash scripts/install-postgres.sh
	bash scripts/install-redis.sh
	$(UV) run ruff check .
	$(UV) run python -m transforms.build.dbt_schema check
	$(UV) run pytest -q -n 2 --dist loadfile --no-loadscope-reorder --durations=15

lint: install
	$(UV) run ruff check .

# every ratio of issue 12 in one run, under 10 minutes (bench/all.py); the larger benches
# (bench/gate.py, bench/build_marts.py, bench/pseudonymise.py's 10M rows) run on their own
bench: install
	$(UV) run python bench/all.py --ingest-contracts $(BENCH_CONTRACTS) \
		--incremental-contracts $(BENCH_INCREMENTAL_CONTRACTS)

# full vs no-op vs one-new-day runs through the DAGs (several minutes: not part of `make bench`)
bench-incremental: install
	$(UV) run python bench/incremental.py $(CONTRACTS)

docs: install
	$(UV) run python -m transforms.build.dbt_schema write
	$(UV) run python -m transforms.publish.privacy_report docs
	$(UV) run python -m transforms.build.dbt_docs

clean-warehouse:
	rm -f data/warehouse.duckdb data/warehouse.duckdb.wal

clean:
	rm -rf data airflow_home dbt_project/target dbt_project/logs

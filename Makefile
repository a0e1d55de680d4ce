# Two commands: `make run` (the whole pipeline on the embedded default) and `make test`.
SHELL := /bin/bash
.DEFAULT_GOAL := help
CONTRACTS ?= 50000
DAYS ?= 3
AS_OF ?= 2026-11-26
SEED ?= 42
export UV_PYTHON := 3.11

.PHONY: help install run test lint key bench clean clean-warehouse docs

help:
	@echo "make run    - generate the synthetic source systems and run the whole pipeline through Airflow"
	@echo "make test   - run the whole test suite (lint included)"
	@echo "make bench  - print the benchmarks' figures"
	@echo "make key    - create a local master key file (.secrets/master.key, mode 600)"

install:
	@command -v uv >/dev/null 2>&1 || python3 -m pip install --quiet uv
	uv sync --frozen --quiet

key: install
	uv run python -m transforms.keys new .secrets/master.key --if-missing

run: install key
	CONTRACTS=$(CONTRACTS) DAYS=$(DAYS) AS_OF=$(AS_OF) SEED=$(SEED) bash scripts/run_pipeline.sh

test: install
	bash scripts/install-chromium.sh
	uv run ruff check .
	uv run python -m transforms.dbt_schema check
	uv run pytest -q

lint: install
	uv run ruff check .

bench: install
	uv run python bench/pseudonymise.py
	uv run python bench/gate.py 50000 1000000
	uv run python bench/build_marts.py

docs: install
	uv run python -m transforms.dbt_schema write
	uv run python -m transforms.privacy_report docs

clean-warehouse:
	rm -f data/warehouse.duckdb data/warehouse.duckdb.wal

clean:
	rm -rf data airflow_home dbt_project/target dbt_project/logs

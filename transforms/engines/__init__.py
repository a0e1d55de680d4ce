"""Engines the pipeline can run on besides DuckDB (settings.engine()): Spark."""

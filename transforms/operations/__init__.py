"""Operating the pipeline: Airflow task entry points, run date, summary, key rotation, leak scan."""

"""Building the marts: the dbt run and the dbt YAML generated from the classification."""

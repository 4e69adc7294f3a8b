"""Example pipelines: a CSV ETL, a fan-out/fan-in word count, and a YAML recipe."""

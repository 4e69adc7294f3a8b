"""A 2,000-task pipeline for bench/ui_load.py (the run page of a large pipeline)."""

from headwater import pipeline, task


@task
def extract(table: int) -> int:
    return table


@task
def clean(rows: int) -> int:
    return rows


@task
def transform(rows: int, other: int = 0) -> int:
    return rows + other


@task
def load(rows: int) -> int:
    return rows


@task
def check(rows: int) -> int:
    return rows


@pipeline
def big():
    """400 tables, each extract -> clean -> transform -> load -> check; every tenth
    table's transform also reads the clean rows of a table five before it."""
    cleaned = {}
    for t in range(400):
        cleaned[t] = clean(extract(t))
        other = cleaned[t - 5] if t % 10 == 5 else 0
        check(load(transform(cleaned[t], other)))

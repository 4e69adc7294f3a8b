"""Backfill creation rate: how fast `create_backfill` makes runs (one per logical date).

Measures the service call `headwater backfill` and POST /api/v1/backfills make: render
and validate each date's arguments, then batch-insert runs, task runs and the backfill,
and start the first `max_running`. A fresh database per measurement; prints a markdown
table of medians.

    python bench/backfill.py [--runs 1000] [--repeat 5] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from fleet import drop_database, new_database

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.services.backfills import create_backfill
from headwater.services.context import open_services
from headwater.services.runs import register_pipeline

REGISTRY = Registry()
JAN_1_2020 = 1577836800.0
DAY = 86400.0

with use_registry(REGISTRY):

    @task
    def extract(day: str) -> str:
        return day

    @task
    def transform(rows: str) -> str:
        return rows

    @task
    def load(rows: str) -> str:
        return rows

    @pipeline
    def daily_etl(day: str):
        return load(transform(extract(day)))


def measure(backend: str, runs: int) -> float:
    """Seconds to create a backfill of `runs` daily runs of a 3-task pipeline."""
    root = Path(tempfile.mkdtemp(prefix="headwater-bfbench-"))
    url, name = new_database(backend, root)
    svc = open_services(Settings(project_dir=root, database_url=url, artifacts=str(root / "a")))
    try:
        register_pipeline(svc, daily_etl.spec)
        started = time.perf_counter()
        view = create_backfill(
            svc,
            "daily_etl",
            start=JAN_1_2020,
            end=JAN_1_2020 + (runs - 1) * DAY,
            every="1d",
            args={"day": "{{ ds }}"},
            max_running=10,
        )
        seconds = time.perf_counter() - started
        assert view.backfill.total == runs
        return seconds
    finally:
        svc.close()
        drop_database(name)
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    options = parser.parse_args()
    print("| backend | runs | task runs | median s | min s | max s | runs/s | target |")
    print("|---|---:|---:|---:|---:|---:|---:|---|")
    for backend in options.backends.split(","):
        times = [measure(backend, options.runs) for _ in range(options.repeat)]
        median = statistics.median(times)
        print(
            f"| {backend} | {options.runs} | {3 * options.runs} | {median:.3f} | "
            f"{min(times):.3f} | {max(times):.3f} | {options.runs / median:,.0f} | "
            "1,000 runs < 2 s |"
        )


if __name__ == "__main__":
    main()

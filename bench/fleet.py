"""Queue benchmarks (issue 3): no-op attempts per second with 1, 2, 4 and 8 worker
processes, and the time from a run becoming ready to its first task starting on an idle
worker (p50, p99), on SQLite and on PostgreSQL. Prints a markdown table of medians.

    python bench/fleet.py [--attempts 2000] [--workers 1,2,4,8] [--backends sqlite,postgresql]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

HEADWATER = Path(sys.executable).with_name("headwater")
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
PROJECT = """
from headwater import pipeline, task

@task(cache=False)
def noop(x: int) -> int:
    return x

@task
def items(n: int) -> list[int]:
    return list(range(n))

@pipeline
def drain(n: int = 1000):
    noop.map(items(n))

@pipeline
def single():
    noop(1)
"""


def make_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="headwater-qbench-"))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "bench.py").write_text(PROJECT)
    return root


def new_database(backend: str, root: Path) -> tuple[str, str | None]:
    if backend == "sqlite":
        return f"sqlite:///{root / 'hw.db'}", None
    name = f"hw_qbench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str | None) -> None:
    if name:
        admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start_workers(root: Path, env: dict[str, str], count: int) -> list[subprocess.Popen[bytes]]:
    procs = [
        subprocess.Popen(
            [str(HEADWATER), "worker", "-j", "4"],
            cwd=root,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(count)
    ]
    engine = sa.create_engine(env["HEADWATER_DATABASE_URL"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with engine.connect() as conn:
                up = conn.execute(sa.text("SELECT count(*) FROM workers WHERE state='running'"))
                if up.scalar() == count:
                    break
        except sa.exc.OperationalError:
            pass
        time.sleep(0.1)
    engine.dispose()
    return procs


def stop_workers(procs: list[subprocess.Popen[bytes]]) -> None:
    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        proc.wait(30)


def submit(root: Path, env: dict[str, str], *args: str) -> str:
    out = subprocess.run(
        [str(HEADWATER), "submit", *args],
        cwd=root,
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    return out.stdout.strip()


def wait_run(url: str, run_id: str, timeout: float = 600) -> float:
    """Seconds from the run's creation to its end (database clock)."""
    engine = sa.create_engine(url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                row = conn.execute(
                    sa.text("SELECT state, created_at, ended_at FROM runs WHERE id = :id"),
                    {"id": run_id},
                ).first()
            if row and row.ended_at:
                if row.state != "succeeded":
                    raise SystemExit(f"run {run_id} ended {row.state}")
                return float(row.ended_at - row.created_at)
            time.sleep(0.05)
    finally:
        engine.dispose()
    raise SystemExit(f"run {run_id} did not end in {timeout} s")


@contextmanager
def fleet(backend: str, workers: int) -> Iterator[tuple[Path, dict[str, str], str]]:
    """A fresh project and database with `workers` running workers: (root, env, url)."""
    root = make_project()
    url, dbname = new_database(backend, root)
    env = {**os.environ, "HEADWATER_DATABASE_URL": url, "HEADWATER_POLL_SECONDS": "0.1"}
    try:
        subprocess.run(
            [str(HEADWATER), "db", "upgrade"], cwd=root, env=env, check=True, capture_output=True
        )
        procs = start_workers(root, env, workers)
        try:
            yield root, env, url
        finally:
            stop_workers(procs)
    finally:
        drop_database(dbname)
        shutil.rmtree(root, ignore_errors=True)


def throughput(backend: str, workers: int, attempts: int) -> float:
    with fleet(backend, workers) as (root, env, url):
        run_id = submit(root, env, "drain", "-p", f"n={attempts}")
        return attempts / wait_run(url, run_id)


def latency(backend: str, samples: int) -> tuple[float, float]:
    """Ready-to-start: an attempt's started_at minus its run's created_at (ms)."""
    with fleet(backend, 1) as (root, env, url):
        waits = []
        for _ in range(samples):
            run_id = submit(root, env, "single", "--force")
            wait_run(url, run_id)
            waits.append(_first_start_ms(url, run_id))
        waits.sort()
        return statistics.median(waits), waits[min(len(waits) - 1, int(len(waits) * 0.99))]


def _first_start_ms(url: str, run_id: str) -> float:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT min(a.started_at) - r.created_at FROM attempts a JOIN runs r "
                "ON r.id = a.run_id WHERE r.id = :id GROUP BY r.created_at"
            ),
            {"id": run_id},
        ).first()
    engine.dispose()
    assert row is not None
    return float(row[0]) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4,8")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--latency-samples", type=int, default=50)
    options = parser.parse_args()
    print("| backend | workers | no-op attempts/s |")
    print("|---|---:|---:|")
    for backend in options.backends.split(","):
        for count in map(int, options.workers.split(",")):
            rate = throughput(backend, count, options.attempts)
            print(f"| {backend} | {count} | {rate:.0f} |", flush=True)
    print("\n| backend | ready-to-start p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for backend in options.backends.split(","):
        p50, p99 = latency(backend, options.latency_samples)
        print(f"| {backend} | {p50:.1f} | {p99:.1f} |", flush=True)


if __name__ == "__main__":
    main()

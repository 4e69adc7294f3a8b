"""Queue benchmarks (issue 3): no-op attempts per second with 1, 2, 4 and 8 worker
processes, and the time from a run becoming ready to its first task starting on an idle
worker (p50, p99), on SQLite and on PostgreSQL. Prints a markdown table of medians.

    python bench/fleet.py [--attempts 2000] [--workers 1,2,4,8] [--backends sqlite,postgresql]
                          [--repeat 3] [--latency-samples 50] [--concurrency 4]

Beside each rate, the CPU seconds the drain cost per 1,000 attempts (user + system, from
/proc): the workers' and, on PostgreSQL, the server's (every process of the local
cluster, background writers included). On a shared machine wall-clock rates follow the
load; the CPU per attempt is the figure that compares across machines and days.
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
from dataclasses import dataclass
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


def start_workers(
    root: Path, env: dict[str, str], count: int, concurrency: int = 4
) -> list[subprocess.Popen[bytes]]:
    procs = [
        subprocess.Popen(
            [str(HEADWATER), "worker", "-j", str(concurrency)],
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


def cpu_times(pids: list[int]) -> dict[tuple[int, int], float]:
    """{(pid, start time): user + system CPU seconds so far} of the processes still there."""
    tick = os.sysconf("SC_CLK_TCK")
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime and starttime are fields 14, 15 and 22 of stat(5).
        times[(pid, int(fields[19]))] = (int(fields[11]) + int(fields[12])) / tick
    return times


def cpu_spent(before: dict[tuple[int, int], float], after: dict[tuple[int, int], float]) -> float:
    """CPU seconds spent between two `cpu_times` by the processes alive at the second
    (a process that ended in between is left out: a short-lived backend of the bench's
    own, or of another user of the server)."""
    return sum(cpu - before.get(key, 0.0) for key, cpu in after.items())


def server_pids(url: str) -> list[int]:
    """PostgreSQL: the postmaster and its children (backends, WAL writer, checkpointer)."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        backend = int(conn.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        postmaster = int(Path(f"/proc/{backend}/stat").read_text().rsplit(")", 1)[1].split()[1])
    engine.dispose()
    children = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == postmaster:
                children.append(int(entry.name))
    return [postmaster, *children]


@dataclass
class Fleet:
    root: Path
    env: dict[str, str]
    url: str
    procs: list[subprocess.Popen[bytes]]

    def cpu(self) -> tuple[dict[tuple[int, int], float], dict[tuple[int, int], float]]:
        """CPU times of the workers and (PostgreSQL) of the server's processes so far."""
        workers = cpu_times([p.pid for p in self.procs])
        server = cpu_times(server_pids(self.url)) if self.url.startswith("postgresql") else {}
        return workers, server


@contextmanager
def fleet(backend: str, workers: int, concurrency: int = 4) -> Iterator[Fleet]:
    """A fresh project and database with `workers` running workers."""
    root = make_project()
    url, dbname = new_database(backend, root)
    env = {**os.environ, "HEADWATER_DATABASE_URL": url, "HEADWATER_POLL_SECONDS": "0.1"}
    try:
        subprocess.run(
            [str(HEADWATER), "db", "upgrade"], cwd=root, env=env, check=True, capture_output=True
        )
        procs = start_workers(root, env, workers, concurrency)
        try:
            yield Fleet(root, env, url, procs)
        finally:
            stop_workers(procs)
    finally:
        drop_database(dbname)
        shutil.rmtree(root, ignore_errors=True)


def throughput(
    backend: str, workers: int, attempts: int, concurrency: int = 4
) -> tuple[float, float, float]:
    """(attempts per second, CPU seconds per 1,000 attempts of the workers and of the
    server)."""
    with fleet(backend, workers, concurrency) as f:
        before = f.cpu()
        run_id = submit(f.root, f.env, "drain", "-p", f"n={attempts}")
        rate = attempts / wait_run(f.url, run_id)
        after = f.cpu()
        per = 1000 / attempts
        return rate, cpu_spent(before[0], after[0]) * per, cpu_spent(before[1], after[1]) * per


def latency(backend: str, samples: int) -> tuple[float, float]:
    """Ready-to-start: an attempt's started_at minus its run's created_at (ms)."""
    with fleet(backend, 1) as f:
        waits = []
        for _ in range(samples):
            run_id = submit(f.root, f.env, "single", "--force")
            wait_run(f.url, run_id)
            waits.append(_first_start_ms(f.url, run_id))
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
    parser.add_argument("--repeat", type=int, default=3, help="drains per row (median shown)")
    parser.add_argument("--concurrency", type=int, default=4, help="each worker's -j (threads)")
    options = parser.parse_args()
    print(
        "| backend | workers | no-op attempts/s, median (min to max) |"
        " CPU s per 1,000 attempts: workers + server (median) |"
    )
    print("|---|---:|---:|---:|")
    for backend in options.backends.split(","):
        for count in map(int, options.workers.split(",")):
            drains = [
                throughput(backend, count, options.attempts, options.concurrency)
                for _ in range(options.repeat)
            ]
            rates = sorted(rate for rate, _, _ in drains)
            workers = statistics.median(w for _, w, _ in drains)
            server = statistics.median(s for _, _, s in drains)
            rate = f"{statistics.median(rates):.0f} ({rates[0]:.0f} to {rates[-1]:.0f})"
            cpu = f"{workers + server:.2f} ({workers:.2f} + {server:.2f})"
            print(f"| {backend} | {count} | {rate} | {cpu} |", flush=True)
    if options.latency_samples <= 0:
        return
    print("\n| backend | ready-to-start p50 ms | p99 ms |")
    print("|---|---:|---:|")
    for backend in options.backends.split(","):
        p50, p99 = latency(backend, options.latency_samples)
        print(f"| {backend} | {p50:.1f} | {p99:.1f} |", flush=True)


if __name__ == "__main__":
    main()

"""The kill -9 scenario, looped: how reliably and how fast a fleet recovers lost leases.

Each loop starts a run of one slow task (it appends "start", sleeps, appends "done"),
waits until a worker holds it, SIGKILLs that worker and starts a replacement. Another
worker must reap the lease and retry. The table counts lost runs (never succeeded), late
runs (succeeded, but later than lease + 5 s after the kill), duplicated successes (more
than one succeeded attempt for a task run) and the median time from the kill to the
retry running, and to the run's end.

    .venv/bin/python bench/fault_loop.py --loops 10 [--backend sqlite|postgresql]
        [--database-url URL] [--parallel 2]

Loops run `--parallel` at a time (each on its own worker, `-j 1`), with twice as many
workers alive. On PostgreSQL a database is created for the bench and dropped after,
unless --database-url names one.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from headwater.config import Settings
from headwater.domain.states import AttemptState, RunState
from headwater.errors import NotFound
from headwater.services.context import Services, open_services
from headwater.services.runs import get_run_view, start_run
from headwater.services.workers import list_workers
from headwater.store import pipelines as pipeline_store

HEADWATER = Path(sys.executable).with_name("headwater")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
LEASE_SECONDS, HEARTBEAT_SECONDS, POLL_SECONDS = 2.0, 0.5, 0.1
RECOVERY_SECONDS = LEASE_SECONDS + 5.0
GIVE_UP_SECONDS = 60.0  # after a lost run, how long to wait for it before moving on
TASK_SECONDS = 1.5

PIPELINES = """\
import time

import headwater
from headwater import pipeline, task


def note(path, line):
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(line + "\\n")


@task(retries=2, backoff={"base_seconds": 0, "jitter": False})
def slow_step(log: str, seconds: float) -> dict:
    attempt = headwater.current_context().attempt
    note(log, f"start {attempt}")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.02)
    note(log, f"done {attempt}")
    return {"attempt": attempt}


@pipeline
def slow(log: str, seconds: float = 1.5):
    return slow_step(log, seconds)
"""


@dataclass
class Loop:
    run_id: str
    effects: Path
    killed_at: float = 0.0
    retry_seconds: float | None = None  # kill -> retry attempt running
    done_seconds: float | None = None  # kill -> run succeeded
    successes: int = 0


@dataclass
class Fleet:
    root: Path
    database_url: str
    svc: Services
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_worker(self) -> subprocess.Popen[bytes]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("HEADWATER_")}
        env.update(
            HEADWATER_DATABASE_URL=self.database_url,
            HEADWATER_LEASE_SECONDS=str(LEASE_SECONDS),
            HEADWATER_HEARTBEAT_SECONDS=str(HEARTBEAT_SECONDS),
            HEADWATER_POLL_SECONDS=str(POLL_SECONDS),
        )
        log = (self.root / f"worker-{len(self.procs)}.log").open("wb")
        proc = subprocess.Popen(
            [str(HEADWATER), "worker", "-C", str(self.root), "-j", "1"],
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def wait_ready(self, procs: list[subprocess.Popen[bytes]]) -> None:
        pids = {p.pid for p in procs}
        wait_for(
            lambda: pids <= {w.pid for w in list_workers(self.svc) if w.state == "running"},
            30,
            "workers registered",
        )

    def holder_pid(self, run_id: str) -> int | None:
        running = [
            a for a in get_run_view(self.svc, run_id).attempts if a.state == AttemptState.RUNNING
        ]
        if not running:
            return None
        pids = {w.id: w.pid for w in list_workers(self.svc, include_stopped=True)}
        return pids.get(running[0].worker_id or "")

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs:
            proc.wait(10)
        self.svc.close()


def wait_for(condition: Callable[[], object], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"not within {timeout:g} s: {what}")
        time.sleep(0.05)


@contextmanager
def database(backend: str, given: str | None, root: Path) -> Iterator[str]:
    if given:
        yield given
    elif backend == "sqlite":
        yield f"sqlite:///{root / 'headwater.db'}"
    else:
        name = f"headwater_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        admin = sa.create_engine(
            PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        try:
            yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextmanager
def fleet(root: Path, database_url: str) -> Iterator[Fleet]:
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "faults.py").write_text(PIPELINES)
    settings = Settings(
        project_dir=root,
        database_url=database_url,
        lease_seconds=LEASE_SECONDS,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        poll_seconds=POLL_SECONDS,
    )
    running = Fleet(root, database_url, open_services(settings))
    try:
        yield running
    finally:
        running.close()


def registered(svc: Services) -> bool:
    with svc.db.read() as conn:
        try:
            pipeline_store.get_pipeline(conn, "slow")
        except NotFound:
            return False
    return True


def one_round(workers: Fleet, number: int, parallel: int) -> list[Loop]:
    """Start `parallel` runs, kill their holders, start replacements, measure recovery."""
    loops = []
    for i in range(parallel):
        effects = workers.root / f"effects-{number}-{i}.log"
        run_id = start_run(workers.svc, "slow", {"log": str(effects), "seconds": TASK_SECONDS})
        loops.append(Loop(run_id, effects))
    holders: dict[int, Loop] = {}
    for loop in loops:
        wait_for(lambda loop=loop: loop.effects.exists(), 30, f"run {loop.run_id} started")
        pid = workers.holder_pid(loop.run_id)
        if pid is None:
            raise SystemExit(f"run {loop.run_id}: no running attempt after its start line")
        holders[pid] = loop
    for pid, loop in holders.items():
        os.kill(pid, signal.SIGKILL)
        loop.killed_at = time.monotonic()
    for _ in holders:
        workers.start_worker()

    open_loops = set(range(len(loops)))
    while open_loops:
        for index in list(open_loops):
            loop = loops[index]
            view = get_run_view(workers.svc, loop.run_id)
            elapsed = time.monotonic() - loop.killed_at
            retry = [a for a in view.attempts if a.number > 1]
            if retry and loop.retry_seconds is None:
                loop.retry_seconds = elapsed
            if view.run.state != RunState.RUNNING or elapsed > GIVE_UP_SECONDS:
                if view.run.state == RunState.SUCCEEDED:
                    loop.done_seconds = elapsed
                loop.successes = sum(a.state == AttemptState.SUCCEEDED for a in view.attempts)
                open_loops.discard(index)
        time.sleep(0.05)
    return loops


def report(backend: str, loops: list[Loop]) -> None:
    # Lost: never succeeded (within GIVE_UP_SECONDS). Late: succeeded, but after the
    # promised lease + 5 s (on a loaded machine, slowness rather than loss).
    lost = sum(loop.done_seconds is None for loop in loops)
    late = sum(
        loop.done_seconds is not None and loop.done_seconds > RECOVERY_SECONDS for loop in loops
    )
    duplicated = sum(loop.successes > 1 for loop in loops)
    retries = [loop.retry_seconds for loop in loops if loop.retry_seconds is not None]
    dones = [loop.done_seconds for loop in loops if loop.done_seconds is not None]

    def median(values: list[float]) -> str:
        return f"{statistics.median(values):.2f}" if values else "-"

    print(
        "| backend | loops | lost runs | late runs (> lease + 5 s) | duplicated successes "
        "| median recovery s (kill → retry running) | median kill → run succeeded s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {backend} | {len(loops)} | {lost} | {late} | {duplicated} "
        f"| {median(retries)} | {median(dones)} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loops", type=int, default=200)
    parser.add_argument("--backend", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--database-url", help="an empty database to use instead")
    parser.add_argument("--parallel", type=int, default=2, help="runs killed per round")
    options = parser.parse_args()
    backend = options.backend
    if options.database_url:
        backend = "postgresql" if options.database_url.startswith("postgresql") else "sqlite"

    with tempfile.TemporaryDirectory(prefix="headwater-faults-") as tmp:
        root = Path(tmp)
        with database(backend, options.database_url, root) as url, fleet(root, url) as workers:
            pool = [workers.start_worker() for _ in range(2 * options.parallel)]
            workers.wait_ready(pool)
            wait_for(lambda: registered(workers.svc), 30, "pipeline registered")
            loops: list[Loop] = []
            number = 0
            while len(loops) < options.loops:
                size = min(options.parallel, options.loops - len(loops))
                loops += one_round(workers, number, size)
                number += 1
                print(f"\r{len(loops)}/{options.loops} loops", end="", file=sys.stderr)
            print(file=sys.stderr)
    report(backend, loops)


if __name__ == "__main__":
    main()

"""Restart PostgreSQL while two workers drain a run of 4,000 quick task runs: the
workers reconnect, every task run finishes, the run succeeds, and no effect is lost
(duplicated only for attempts that were retried).

Restarting the server breaks every other connection to it, so this test is `serial`:
run it alone (`pytest -m serial`), never beside other tests.

A restart breaks a connection at whatever statement a worker is running, so some
windows are hit only now and then. The last tests hit one of them every time, in
process: the worker's connection is terminated while it resolves an attempt's arguments.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.states import AttemptState, RunState, TaskRunState
from headwater.local import run_pipeline
from headwater.services.context import Services
from headwater.worker import attempt as attempt_module

from .fleet import Fleet, fleet, lines, need, wait_for

# The run is still draining when the restart lands, however fast the workers are: task
# runs from RESTART_AFTER_LINES on wait for a file the test removes once PostgreSQL is
# back (they hold their attempts through the restart). Without it, 4,000 quick task runs
# were all done before PostgreSQL went down (2,000-3,000 a second).
ITEMS = 4000
RESTART_AFTER_LINES = 300
RESTART_SECONDS = 60.0
DRAIN_SECONDS = 120.0  # after the restart; normally a few seconds
PG_CONFIG = Path("/etc/postgresql")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
REGISTRY = Registry()

with use_registry(REGISTRY):

    @task(retries=2, backoff={"base_seconds": 0, "jitter": False})
    def add_one_with_retries(x: int) -> int:
        return x + 1

    @pipeline
    def outage_with_retries(x: int = 1):
        return add_one_with_retries(x)

    @task
    def add_one(x: int) -> int:
        return x + 1

    @pipeline
    def outage_without_retries(x: int = 1):
        return add_one(x)


def restart_command(database_url: str) -> list[str]:
    """The command restarting the local cluster the test database lives in."""
    url = sa.engine.make_url(database_url)
    if url.host not in ("127.0.0.1", "localhost"):
        need(f"PostgreSQL at {url.host} is not on this machine: cannot restart it")
    versions = sorted(p.name for p in PG_CONFIG.iterdir()) if PG_CONFIG.is_dir() else []
    if len(versions) != 1 or shutil.which("pg_ctlcluster") is None:
        need(f"no single PostgreSQL cluster to restart with pg_ctlcluster (found {versions})")
    if shutil.which("pg_isready") is None:
        need("pg_isready is not installed")
    if os.geteuid() != 0:
        need("restarting PostgreSQL with pg_ctlcluster needs root")
    return ["pg_ctlcluster", "--skip-systemctl-redirect", versions[0], "main", "restart"]


def accepts_connections(database_url: str) -> bool:
    url = sa.engine.make_url(database_url)
    ready = subprocess.run(
        ["pg_isready", "-q", "-h", url.host or "127.0.0.1", "-p", str(url.port or 5432)],
        check=False,
    )
    return ready.returncode == 0


@pytest.fixture
def own_database_url() -> Iterator[str]:
    """A database of its own, made and dropped through connections that are not pooled:
    a pooled one (like the session's `postgres_url` fixture's) dies in the restart."""
    admin_url = os.environ.get("HEADWATER_TEST_POSTGRES", PG_ADMIN_URL)
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    name = f"headwater_restart_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except sa.exc.OperationalError as exc:
        need(f"PostgreSQL is not reachable at {admin_url}: {exc.orig}")
    yield admin_url.rsplit("/", 1)[0] + f"/{name}"
    if shutil.which("pg_isready"):
        wait_for(lambda: accepts_connections(admin_url), RESTART_SECONDS, "pg_isready")
    with admin.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def workers(tmp_path: Path, own_database_url: str) -> Iterator[Fleet]:
    with fleet(tmp_path, own_database_url) as running:
        yield running


@pytest.mark.serial
@pytest.mark.postgres
def test_workers_survive_a_postgresql_restart_without_losing_work(
    workers: Fleet, tmp_path: Path, own_database_url: str
) -> None:
    database_url = own_database_url
    restart = restart_command(database_url)
    pool = [workers.start("-j", "4") for _ in range(2)]
    workers.wait_ready(*pool)
    effects = tmp_path / "effects.log"
    hold = tmp_path / "hold"
    hold.write_text("")
    run_id = workers.start_run(
        "many", log=str(effects), n=ITEMS, hold=str(hold), hold_from=RESTART_AFTER_LINES
    )
    wait_for(
        lambda: len(lines(effects)) >= RESTART_AFTER_LINES,
        DRAIN_SECONDS,
        lambda: f"{RESTART_AFTER_LINES} task runs done\n{workers.outputs()}",
    )

    restarted = subprocess.run(
        restart, capture_output=True, text=True, timeout=RESTART_SECONDS, check=False
    )
    assert restarted.returncode == 0, f"{restart}: {restarted.stdout}{restarted.stderr}"
    wait_for(lambda: accepts_connections(database_url), RESTART_SECONDS, "pg_isready")
    assert len(lines(effects)) < ITEMS, "the run was over before the restart: nothing shown"
    hold.unlink()

    view = workers.wait_run_over(run_id, DRAIN_SECONDS)
    assert view.run.state == RunState.SUCCEEDED, workers.describe(run_id)
    for worker in pool:
        assert worker.alive(), worker.output()

    children = {t.id: t for t in view.task_runs if t.node_id == "append_line" and t.map_index >= 0}
    assert sorted(t.map_index for t in children.values()) == list(range(ITEMS))
    assert {t.state for t in children.values()} <= {TaskRunState.SUCCEEDED, TaskRunState.CACHED}
    done = Counter(tuple(map(int, line.split()[1:])) for line in lines(effects))
    # Every element ran at least once.
    assert {item for item, _ in done} == set(range(ITEMS))
    attempts = {
        (children[a.task_run_id].map_index, a.number): a
        for a in view.attempts
        if a.task_run_id in children
    }
    # Each line was written by a recorded attempt, and no attempt wrote twice.
    assert set(done) <= set(attempts), sorted(set(done) - set(attempts))[:10]
    assert max(done.values()) == 1
    # Each successful attempt wrote exactly its line; an element ran more than once only
    # when it was retried.
    succeeded = [key for key, a in attempts.items() if a.state == AttemptState.SUCCEEDED]
    assert all(key in done for key in succeeded), [k for k in succeeded if k not in done][:10]
    per_item = Counter(item for item, _ in done)
    retried = {t.map_index for t in children.values() if t.attempts > 1}
    assert {item for item, count in per_item.items() if count > 1} <= retried


def drop_the_connection_while_resolving_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first attempt's database connection dies (as in a restart) while the worker
    reads what it needs to resolve the attempt's arguments."""
    real = attempt_module.resolve_task_run
    dropped: list[bool] = []

    def resolve(conn: sa.Connection, *args: object, **kwargs: object) -> object:
        if not dropped:
            dropped.append(True)
            conn.execute(sa.text("SELECT pg_terminate_backend(pg_backend_pid())"))
        return real(conn, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(attempt_module, "resolve_task_run", resolve)


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lost_connection_while_resolving_arguments_is_retried(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_the_connection_while_resolving_arguments(monkeypatch)
    result = run_pipeline(services, settings, outage_with_retries, registry=REGISTRY)
    assert result.state == RunState.SUCCEEDED, result.view
    assert result.output == 2


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_lost_connection_at_attempt_start_does_not_use_up_a_retry(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    drop_the_connection_while_resolving_arguments(monkeypatch)
    result = run_pipeline(services, settings, outage_without_retries, registry=REGISTRY)
    assert result.state == RunState.SUCCEEDED, result.view
    assert result.output == 2

"""PostgreSQL: worker threads keep a pooled connection (store.engine.PinnedConnections).
They commit and roll back, stay within the pool's bound, and a connection that dies (as
in a database restart) costs one failed transaction, then a fresh one is used. And a
heartbeat never waits for a batch's transaction holding its attempts."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from headwater.domain.spec import NodeSpec, PipelineSpec, TaskDef
from headwater.errors import StoreUnavailable
from headwater.services.attempts import claim_work
from headwater.services.context import Services
from headwater.services.runs import register_pipeline, start_run
from headwater.store import claims as claim_store
from headwater.store.engine import Database, open_database
from headwater.store.sql import Sql, execute

pytestmark = pytest.mark.postgres

_COUNT = Sql("SELECT count(*) FROM notes")
_ADD = Sql("INSERT INTO notes (text) VALUES (:text)")
_PID = Sql("SELECT pg_backend_pid()")


@pytest.fixture
def db(postgres_url: str) -> Iterator[Database]:
    made = open_database(postgres_url, pool_size=2)
    with made.write() as conn:
        conn.execute(sa.text("DROP TABLE IF EXISTS notes"))
        conn.execute(sa.text("CREATE TABLE notes (id serial PRIMARY KEY, text TEXT NOT NULL)"))
    yield made
    with made.write() as conn:
        conn.execute(sa.text("DROP TABLE notes"))
    made.dispose()


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(execute(conn, _COUNT).fetchone()[0])


def _write_then_fail(db: Database) -> None:
    with db.write() as conn:
        execute(conn, _ADD, {"text": "undone"})
        raise RuntimeError("a bug")


def _pid(db: Database) -> int:
    with db.read() as conn:
        return int(execute(conn, _PID).fetchone()[0])


def test_a_pinned_thread_commits_rolls_back_and_keeps_its_connection(db: Database) -> None:
    db.pin_thread()
    first = _pid(db)
    with db.write() as conn:
        execute(conn, _ADD, {"text": "raw"})
        conn.execute(sa.text("INSERT INTO notes (text) VALUES ('core')"))
    with pytest.raises(RuntimeError):
        _write_then_fail(db)

    assert _count(db) == 2
    assert _pid(db) == first  # the same server process: one connection kept


def test_a_dead_connection_fails_one_transaction_then_a_fresh_one_is_used(db: Database) -> None:
    db.pin_thread()
    dead = _pid(db)
    admin = sa.create_engine(str(db.engine.url), poolclass=sa.NullPool)
    with admin.connect() as conn:
        conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": dead})
        conn.commit()
    admin.dispose()

    with pytest.raises(StoreUnavailable), db.write() as conn:
        execute(conn, _ADD, {"text": "lost"})
    with db.write() as conn:
        execute(conn, _ADD, {"text": "kept"})

    assert _count(db) == 1
    assert _pid(db) != dead


def test_pinned_connections_stay_within_the_pool(db: Database) -> None:
    """pool_size=2: two threads keep one each; a third borrows one per transaction."""
    pids: list[int] = []
    worked, leave = threading.Barrier(4), threading.Barrier(4)

    def work() -> None:
        db.pin_thread()
        pids.append(_pid(db))
        worked.wait(10)
        leave.wait(10)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    worked.wait(10)
    kept = db.engine.pool.checkedout()  # type: ignore[attr-defined]
    leave.wait(10)
    for thread in threads:
        thread.join(10)

    assert len(pids) == 3
    assert kept == 2


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_heartbeat_does_not_wait_for_a_transaction_holding_its_attempt(
    services: Services,
) -> None:
    spec = PipelineSpec(
        name="one",
        tasks={"t": TaskDef(name="t", params_schema={"type": "object", "properties": {}})},
        nodes=(NodeSpec(id="a", task="t"),),
    )
    register_pipeline(services, spec)
    start_run(services, "one")
    (claim,) = claim_work(services, worker_id="w", limit=1, lease_seconds=30)
    db = services.db
    with db.write() as holder:  # e.g. the worker's batch being recorded
        lock = sa.text("SELECT 1 FROM attempts WHERE id = :id FOR UPDATE")
        holder.execute(lock, {"id": claim.attempt_id})
        done = threading.Event()
        live: set[int] = set()

        def beat() -> None:
            with db.write() as conn:
                live.update(claim_store.renew_leases(db, conn, [claim.attempt_id], 30))
            done.set()

        threading.Thread(target=beat, daemon=True).start()
        assert done.wait(10), "the heartbeat waited for the transaction holding its attempt"
    assert live == {claim.attempt_id}  # held, not lost: still live

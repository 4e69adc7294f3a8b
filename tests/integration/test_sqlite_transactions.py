"""SQLite transactions on pooled connections (store.sqlite.SqliteConnections): they
commit, roll back, nest, stay apart per thread, and turn driver errors into the store's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.errors import StoreUnavailable
from headwater.local import run_pipeline
from headwater.services.context import open_services
from headwater.store.engine import Database, open_database
from headwater.store.sql import Sql, driver_of, execute
from headwater.store.sqlite import SqliteConnections

_COUNT = Sql("SELECT count(*) FROM notes")
_ADD = Sql("INSERT INTO notes (text) VALUES (:text)")


@pytest.fixture
def db(tmp_path: Path) -> Iterator[Database]:
    made = open_database(f"sqlite:///{tmp_path}/t.db")
    with made.write() as conn:
        conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT NOT NULL)"))
    yield made
    made.dispose()


def _count(db: Database) -> int:
    with db.read() as conn:
        return int(execute(conn, _COUNT).fetchone()[0])


def test_a_write_commits_statements_from_the_driver_and_from_sqlalchemy(db: Database) -> None:
    with db.write() as conn:
        execute(conn, _ADD, {"text": "raw"})
        conn.execute(sa.text("INSERT INTO notes (text) VALUES ('core')"))

    assert _count(db) == 2


def test_sqlalchemy_made_mid_transaction_keeps_what_the_driver_wrote(tmp_path: Path) -> None:
    """A SQLite file makes its SQLAlchemy engine only when a statement needs it, over the
    connection a transaction is already using: nothing written before may be lost."""
    db = open_database(f"sqlite:///{tmp_path}/lazy.db")
    try:
        with db.write() as conn:
            execute(conn, Sql("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"))
            execute(conn, _ADD, {"text": "raw, before SQLAlchemy was loaded"})
            conn.execute(sa.text("INSERT INTO notes (text) VALUES ('core')"))
            execute(conn, _ADD, {"text": "raw, after"})
        assert _count(db) == 3
    finally:
        db.dispose()


def test_an_error_rolls_back_everything_the_transaction_wrote(db: Database) -> None:
    def fails() -> None:
        with db.write() as conn:
            execute(conn, _ADD, {"text": "raw"})
            conn.execute(sa.text("INSERT INTO notes (text) VALUES ('core')"))
            raise RuntimeError("the use case failed")

    with pytest.raises(RuntimeError):
        fails()

    assert _count(db) == 0
    with db.write() as conn:  # the thread's connection is usable again
        execute(conn, _ADD, {"text": "after"})
    assert _count(db) == 1


def test_a_constraint_error_rolls_back_and_the_connection_carries_on(db: Database) -> None:
    def clashes() -> None:
        with db.write() as conn:
            execute(conn, _ADD, {"text": "kept only if committed"})
            conn.execute(sa.text("INSERT INTO notes (id, text) VALUES (1, 'clash')"))
            conn.execute(sa.text("INSERT INTO notes (id, text) VALUES (1, 'clash')"))

    with pytest.raises(sa.exc.IntegrityError):
        clashes()

    assert _count(db) == 0
    with db.write() as conn:
        execute(conn, _ADD, {"text": "after"})
    assert _count(db) == 1


def test_a_transaction_opened_inside_another_on_the_same_thread_works(db: Database) -> None:
    with db.read() as outer:
        before = int(execute(outer, _COUNT).fetchone()[0])
        with db.write() as inner:  # a connection of its own, from the pool
            execute(inner, _ADD, {"text": "nested"})

    assert (before, _count(db)) == (0, 1)


def test_threads_write_on_their_own_connections_and_nothing_is_lost(db: Database) -> None:
    def writer(n: int) -> None:
        for i in range(50):
            with db.write() as conn:
                execute(conn, _ADD, {"text": f"{n}-{i}"})

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert _count(db) == 200


def test_more_threads_than_a_pool_would_hold_each_get_a_connection(db: Database) -> None:
    """A server runs many threads (anyio's 40): none waits for a connection."""
    barrier = threading.Barrier(40, timeout=10)
    errors: list[BaseException] = []

    def reader() -> None:
        try:
            with db.read() as conn:
                barrier.wait()  # all 40 inside a transaction at once
                execute(conn, _COUNT).fetchone()
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=reader) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []


def test_threads_taking_turns_share_one_warm_connection(db: Database) -> None:
    """A worker's attempt threads record one after another: each transaction takes the
    connection the one before gave back, instead of each thread opening its own (and
    compiling every statement on it again)."""
    used: list[object] = []

    def write(n: int) -> None:
        with db.write() as conn:
            used.append(driver_of(conn))
            execute(conn, _ADD, {"text": str(n)})

    for n in range(4):
        thread = threading.Thread(target=write, args=(n,))
        thread.start()
        thread.join()

    assert _count(db) == 4
    assert len({id(driver) for driver in used}) == 1


def test_connections_a_burst_of_threads_opened_are_closed_but_a_few(db: Database) -> None:
    barrier = threading.Barrier(20, timeout=10)

    def reader() -> None:
        with db.read() as conn:
            barrier.wait()  # all 20 inside a transaction at once: 20 connections
            execute(conn, _COUNT).fetchone()

    threads = [threading.Thread(target=reader) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    pool = db._own  # the open connections are not visible from outside
    assert isinstance(pool, SqliteConnections)
    kept = [conn for conn in pool._all if not conn.closed]
    closed = [conn for conn in pool._idle if conn.closed]

    assert (len(kept), closed) == (SqliteConnections.MAX_IDLE, [])
    assert _count(db) == 0  # and the ones kept still work


def _in_a_forked_child(act: Callable[[], bool]) -> bool:
    """Whether `act()` returned True in a forked child (exit status 0)."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            signal.alarm(10)
            code = 0 if act() else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status) == 0


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_never_uses_its_parents_connections(db: Database) -> None:
    with db.write() as conn:  # the parent's connection, idle in the pool now
        parents = driver_of(conn)
        execute(conn, _ADD, {"text": "parent"})

    def child() -> bool:
        with db.write() as conn:
            if driver_of(conn) is parents:
                return False
            execute(conn, _ADD, {"text": "child"})
        return True

    assert _in_a_forked_child(child)
    assert _count(db) == 2
    with db.write() as conn:  # the parent's connection carries on
        assert driver_of(conn) is parents


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_closing_its_database_never_closes_its_parents_connections(
    db: Database,
) -> None:
    """SQLite: a connection must not be carried across a fork, nor closed on the other
    side of one; the child's copies are set aside, never closed."""
    with db.write() as conn:
        execute(conn, _ADD, {"text": "parent"})
    pool = db._own  # the connections are not visible from outside
    assert isinstance(pool, SqliteConnections)
    parents = list(pool._all)

    def child() -> bool:
        db.dispose()  # as a child's Services.close() does, before any transaction
        return not any(conn.closed for conn in parents)

    assert _in_a_forked_child(child)
    with db.write() as conn:  # the parent's connection carries on
        execute(conn, _ADD, {"text": "after"})
    assert _count(db) == 2


def test_a_database_locked_past_the_busy_timeout_is_unavailable(
    db: Database, tmp_path: Path
) -> None:
    import sqlite3

    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        with db.read() as conn:
            conn.exec_driver_sql("PRAGMA busy_timeout=50")
        with pytest.raises(StoreUnavailable, match="locked"), db.write():
            pass
    finally:
        other.execute("ROLLBACK")
        other.close()
    with db.write() as conn:  # and once the lock is free, writes go through
        execute(conn, _ADD, {"text": "after"})
    assert _count(db) == 1


def test_a_write_inside_a_write_on_one_thread_fails_instead_of_hanging(db: Database) -> None:
    def nested() -> None:
        with db.write(), db.write():
            pass

    with pytest.raises(RuntimeError, match="inside another"):
        nested()
    with db.write() as conn:  # the lock was let go
        execute(conn, _ADD, {"text": "after"})
    assert _count(db) == 1


def test_a_failing_after_commit_callback_does_not_fail_the_committed_write(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    from headwater.store.engine import after_commit

    def boom() -> None:
        raise ValueError("listener bug")

    with db.write() as conn:
        execute(conn, _ADD, {"text": "kept"})
        after_commit(conn, boom)

    assert _count(db) == 1
    assert "a callback after commit failed" in caplog.text


_OPEN_AT = """
import sys, time
from headwater.store.engine import open_database
from headwater.store.migrate import ensure_schema
start, paths = float(sys.argv[1]), sys.argv[2:]
for i, path in enumerate(paths):
    while time.time() < start + 0.2 * i:
        pass
    db = open_database("sqlite:///" + path)
    ensure_schema(db)
    db.dispose()
"""


def test_processes_opening_one_new_database_at_once_all_get_it(tmp_path: Path) -> None:
    """Switching a new file to WAL from several processes at the same moment: SQLite
    answers "locked" at once to all but one, without its busy timeout; each must wait
    and go on, not fail with "database is locked"."""
    paths = [str(tmp_path / f"new-{i}.db") for i in range(15)]
    start = time.time() + 1.0
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _OPEN_AT, str(start), *paths],
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], errors


def _rows_in_file_alone(db_file: Path, copy: Path, query: str) -> list[tuple[object, ...]]:
    """What the database file holds without its WAL: a copy of the file alone, opened."""
    shutil.copyfile(db_file, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute(query).fetchall()
    finally:
        conn.close()


def test_a_checkpoint_puts_what_was_committed_into_the_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not in the database's first CHECKPOINT_EVERY_SECONDS (a short run's WAL is left
    to the close), then at most once per that interval."""
    from headwater.store import engine

    monkeypatch.setattr(engine, "CHECKPOINT_EVERY_SECONDS", 0.2)
    db = open_database(f"sqlite:///{tmp_path}/t.db")
    try:
        with db.write() as conn:
            conn.execute(sa.text("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)"))
            execute(conn, _ADD, {"text": "committed"})
        db.checkpoint()  # too soon
        before = _rows_in_file_alone(
            tmp_path / "t.db", tmp_path / "before.db", "SELECT * FROM sqlite_master"
        )
        time.sleep(0.25)
        db.checkpoint()
        after = _rows_in_file_alone(
            tmp_path / "t.db", tmp_path / "after.db", "SELECT text FROM notes"
        )
    finally:
        db.dispose()

    assert before == []  # still only in the WAL: SQLite checkpoints at 1,000 pages
    assert after == [("committed",)]


REGISTRY = Registry()
_DB_FILE: list[Path] = []

with use_registry(REGISTRY):

    @task
    def sees_itself_running_in_the_file() -> bool:
        """True once the database file alone (no WAL) shows this attempt running."""
        give_up = time.monotonic() + 10
        copy = _DB_FILE[0].with_name("copy.db")
        query = "SELECT count(*) FROM attempts WHERE state = 'running'"
        while time.monotonic() < give_up:
            with contextlib.suppress(sqlite3.Error):  # no attempts table in the file yet
                if _rows_in_file_alone(_DB_FILE[0], copy, query) == [(1,)]:
                    return True
            time.sleep(0.02)
        return False

    @pipeline
    def checkpointed():
        return sees_itself_running_in_the_file()


def test_a_worker_checkpoints_while_its_attempts_run(tmp_path: Path) -> None:
    """So `headwater run` does not copy the whole run's WAL into the file as it closes,
    and no committing transaction waits for a checkpoint's fsyncs."""
    db_file = tmp_path / "run.db"
    _DB_FILE[:] = [db_file]
    settings = Settings(
        project_dir=tmp_path, database_url=f"sqlite:///{db_file}", artifacts=str(tmp_path / "a")
    )
    svc = open_services(settings)
    try:
        result = run_pipeline(svc, settings, checkpointed, registry=REGISTRY)
    finally:
        svc.close()

    assert result.ok
    assert result.output is True  # on the old code: not within 10 s

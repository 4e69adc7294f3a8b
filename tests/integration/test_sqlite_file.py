"""A new SQLite database is the snapshot's image, written under a temporary name and then
named: whole or not at all, in WAL mode, with the schema the migrations make (see also
test_migrations), and nothing left beside it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from contextlib import closing
from pathlib import Path

import pytest

from headwater.store import migrate, sqlite_file, sqlite_schema
from headwater.store.engine import open_database
from headwater.store.migrate import HEAD_REVISION, ensure_schema


def _master(path: Path) -> list[tuple[str, str]]:
    with closing(sqlite3.connect(path)) as conn:
        return sorted(conn.execute("SELECT name, sql FROM sqlite_master").fetchall())


def _journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("PRAGMA journal_mode").fetchone()[0])


def _revision(path: Path) -> str:
    with closing(sqlite3.connect(path)) as conn:
        return str(conn.execute("SELECT version_num FROM alembic_version").fetchone()[0])


def test_a_new_database_is_whole_in_wal_mode_with_nothing_left_beside_it(tmp_path: Path) -> None:
    path = tmp_path / "state" / "headwater.db"  # its folder does not exist yet either
    db = open_database(f"sqlite:///{path}")
    try:
        ensure_schema(db)
        with db.write() as conn:  # and it takes writes
            conn.exec_driver_sql(
                "INSERT INTO limits (key, max_running, updated_at) VALUES ('k', 1, 0)"
            )
    finally:
        db.dispose()

    assert _journal_mode(path) == "wal"
    assert _revision(path) == HEAD_REVISION
    assert os.listdir(path.parent) == ["headwater.db"]


def test_the_image_holds_what_the_statements_make(tmp_path: Path) -> None:
    """`make schema` writes both; the image must not fall behind the statements."""
    assert sqlite_file.create(str(tmp_path / "image.db")) is True
    with closing(sqlite3.connect(tmp_path / "statements.db")) as conn:
        for statement in sqlite_schema.STATEMENTS:
            conn.execute(statement)
        conn.commit()

    assert _master(tmp_path / "image.db") == _master(tmp_path / "statements.db")
    assert _revision(tmp_path / "image.db") == HEAD_REVISION
    with closing(sqlite3.connect(tmp_path / "image.db")) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_an_existing_file_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE mine (x)")
        conn.execute("INSERT INTO mine VALUES (42)")
        conn.commit()
    before = path.read_bytes()

    assert sqlite_file.create(str(path)) is False

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["h.db"]


def test_concurrent_creators_end_with_one_database(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    gate = threading.Barrier(4)
    made: list[bool] = []

    def create() -> None:
        gate.wait()
        made.append(sqlite_file.create(str(path)))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(made) == [False, False, False, True]
    assert _revision(path) == HEAD_REVISION
    assert os.listdir(tmp_path) == ["h.db"]


def test_a_stale_snapshot_leaves_the_database_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "HEAD_REVISION", "9999")
    assert sqlite_file.create(str(tmp_path / "h.db")) is False
    assert os.listdir(tmp_path) == []


def test_a_database_deleted_without_its_wal_does_not_come_back(tmp_path: Path) -> None:
    """A process killed with writes in its WAL, then the user deleted the database file
    alone: the new database must not replay the old WAL."""
    path = tmp_path / "h.db"
    db = open_database(f"sqlite:///{path}")
    ensure_schema(db)
    db.dispose()
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE mine (x)")
        conn.execute("INSERT INTO limits (key, max_running, updated_at) VALUES ('old', 1, 0)")
        conn.commit()
        shutil.copy(f"{path}-wal", tmp_path / "wal")  # as a kill -9 would leave it
    path.unlink()
    shutil.copy(tmp_path / "wal", f"{path}-wal")

    db = open_database(f"sqlite:///{path}")
    try:
        ensure_schema(db)
    finally:
        db.dispose()
    assert "mine" not in dict(_master(path))
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("SELECT count(*) FROM limits").fetchone() == (0,)


def test_temporary_files_of_processes_that_died_are_removed(tmp_path: Path) -> None:
    """A process killed while it wrote a new database leaves `<db>.<pid>-<thread>.new`
    (~210 KB); the next one to make the database removes it, not a live process's."""
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    path = tmp_path / "h.db"
    left = tmp_path / f"h.db.{dead}-1.new"
    live = tmp_path / f"h.db.{os.getpid()}-1.new"  # as another thread of this process
    other = tmp_path / "notes.new"
    for file in (left, live, other):
        file.write_bytes(b"x" * 100)

    assert sqlite_file.create(str(path)) is True

    assert sorted(os.listdir(tmp_path)) == sorted(["h.db", live.name, other.name])

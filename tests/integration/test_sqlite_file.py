"""A new SQLite database is built under a temporary name and then named: whole or not at
all, in WAL mode, with the schema the migrations make, and nothing left beside it."""

from __future__ import annotations

import os
import sqlite3
import threading
from contextlib import closing
from pathlib import Path

import pytest

from headwater.store import migrate, sqlite_file
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
    finally:
        db.dispose()

    assert _journal_mode(path) == "wal"
    assert _revision(path) == HEAD_REVISION
    assert os.listdir(path.parent) == ["headwater.db"]


def test_built_in_a_thread_it_is_the_schema_made_in_place(tmp_path: Path) -> None:
    """What `headwater run` builds beside its imports is what ensure_schema makes."""
    built = tmp_path / "built.db"
    new = sqlite_file.building(f"sqlite:///{built}")
    assert new.install() is True
    in_place = open_database(f"sqlite:///{tmp_path / 'in_place.db'}")
    try:
        with in_place.write() as conn:
            assert migrate._create_new(conn)
    finally:
        in_place.dispose()

    assert _master(built) == _master(tmp_path / "in_place.db")
    assert _revision(built) == HEAD_REVISION
    assert sorted(os.listdir(tmp_path)) == ["built.db", "in_place.db"]


def test_an_abandoned_build_leaves_no_file_and_no_folder(tmp_path: Path) -> None:
    folder = tmp_path / ".headwater"
    new = sqlite_file.building(f"sqlite:///{folder / 'headwater.db'}")
    new.abandon()
    assert not folder.exists()


def test_an_existing_database_is_never_replaced(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    with closing(sqlite3.connect(path)) as conn:
        conn.execute("CREATE TABLE mine (x)")
        conn.execute("INSERT INTO mine VALUES (42)")
        conn.commit()
    before = path.read_bytes()

    assert sqlite_file.building(f"sqlite:///{path}").install() is False  # nothing built
    new = sqlite_file.NewDatabase(str(path))  # built, but the name is taken: not linked
    new.build()
    assert new.install() is False

    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["h.db"]


def test_concurrent_creators_end_with_one_database(tmp_path: Path) -> None:
    path = tmp_path / "h.db"
    builders = [sqlite_file.NewDatabase(str(path)) for _ in range(4)]
    for i, new in enumerate(builders):  # one process's pid: tell their files apart
        new._temporary = f"{path}.{i}.new"
    for new in builders:
        new.build()
    results: list[bool] = []
    threads = [threading.Thread(target=lambda n=n: results.append(n.install())) for n in builders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [False, False, False, True]
    assert _revision(path) == HEAD_REVISION
    assert os.listdir(tmp_path) == ["h.db"]


def test_a_stale_snapshot_leaves_the_database_to_alembic(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(migrate, "HEAD_REVISION", "9999")
    new = sqlite_file.building(f"sqlite:///{tmp_path / 'h.db'}")
    assert new.install() is False
    assert os.listdir(tmp_path) == []

"""Schema migrations on both backends: Alembic builds exactly the tables' metadata,
`HEAD_REVISION` is Alembic's head, `ensure_schema` is idempotent, a new database is
created without Alembic (SQLite from the schema snapshot, PostgreSQL from the metadata)
with the same schema the migrations build, and an older one is upgraded by Alembic.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from headwater.store import migrate
from headwater.store.engine import Database, open_database
from headwater.store.migrate import (
    HEAD_REVISION,
    MIGRATIONS_DIR,
    current_revision,
    ensure_schema,
    upgrade,
)
from headwater.store.sql import Sql, execute
from headwater.store.tables import metadata, pipelines

# Every table the code defines, plus Alembic's own; compare_metadata below checks
# their columns and indexes.
TABLES = {t.name for t in metadata.sorted_tables} | {"alembic_version"}


@pytest.fixture
def empty_db(database_url: str) -> Iterator[Database]:
    """A database with no tables at all (a new SQLite file, or a new PostgreSQL database;
    the shared test database already holds the schema)."""
    with _new_database(database_url) as db:
        yield db


@contextlib.contextmanager
def _new_database(url_text: str) -> Iterator[Database]:
    """`url_text` itself for SQLite (a new file or memory); for PostgreSQL a new database
    on the same server, dropped afterwards."""
    if url_text.startswith("sqlite"):
        db = open_database(url_text)
        yield db
        db.dispose()
        return
    url = sa.engine.make_url(url_text)
    name = f"headwater_migrate_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    db = open_database(url.set(database=name).render_as_string(hide_password=False))
    try:
        yield db
    finally:
        db.dispose()
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _schema(db: Database) -> dict[str, Any]:
    """What a user of the schema relies on, in a form that compares across creation paths:
    tables, columns (nullability, defaults, and the type on SQLite), keys and indexes."""
    with db.engine.connect() as conn:
        inspector = sa.inspect(conn)
        found: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            columns = {
                col["name"]: (
                    col["nullable"],
                    col.get("default"),
                    str(col["type"]) if db.dialect == "sqlite" else None,
                )
                for col in inspector.get_columns(table)
            }
            indexes = {
                ix["name"]: (tuple(ix["column_names"]), bool(ix["unique"]), _where(db, conn, ix))
                for ix in inspector.get_indexes(table)
                if not ix.get("duplicates_constraint")
            }
            found[table] = {
                "columns": columns,
                "primary_key": tuple(inspector.get_pk_constraint(table)["constrained_columns"]),
                "foreign_keys": sorted(
                    (
                        tuple(fk["constrained_columns"]),
                        fk["referred_table"],
                        tuple(fk["referred_columns"]),
                    )
                    for fk in inspector.get_foreign_keys(table)
                ),
                "unique": sorted(
                    tuple(uq["column_names"]) for uq in inspector.get_unique_constraints(table)
                ),
                "indexes": indexes,
            }
    return found


def _where(db: Database, conn: sa.Connection, index: dict[str, Any]) -> Any:
    """An index's partial WHERE and its column order (DESC), as the database reports them."""
    options = index.get("dialect_options", {})
    if db.dialect == "sqlite":
        where = options.get("sqlite_where")
        order = tuple(
            row[3]  # PRAGMA index_xinfo: (seqno, cid, name, desc, coll, key)
            for row in conn.exec_driver_sql(f"PRAGMA index_xinfo('{index['name']}')")
            if row[5]
        )
        return (getattr(where, "text", where), order)
    return (options.get("postgresql_where"), tuple(sorted(index.get("column_sorting", {}))))


# -- migrations build the metadata --------------------------------------------------


def test_upgrade_on_an_empty_database_builds_the_table_metadata(empty_db: Database) -> None:
    assert current_revision_of(empty_db) is None

    upgrade(empty_db)

    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        diffs = compare_metadata(context, metadata)
        tables = set(sa.inspect(conn).get_table_names())
    assert diffs == []
    assert tables == TABLES
    assert current_revision_of(empty_db) == HEAD_REVISION


def current_revision_of(db: Database) -> str | None:
    with db.read() as conn:
        return current_revision(conn)


def test_head_revision_is_alembics_head() -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    script = ScriptDirectory.from_config(config)

    assert script.get_heads() == [HEAD_REVISION]
    assert script.get_current_head() == HEAD_REVISION


def test_ensure_schema_twice_is_a_no_op(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    ensure_schema(empty_db)
    with empty_db.write() as conn:
        conn.execute(
            pipelines.insert().values(
                name="kept", origin="code", created_at=time.time(), updated_at=time.time()
            )
        )
    before = _schema(empty_db)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ensure_schema migrated a database that was current")

    monkeypatch.setattr(migrate, "upgrade", refuse)
    ensure_schema(empty_db)

    assert _schema(empty_db) == before
    assert current_revision_of(empty_db) == HEAD_REVISION
    with empty_db.read() as conn:
        assert conn.execute(sa.select(pipelines.c.name)).scalars().all() == ["kept"]


def test_ensure_schema_twice_on_an_in_memory_database_is_a_no_op() -> None:
    db = open_database("sqlite://")
    try:
        ensure_schema(db)
        ensure_schema(db)
        assert current_revision_of(db) == HEAD_REVISION
    finally:
        db.dispose()


def test_a_new_database_is_created_without_alembic_and_equals_the_migrated_schema(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fresh project skips Alembic (its import alone costs a few hundred ms) and still
    gets exactly the schema the migrations build, version table included."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("ensure_schema ran Alembic on a new database")

    with monkeypatch.context() as patch:
        patch.setattr(migrate, "upgrade", refuse)
        ensure_schema(empty_db)
    assert current_revision_of(empty_db) == HEAD_REVISION
    created = _schema(empty_db)

    with empty_db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "compare_server_default": True}
        )
        assert compare_metadata(context, metadata) == []
    other = (
        "sqlite://"
        if empty_db.dialect == "sqlite"
        else empty_db.engine.url.render_as_string(hide_password=False)
    )
    with _new_database(other) as migrated_db:
        upgrade(migrated_db)
        migrated = _schema(migrated_db)
    assert set(created) == TABLES
    assert created == migrated


def test_a_database_of_an_older_revision_is_upgraded_by_alembic(empty_db: Database) -> None:
    upgrade(empty_db, "0003")
    with empty_db.write() as conn:
        conn.execute(
            pipelines.insert().values(
                name="kept", origin="code", created_at=time.time(), updated_at=time.time()
            )
        )

    ensure_schema(empty_db)

    assert current_revision_of(empty_db) == HEAD_REVISION
    with empty_db.read() as conn:
        assert conn.execute(sa.select(pipelines.c.name)).scalars().all() == ["kept"]


def _downgrade(db: Database, revision: str) -> None:
    from alembic import command

    from headwater.store.sqlite import sqlalchemy_connection

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.write() as conn:
        config.attributes["connection"] = sqlalchemy_connection(conn)
        command.downgrade(config, revision)


def test_downgrading_the_head_migration_gives_back_the_previous_schema(database_url: str) -> None:
    """The head migration's downgrade() restores exactly what the revision before built,
    and upgrading again gives the head schema back."""
    previous = str(int(HEAD_REVISION) - 1).zfill(4)
    with _new_database(database_url) as built, _new_database(database_url) as undone:
        upgrade(built, previous)
        upgrade(undone)
        head = _schema(undone)

        _downgrade(undone, previous)

        assert current_revision_of(undone) == previous
        assert _schema(undone) == _schema(built)
        upgrade(undone)
        assert _schema(undone) == head


def test_upgrading_to_0010_keeps_earlier_outputs_cached_from_the_artifact_store(
    empty_db: Database,
) -> None:
    """Before 0010 every success was also committed as files: those rows are marked as
    artifacts, so the cache keeps looking for them in the store (not in the database)."""
    upgrade(empty_db, "0009")
    now = time.time()
    statements = [
        "INSERT INTO pipelines (name, origin, created_at, updated_at)"
        " VALUES ('p', 'code', :now, :now)",
        "INSERT INTO pipeline_versions (id, pipeline, content_hash, spec, created_at)"
        " VALUES (1, 'p', 'h', '{}', :now)",
        "INSERT INTO runs (id, pipeline, version_id, state, args, task_args, remaining,"
        " created_at) VALUES ('r1', 'p', 1, 'succeeded', '{}', '{}', 0, :now)",
    ]
    for node, state, output in (
        ("a", "succeeded", "1"),
        ("b", "cached", "2"),
        ("c", "failed", None),
    ):
        statements.append(
            "INSERT INTO task_runs (run_id, node_id, task, state, queue, available_at,"
            " waiting_on, max_attempts, created_at, cache_key, output) VALUES"
            f" ('r1', '{node}', 't', '{state}', 'default', :now, 0, 1, :now, 'k{node}',"
            f" {'NULL' if output is None else repr(output)})"
        )
    with empty_db.write() as conn:
        for statement in statements:
            conn.execute(sa.text(statement), {"now": now})

    ensure_schema(empty_db)

    with empty_db.read() as conn:
        marked = conn.execute(
            sa.text("SELECT node_id, artifact FROM task_runs ORDER BY node_id")
        ).all()
    assert [(node, bool(flag)) for node, flag in marked] == [
        ("a", True),
        ("b", True),
        ("c", False),
    ]


# -- the SQLite snapshot (store/sqlite_schema.py, `make schema`) --------------------


def test_the_sqlite_snapshot_is_what_the_migrations_make() -> None:
    from headwater.store import sqlite_schema

    statements, tables = migrate.migrated_sqlite_schema()

    hint = "the SQLite schema snapshot is stale: run `make schema`"
    assert sqlite_schema.REVISION == HEAD_REVISION, hint
    assert list(sqlite_schema.STATEMENTS) == statements, hint
    assert list(sqlite_schema.TABLES) == tables, hint


def test_a_new_sqlite_file_gets_exactly_the_migrated_sqlite_master(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Byte for byte the schema SQLite keeps (every CREATE statement, in order), and the
    revision row, as a database that Alembic migrated from nothing."""
    new = open_database(f"sqlite:///{tmp_path / 'new.db'}")
    migrated = open_database(f"sqlite:///{tmp_path / 'migrated.db'}")
    try:
        with monkeypatch.context() as patch:
            patch.setattr(migrate, "upgrade", _refuse_alembic)
            ensure_schema(new)
        upgrade(migrated)

        assert _sqlite_master(new) == _sqlite_master(migrated)
        assert current_revision_of(new) == current_revision_of(migrated) == HEAD_REVISION
    finally:
        new.dispose()
        migrated.dispose()


def _refuse_alembic(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("ensure_schema ran Alembic on a new database")


def _sqlite_master(db: Database) -> list[tuple[str, str, str, str | None]]:
    with db.read() as conn:
        rows = execute(conn, Sql("SELECT type, name, tbl_name, sql FROM sqlite_master"))
        return sorted(tuple(row) for row in rows)


def test_a_current_sqlite_database_is_opened_without_sqlalchemy(tmp_path: Path) -> None:
    """`headwater run` in a project whose database is current: the revision is read on the
    driver, and nothing else is asked of the database when it opens."""
    url = f"sqlite:///{tmp_path / 'h.db'}"
    db = open_database(url)
    ensure_schema(db)
    db.dispose()
    checked = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\n"
            "from headwater.store.engine import open_database\n"
            "from headwater.store.migrate import ensure_schema\n"
            f"db = open_database({url!r})\n"
            "ensure_schema(db)\n"
            "db.dispose()\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in"
            " ('sqlalchemy', 'alembic')))\n",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert checked.stdout.strip() == "[]", checked.stderr

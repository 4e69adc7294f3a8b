"""Schema migrations with Alembic, and the fast paths that skip them.

Opening a database reads one row (the Alembic revision) and compares it with
`HEAD_REVISION`. A new SQLite database gets its schema from a snapshot of what the
migrations make (store.sqlite_schema, written by `make schema`), run on the driver: no
SQLAlchemy, no Alembic, so `headwater run` in a new project starts fast. A new
PostgreSQL database is created from the table metadata; Alembic itself is imported only
to upgrade a database made by an older version. Tests keep `HEAD_REVISION` equal to
Alembic's head, and the snapshot and the metadata equal to the migrations.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from headwater.store.engine import Database
from headwater.store.sql import Sql, driver_of, execute
from headwater.store.sqlite import sqlalchemy_connection

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

HEAD_REVISION = "0012"
MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")
_PG_MIGRATION_LOCK = 0x68656164  # advisory lock id: concurrent starters migrate one at a time
_SQLITE_TABLES = Sql("SELECT name FROM sqlite_master WHERE type = 'table'")
_REVISION = Sql("SELECT version_num FROM alembic_version")


def current_revision(conn: Connection) -> str | None:
    if conn.dialect.name == "sqlite":
        if "alembic_version" not in _sqlite_tables(conn):
            return None
        row = execute(conn, _REVISION).fetchone()
        return None if row is None else str(row[0])
    import sqlalchemy as sa

    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(db: Database, revision: str = "head") -> None:
    """Bring the schema to `revision` (``headwater db upgrade``)."""
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    with db.write() as conn:
        _lock_migrations(db, conn)
        config.attributes["connection"] = sqlalchemy_connection(conn)
        command.upgrade(config, revision)


def ensure_schema(db: Database) -> None:
    """Create or upgrade the schema if it is not current.

    A new, empty database (a fresh project, an in-memory one in a user's pytest) gets
    the same schema as the migrations give (tests compare them) without Alembic's
    start-up cost: SQLite from the snapshot, PostgreSQL from the table metadata, stamped
    with the head revision. Alembic runs only to upgrade a database made by an older
    version.
    """
    if db.sqlite_file is not None and not os.path.exists(db.sqlite_file):
        from headwater.store.sqlite_file import create

        create(db.sqlite_file)  # the snapshot's file, written whole, then named
    if not db.is_memory:
        with db.read() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
    with db.write() as conn:
        _lock_migrations(db, conn)
        revision = current_revision(conn)
        if revision == HEAD_REVISION:
            return
        if revision is None and _create_new(conn):
            return
    upgrade(db)


def _create_new(conn: Connection) -> bool:
    """Create the schema at the head revision if none of its tables exists yet; False
    if some do (a database to upgrade) or there is no snapshot of the head revision."""
    if conn.dialect.name == "sqlite":
        from headwater.store import sqlite_schema

        if sqlite_schema.REVISION != HEAD_REVISION:
            return False  # a new migration without a new snapshot: Alembic makes it
        if _sqlite_tables(conn) & set(sqlite_schema.TABLES):
            return False
        driver = driver_of(conn)
        for statement in sqlite_schema.STATEMENTS:
            driver.execute(statement)
        return True
    import sqlalchemy as sa

    from headwater.store.tables import metadata

    existing = set(sa.inspect(conn).get_table_names())
    if any(name in existing for name in metadata.tables):
        return False
    # None of the tables exists: no need for a look-up per table before creating it.
    metadata.create_all(conn, checkfirst=False)
    _stamp(conn, HEAD_REVISION)
    return True


def _sqlite_tables(conn: Connection) -> set[str]:
    return {name for (name,) in execute(conn, _SQLITE_TABLES)}


def _lock_migrations(db: Database, conn: Connection) -> None:
    # SQLite's write transaction is already exclusive; PostgreSQL needs the lock.
    if db.dialect == "postgresql":
        import sqlalchemy as sa

        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})


def _stamp(conn: Connection, revision: str) -> None:
    """The version table exactly as Alembic makes it, so later upgrades carry on."""
    import sqlalchemy as sa

    conn.execute(
        sa.text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})


# -- the SQLite snapshot ------------------------------------------------------------


def migrated_sqlite_schema() -> tuple[list[str], list[str]]:
    """(statements, table names) that make a new SQLite database exactly as the
    migrations do: its schema as SQLite keeps it (sqlite_master), tables in creation
    order then indexes by name (Alembic recreates a table's indexes in no fixed order),
    then the revision row."""
    import tempfile

    from headwater.store.engine import open_database

    with tempfile.TemporaryDirectory(prefix="headwater-schema-") as tmp:
        db = open_database(f"sqlite:///{tmp}/schema.db")
        try:
            upgrade(db)
            with db.read() as conn:
                rows: list[Any] = execute(
                    conn,
                    Sql(
                        "SELECT type, name, sql FROM sqlite_master"
                        " WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite_%'"
                        " ORDER BY type <> 'table', CASE WHEN type = 'table' THEN rowid END,"
                        " tbl_name, name"
                    ),
                ).fetchall()
                (revision,) = execute(conn, _REVISION).fetchone()
        finally:
            db.dispose()
    statements = [sql for _, _, sql in rows]
    statements.append(f"INSERT INTO alembic_version (version_num) VALUES ('{revision}')")
    return statements, [name for kind, name, _ in rows if kind == "table"]


def write_sqlite_snapshot(
    path: str = os.path.join(os.path.dirname(__file__), "sqlite_schema.py"),
) -> None:
    """Write store/sqlite_schema.py from the migrations (``make schema``)."""
    from headwater.store.sqlite_file import image as database_image

    statements, tables = migrated_sqlite_schema()
    size, runs = database_image(statements)
    lines = [
        '"""The schema of a new SQLite database, exactly as the migrations make it.',
        "",
        "Written by `make schema` (headwater.store.migrate.write_sqlite_snapshot): do not",
        'edit. A test fails when it differs from what the migrations make."""',
        "",
        "# ruff: noqa: E501",
        "",
        f"REVISION = {HEAD_REVISION!r}",
        "TABLES = (",
        *(f"    {name!r}," for name in tables),
        ")",
        "STATEMENTS = (",
        *(f"    {statement!r}," for statement in statements),
        ")",
        "# The file those statements make, in WAL mode: a new database (sqlite_file.create).",
        f"IMAGE_SIZE = {size}",
        "IMAGE = (  # (offset, bytes): its runs of bytes that are not zero",
        *(f"    ({offset}, {run!r})," for offset, run in runs),
        ")",
        "",
    ]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


if __name__ == "__main__":
    write_sqlite_snapshot()

"""Schema migrations with Alembic, and the fast check that skips them when current.

Opening a database reads one row (the Alembic revision) and compares it with
`HEAD_REVISION`; Alembic itself is imported only when there is something to do, so
`headwater run` starts fast. A test keeps `HEAD_REVISION` equal to Alembic's head.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.store.engine import Database
from headwater.store.tables import metadata

HEAD_REVISION = "0010"
MIGRATIONS_DIR = Path(__file__).with_name("migrations")
_PG_MIGRATION_LOCK = 0x68656164  # advisory lock id: concurrent starters migrate one at a time


def current_revision(conn: Connection) -> str | None:
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
        config.attributes["connection"] = conn
        command.upgrade(config, revision)


def ensure_schema(db: Database) -> None:
    """Create or upgrade the schema if it is not current.

    A new, empty database (a fresh project, an in-memory one in a user's pytest) is
    created from the table metadata and stamped with the head revision: the same schema
    as the migrations give (a test compares them), without Alembic's start-up cost.
    Alembic runs only to upgrade a database made by an older version.
    """
    if not db.is_memory:
        with db.read() as conn:
            if current_revision(conn) == HEAD_REVISION:
                return
    with db.write() as conn:
        _lock_migrations(db, conn)
        revision = current_revision(conn)
        if revision == HEAD_REVISION:
            return
        if revision is None and not _has_any_table(conn):
            # None of the tables exists: no need for a look-up per table before creating it.
            metadata.create_all(conn, checkfirst=False)
            _stamp(conn, HEAD_REVISION)
            return
    upgrade(db)


def _lock_migrations(db: Database, conn: Connection) -> None:
    # SQLite's write transaction is already exclusive; PostgreSQL needs the lock.
    if db.dialect == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})


def _has_any_table(conn: Connection) -> bool:
    existing = set(sa.inspect(conn).get_table_names())
    return any(name in existing for name in metadata.tables)


def _stamp(conn: Connection, revision: str) -> None:
    """The version table exactly as Alembic makes it, so later upgrades carry on."""
    conn.execute(
        sa.text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    conn.execute(sa.text("INSERT INTO alembic_version VALUES (:v)"), {"v": revision})

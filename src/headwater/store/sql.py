"""Hand-written statements for the hot path, run on the driver's own cursor.

Claiming, recording a result and moving a run forward run a dozen small statements per
task run. Through SQLAlchemy Core each costs ~75 µs of Python before the database sees
it (cache-key lookup, parameter processing, result set-up); on the driver's cursor the
same statement costs ~9 µs on SQLite. So the statements of that path are written here
once, as SQL text, inside the transaction SQLAlchemy opened (`Database.write/read`):
the engine, pool, transactions and every other query stay SQLAlchemy's.

A statement is written once with `:name` parameters; for PostgreSQL (psycopg) they
become `%(name)s`. Where the dialects differ (lists, the clock), a statement gives both
texts. Driver errors leave as the store's own: StoreUnavailable for "cannot reach the
database", Contended for a deadlock or serialisation failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Connection

from headwater.errors import Contended, StoreUnavailable

_PARAM = re.compile(r"(?<![:\w]):([a-z_][a-z0-9_]*)")
_CONTENDED_SQLSTATES = ("40P01", "40001")


class Sql:
    """One statement, as text for SQLite and for PostgreSQL."""

    __slots__ = ("postgresql", "sqlite")

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        self.sqlite = sqlite
        self.postgresql = _PARAM.sub(r"%(\1)s", (postgresql or sqlite).replace("%", "%%"))

    def text(self, dialect: str) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgresql


# The database clock, in seconds since the epoch, as SQL (see Database.now).
NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from clock_timestamp())::float8",
}


def dialect_of(conn: Connection) -> str:
    return conn.dialect.name


def execute(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> Any:
    """Run `stmt` in `conn`'s transaction; the driver's cursor (rows, rowcount)."""
    raw = conn.connection.driver_connection
    assert raw is not None
    with _driver_errors():
        return raw.execute(stmt.text(conn.dialect.name), params or {})


def execute_many(conn: Connection, stmt: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `stmt` once per row of parameters, in one driver call."""
    if not rows:
        return
    raw = conn.connection.driver_connection
    assert raw is not None
    with _driver_errors():
        cursor = raw.cursor()
        try:
            cursor.executemany(stmt.text(conn.dialect.name), rows)
        finally:
            cursor.close()


def id_list(conn: Connection, ids: Sequence[Any]) -> Any:
    """A list parameter for `IN (SELECT value FROM json_each(:x))` on SQLite and
    `= ANY(:x)` on PostgreSQL: a JSON array for the one, a list for the other."""
    if conn.dialect.name == "sqlite":
        return json.dumps(list(ids))
    return list(ids)


@contextmanager
def _driver_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        kind = _classify(exc)
        if kind is None:
            raise
        raise kind(f"database unavailable: {exc}") from exc


def _classify(exc: Exception) -> type[Exception] | None:
    import sqlite3

    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable
    if isinstance(exc, sqlite3.Error):
        return None
    try:
        import psycopg
    except ImportError:  # pragma: no cover - psycopg is a dependency
        return None
    if getattr(exc, "sqlstate", None) in _CONTENDED_SQLSTATES:
        return Contended
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable
    return None

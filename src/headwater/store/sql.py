"""Hand-written statements for the hot path, run on the driver's own cursor.

Claiming, recording a result and moving a run forward run a dozen small statements per
task run. Through SQLAlchemy Core each costs ~75 µs of Python before the database sees
it (cache-key lookup, parameter processing, result set-up); on the driver's cursor the
same statement costs ~9 µs on SQLite. So the statements of that path are written here
once, as SQL text, inside the transaction `Database.write/read` opened. On a SQLite file
that connection is the driver's own (store.sqlite.PooledConnection), so a run that
needs only these statements never imports SQLAlchemy.

A statement is written once with `:name` parameters; for PostgreSQL (psycopg) they
become `%(name)s`. Where the dialects differ (lists, the clock), a statement gives both
texts. Driver errors leave as the store's own: StoreUnavailable for "cannot reach the
database", Contended for a deadlock or serialisation failure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headwater.errors import Contended, StoreUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_PARAM = r"(?<![:\w]):([a-z_][a-z0-9_]*)"  # compiled on first use: PostgreSQL's only
CONTENDED_SQLSTATES = ("40P01", "40001")


class Sql:
    """One statement, as text for SQLite and for PostgreSQL."""

    __slots__ = ("_postgresql", "_source", "sqlite")

    def __init__(self, sqlite: str, postgresql: str | None = None) -> None:
        self.sqlite = sqlite
        self._source = postgresql or sqlite
        self._postgresql: str | None = None

    @property
    def postgresql(self) -> str:
        # Made on first use: a run on SQLite would otherwise rewrite every statement of
        # the store's modules at import (~20 us each).
        if self._postgresql is None:
            self._postgresql = re.sub(_PARAM, r"%(\1)s", self._source.replace("%", "%%"))
        return self._postgresql

    def text(self, dialect: str) -> str:
        return self.sqlite if dialect == "sqlite" else self.postgresql


# The database clock, in seconds since the epoch, as SQL (see Database.now).
NOW = {
    "sqlite": "((julianday('now') - 2440587.5) * 86400.0)",
    "postgresql": "extract(epoch from clock_timestamp())::float8",
}


def dialect_of(conn: Connection) -> str:
    return conn.dialect.name


def driver_of(conn: Connection) -> Any:
    """The driver's connection under `conn` (a PooledConnection's own, or SQLAlchemy's)."""
    driver = getattr(conn, "driver", None)
    if driver is None:
        driver = conn.connection.driver_connection
        assert driver is not None
    return driver


def execute(conn: Connection, stmt: Sql, params: Mapping[str, Any] | None = None) -> Any:
    """Run `stmt` in `conn`'s transaction; the driver's cursor (rows, rowcount)."""
    raw = driver_of(conn)
    with driver_errors():
        return raw.execute(stmt.text(conn.dialect.name), params or {})


def execute_many(conn: Connection, stmt: Sql, rows: Sequence[Mapping[str, Any]]) -> None:
    """Run `stmt` once per row of parameters, in one driver call."""
    if not rows:
        return
    raw = driver_of(conn)
    with driver_errors():
        cursor = raw.cursor()
        try:
            cursor.executemany(stmt.text(conn.dialect.name), rows)
        finally:
            cursor.close()


def execute_rows(conn: Connection, text: str, rows: Sequence[Sequence[Any]]) -> None:
    """Run `text`, written in the driver's own positional style (``?`` or ``%s``), once
    per row of values, in one driver call."""
    if not rows:
        return
    with driver_errors():
        cursor = driver_of(conn).cursor()
        try:
            cursor.executemany(text, list(rows))
        finally:
            cursor.close()


def execute_counts(conn: Connection, stmt: Sql, rows: Sequence[Mapping[str, Any]]) -> list[int]:
    """Run `stmt` once per row of parameters, in order; how many rows each changed.
    For SQLite, where a statement costs no round trip; on PostgreSQL each would."""
    if not rows:
        return []
    raw = driver_of(conn)
    text = stmt.text(conn.dialect.name)
    with driver_errors():
        return [raw.execute(text, row).rowcount for row in rows]


def is_unique_violation(exc: BaseException) -> bool:
    """True for a broken unique (or other integrity) constraint, from either driver or
    from SQLAlchemy."""
    import sqlite3
    import sys

    if isinstance(exc, sqlite3.IntegrityError):
        return True
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(exc, psycopg.IntegrityError):
        return True
    sa = sys.modules.get("sqlalchemy")
    return sa is not None and isinstance(exc, sa.exc.IntegrityError)


def is_database_error(exc: BaseException) -> bool:
    """True for an error the database (either driver, or SQLAlchemy) raised."""
    import sqlite3
    import sys

    psycopg = sys.modules.get("psycopg")
    sa = sys.modules.get("sqlalchemy")
    return (
        isinstance(exc, sqlite3.Error)
        or (psycopg is not None and isinstance(exc, psycopg.Error))
        or (sa is not None and isinstance(exc, sa.exc.SQLAlchemyError))
    )


def id_list(conn: Connection, ids: Sequence[Any]) -> Any:
    """A list parameter for `IN (SELECT value FROM json_each(:x))` on SQLite and
    `= ANY(:x)` on PostgreSQL: a JSON array for the one, a list for the other."""
    if conn.dialect.name == "sqlite":
        return json.dumps(list(ids))
    return list(ids)


class _DriverErrors:
    """See `driver_errors`. A class, not a @contextmanager generator: it wraps every
    statement of the hot path, where a generator cost ~3 µs to set up and tear down."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if not isinstance(exc, Exception):
            return
        translated = _classify(exc)
        if translated is Contended:
            raise Contended(f"transaction aborted, try again: {exc}") from exc
        if translated is not None:
            raise translated(f"database unavailable: {exc}") from exc


_DRIVER_ERRORS = _DriverErrors()


def driver_errors() -> _DriverErrors:
    """Driver errors (sqlite3, psycopg) as the store's: an outage is StoreUnavailable, a
    transaction the server aborted to break a deadlock is Contended; others unchanged."""
    return _DRIVER_ERRORS


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
    if getattr(exc, "sqlstate", None) in CONTENDED_SQLSTATES:
        return Contended
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return StoreUnavailable
    return None

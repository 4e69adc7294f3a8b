"""Opening the database: SQLite (embedded default) or PostgreSQL.

SQLite: WAL, synchronous=NORMAL (durable across process crashes; a power loss may drop
the last transactions, which is fine for the embedded default), foreign keys, a busy
timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers queue on the
lock instead of failing later with "database is locked".
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool, StaticPool

from headwater.errors import ConfigError, Contended, StoreUnavailable

log = logging.getLogger("headwater.store")
SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
_WRITE = "headwater_write"
_TXN = "headwater_txn"
_AFTER_COMMIT = "after_commit"
_OWN = "headwater_thread_connection"


class Database:
    """An engine plus the transaction helpers every query module uses."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.is_memory = self.dialect == "sqlite" and engine.url.database in (None, "", ":memory:")
        self._clock = sa.select(self.now())
        # One shared connection serves an in-memory database, so transactions from
        # different threads must take turns on it.
        self._lock: Any = threading.RLock() if self.is_memory else nullcontext()
        # SQLite has one writer at a time. Threads of this process take turns on a lock
        # here: waiting in SQLite's busy handler instead sleeps in growing steps and
        # makes a convoy of a few threads cost milliseconds per transaction.
        self._write_lock: Any = (
            _WriteLock() if self.dialect == "sqlite" and not self.is_memory else nullcontext()
        )
        # SQLite file: each thread keeps its own connection (see ThreadConnections).
        self._own = (
            ThreadConnections(engine) if self.dialect == "sqlite" and not self.is_memory else None
        )

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        if self._own is not None and self._own.idle():
            with self._write_lock, self._own.transaction("BEGIN IMMEDIATE") as conn:
                notes = conn.info[_TXN] = {}
                try:
                    yield conn
                finally:
                    conn.info.pop(_TXN, None)
            _after_commit(notes)
            return
        with _unavailable_as_error(), self._lock, self._write_lock, self.engine.connect() as conn:
            conn.info[_WRITE] = True
            notes = conn.info[_TXN] = {}
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(_WRITE, None)
                conn.info.pop(_TXN, None)
        _after_commit(notes)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if self._own is not None and self._own.idle():
            with self._own.transaction("BEGIN") as conn:
                yield conn
            return
        with _unavailable_as_error(), self._lock, self.engine.connect() as conn, conn.begin():
            yield conn

    def clock(self, conn: Connection) -> float:
        """The database clock now, in seconds since the epoch: every timestamp a
        transaction writes comes from here, so all workers agree whatever their clocks.

        A SQLite database is a file on this machine, used only by processes on this
        machine, all reading the one system clock that SQLite's own `now` reads: asking
        SQLite would cost a statement per transaction and tell nothing more."""
        if self.dialect == "sqlite":
            return time.time()
        return float(conn.execute(self._clock).scalar_one())

    def now(self) -> Any:
        """An SQL expression for the database clock, in seconds since the epoch."""
        if self.dialect == "sqlite":
            return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")
        return sa.literal_column("extract(epoch from clock_timestamp())::float8")

    def dispose(self) -> None:
        if self._own is not None:
            self._own.close_all()
        self.engine.dispose()


def _after_commit(notes: dict[str, Any]) -> None:
    """Run a committed transaction's callbacks; one that fails is logged, never raised:
    the caller must not take an error for a transaction that did commit."""
    for callback in notes.get(_AFTER_COMMIT, ()):
        try:
            callback()
        except Exception:
            log.exception("a callback after commit failed")


class _WriteLock:
    """The in-process turn for SQLite writers. A write transaction opened inside another
    on the same thread would wait for itself forever: it raises instead."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: int | None = None

    def __enter__(self) -> None:
        me = threading.get_ident()
        if self._owner == me:
            raise RuntimeError("a write transaction inside another one on the same thread")
        self._lock.acquire()
        self._owner = me

    def __exit__(self, *exc: object) -> None:
        self._owner = None
        self._lock.release()


class ThreadConnections:
    """SQLite: one connection per thread, kept open, with transactions begun and ended on
    the driver itself.

    Checking a connection out of the pool and beginning and committing through
    SQLAlchemy costs ~0.4 ms per transaction, against ~25 µs for BEGIN and COMMIT on the
    driver; the hot path runs one or two transactions per task run. A SQLite connection
    is a file handle, so one per thread is cheap (it is closed once its thread has
    ended), and it is never shared between threads. SQLAlchemy statements run on the
    same connection, inside the transaction begun here (its own "begin" hook stands
    aside for these connections).
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._local = threading.local()
        self._all: list[tuple[weakref.ref[threading.Thread], Connection]] = []
        self._lock = threading.Lock()

    def idle(self) -> bool:
        """False inside a transaction of this thread's connection: a nested one takes a
        connection from the pool instead."""
        return not getattr(self._local, "busy", False)

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = self._engine.connect()
            conn.info[_OWN] = True
            self._local.conn = conn
            with self._lock:
                ended = [c for thread, c in self._all if not _alive(thread())]
                self._all = [(t, c) for t, c in self._all if _alive(t())]
                self._all.append((weakref.ref(threading.current_thread()), conn))
            for old in ended:  # the connections of threads that have ended
                with contextlib.suppress(Exception):
                    old.close()
        return conn

    @contextmanager
    def transaction(self, begin: str) -> Iterator[Connection]:
        conn = self._connection()
        raw = conn.connection.driver_connection
        assert raw is not None
        with _unavailable_as_error(), _sqlite_errors():
            raw.execute(begin)
        self._local.busy = True
        try:
            try:
                yield conn
            except BaseException:
                self._end(conn, raw, commit=False)
                raise
            with _unavailable_as_error(), _sqlite_errors():
                self._end(conn, raw, commit=True)
        finally:
            self._local.busy = False

    def _end(self, conn: Connection, raw: Any, *, commit: bool) -> None:
        try:
            if conn.in_transaction():  # SQLAlchemy statements ran: end its transaction too
                conn.commit() if commit else conn.rollback()
            if raw.in_transaction:
                raw.execute("COMMIT" if commit else "ROLLBACK")
        except BaseException:
            self._discard(conn)
            raise

    def _discard(self, conn: Connection) -> None:
        """A connection that failed to end its transaction is not used again."""
        self._local.conn = None
        with self._lock:
            self._all = [(t, c) for t, c in self._all if c is not conn]
        with contextlib.suppress(Exception):
            conn.invalidate()
            conn.close()

    def close_all(self) -> None:
        with self._lock:
            conns, self._all = [c for _, c in self._all], []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


def _alive(thread: threading.Thread | None) -> bool:
    return thread is not None and thread.is_alive()


@contextmanager
def _sqlite_errors() -> Iterator[None]:
    """Driver errors from BEGIN/COMMIT run on the driver (not through SQLAlchemy)."""
    import sqlite3

    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StoreUnavailable(f"database unavailable: {exc}") from exc


def transaction_notes(conn: Connection) -> dict[str, Any]:
    """Notes a write transaction keeps about itself (e.g. "made work ready"), gone with it."""
    notes: dict[str, Any] = conn.info.setdefault(_TXN, {})
    return notes


def after_commit(conn: Connection, callback: Callable[[], object]) -> None:
    """Call `callback` once this write transaction has committed (never if it fails)."""
    transaction_notes(conn).setdefault(_AFTER_COMMIT, []).append(callback)


@contextmanager
def _unavailable_as_error() -> Iterator[None]:
    """Driver errors that mean "the database cannot be reached right now" (a restart, a
    dropped connection, a lock held past the busy timeout) leave the store as
    StoreUnavailable, which callers retry; any other error is a bug and propagates."""
    try:
        yield
    except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
        raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise StoreUnavailable(f"database connection lost: {exc.orig or exc}") from exc
        raise


_CONTENDED_SQLSTATES = ("40P01", "40001")  # deadlock detected, serialization failure


def _convert_driver_errors(engine: Engine) -> None:
    """Turn "the database cannot be reached" errors into StoreUnavailable at the statement
    that met them, so code inside a transaction can tell an outage from its own bug."""

    @event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.is_pre_ping:
            return  # the pool is checking a connection: it reconnects by itself
        original = context.original_exception
        if getattr(original, "sqlstate", None) in _CONTENDED_SQLSTATES:
            raise Contended(f"transaction aborted, try again: {original}") from original
        if context.is_disconnect or isinstance(
            context.sqlalchemy_exception, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            raise StoreUnavailable(f"database unavailable: {original}") from original


def open_database(url: str, *, pool_size: int = 5) -> Database:
    """Connect to `url` (``sqlite:///path``, ``sqlite://`` in memory, ``postgresql+psycopg://``)."""
    if url.startswith("sqlite"):
        db = Database(_sqlite_engine(url))
        _convert_driver_errors(db.engine)
        return db
    if url.startswith("postgresql"):
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        engine = sa.create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=30
        )
        _convert_driver_errors(engine)
        return Database(engine)
    raise ConfigError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")


def _sqlite_engine(url: str) -> Engine:
    parsed = sa.engine.make_url(url)
    memory = parsed.database in (None, "", ":memory:")
    if memory:
        engine = sa.create_engine(
            "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
        )
    else:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
        # No pool: each thread keeps its own connection (ThreadConnections), so a bounded
        # pool would run dry in a server with many threads; the rare transaction opened
        # inside another on one thread opens a connection of its own.
        engine = sa.create_engine(
            url,
            poolclass=NullPool,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS, "check_same_thread": False},
        )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to choose.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.info.get(_OWN):
            return  # ThreadConnections began the transaction on the driver
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(_WRITE) else "BEGIN")

    return engine

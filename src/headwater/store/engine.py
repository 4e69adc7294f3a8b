"""Opening the database: SQLite (embedded default) or PostgreSQL.

SQLite: WAL, synchronous=NORMAL (durable across process crashes; a power loss may drop
the last transactions, which is fine for the embedded default), foreign keys, a busy
timeout, and ``BEGIN IMMEDIATE`` for write transactions so two writers queue on the
lock instead of failing later with "database is locked".

A SQLite file's connections are the driver's, pooled (store.sqlite); its
SQLAlchemy engine is made only when something asks for it.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from typing import TYPE_CHECKING, Any, cast

from headwater.errors import ConfigError, Contended, StoreUnavailable
from headwater.logs import get_logger
from headwater.store.sql import CONTENDED_SQLSTATES, NOW, Sql, driver_errors, execute
from headwater.store.sqlite import (
    WRITE,
    SqliteConnections,
    sqlite_file_engine,
    sqlite_memory_engine,
)
from headwater.store.sqlite_file import sqlite_path

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

log = get_logger("headwater.store")
_TXN = "headwater_txn"
_CLOCK = Sql(f"SELECT {NOW['sqlite']}", f"SELECT {NOW['postgresql']}")
_AFTER_COMMIT = "after_commit"
CHECKPOINT_EVERY_SECONDS = 1.0  # SQLite: the least time between a worker's checkpoints


class Database:
    """An engine plus the transaction helpers every query module uses."""

    def __init__(self, engine: Engine | None = None, *, sqlite_file: str | None = None) -> None:
        """`engine`, or for a SQLite file its path (the engine is then made on first use)."""
        self._engine = engine
        self.sqlite_file = sqlite_file  # its path, for a SQLite file
        if engine is None:
            if sqlite_file is None:
                raise ValueError("an engine or a SQLite file")
            self.dialect, self.is_memory = "sqlite", False
        else:
            self.dialect = engine.dialect.name
            self.is_memory = self.dialect == "sqlite" and engine.url.database in (
                None,
                "",
                ":memory:",
            )
        self._engine_lock = threading.Lock()
        # Monotonic time before which checkpoint() does nothing: the first comes a second
        # after opening, so a short run (W4: one task) syncs its WAL only as it closes.
        self._next_checkpoint = time.monotonic() + CHECKPOINT_EVERY_SECONDS
        # One shared connection serves an in-memory database, so transactions from
        # different threads must take turns on it.
        self._lock: Any = threading.RLock() if self.is_memory else nullcontext()
        # SQLite has one writer at a time. Threads of this process take turns on a lock
        # here: waiting in SQLite's busy handler instead sleeps in growing steps and
        # makes a convoy of a few threads cost milliseconds per transaction.
        self._write_lock: Any = (
            _WriteLock() if self.dialect == "sqlite" and not self.is_memory else nullcontext()
        )
        # SQLite file: the process's threads share pooled connections (SqliteConnections).
        # PostgreSQL: threads that asked (pin_thread) keep one of the pool's (PinnedConnections).
        self._own: SqliteConnections | PinnedConnections | None = None
        if sqlite_file is not None:
            self._own = SqliteConnections(sqlite_file, lambda: self.engine)
        elif engine is not None and self.dialect == "postgresql":
            self._own = PinnedConnections(engine, engine.pool.size())  # type: ignore[attr-defined]

    @property
    def engine(self) -> Engine:
        """SQLAlchemy's engine (for a SQLite file, made when first asked for)."""
        if self._engine is None:
            with self._engine_lock:
                if self._engine is None:
                    self._engine = self._make_sqlite_engine()
        return self._engine

    def _make_sqlite_engine(self) -> Engine:
        assert self.sqlite_file is not None
        assert isinstance(self._own, SqliteConnections)
        engine = sqlite_file_engine(self.sqlite_file, self._own)
        _convert_driver_errors(engine)
        # SQLAlchemy's first connection of an engine reads the dialect's settings and then
        # rolls back: on a connection of its own, never one a thread has lent it inside a
        # transaction.
        with engine.connect():
            pass
        return engine

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction (``BEGIN IMMEDIATE`` on SQLite)."""
        if self._own is not None and self._own.idle():
            with (
                _unavailable_as_error(),
                self._write_lock,
                self._own.transaction("BEGIN IMMEDIATE") as own,
            ):
                notes = own.info[_TXN] = {}
                try:
                    yield cast("Connection", own)
                finally:
                    own.info.pop(_TXN, None)
            _after_commit(notes)
            return
        with _unavailable_as_error(), self._lock, self._write_lock, self.engine.connect() as conn:
            conn.info[WRITE] = True
            notes = conn.info[_TXN] = {}
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop(WRITE, None)
                conn.info.pop(_TXN, None)
        _after_commit(notes)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        if self._own is not None and self._own.idle():
            with _unavailable_as_error(), self._own.transaction("BEGIN") as own:
                yield cast("Connection", own)
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
        # On the driver: through SQLAlchemy the statement cost ~10 times the Python.
        (now,) = execute(conn, _CLOCK).fetchone()
        return float(now)

    def now(self) -> Any:
        """An SQL expression for the database clock, in seconds since the epoch."""
        import sqlalchemy as sa

        if self.dialect == "sqlite":
            return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)")
        return sa.literal_column("extract(epoch from clock_timestamp())::float8")

    def pin_thread(self) -> None:
        """PostgreSQL: this thread (a worker's loop or attempt thread, which runs the hot
        path) keeps a connection of its own between transactions; see PinnedConnections.
        Elsewhere a no-op."""
        if isinstance(self._own, PinnedConnections):
            self._own.pin()

    def checkpoint(self) -> None:
        """SQLite file: copy the pages committed to the WAL into the database file now, on
        this thread, without waiting for any reader or writer (PASSIVE), at most once per
        CHECKPOINT_EVERY_SECONDS (the first, that long after the database was opened).

        A worker calls it before its loop waits, so most of the copying and its fsyncs
        happen while attempts run, rather than in the commit that takes the WAL past 1,000
        pages (SQLite's own checkpoint) or when `headwater run` closes the database. The
        next commit after a complete checkpoint starts the WAL over and fsyncs its header
        (as after SQLite's own); the interval bounds that to one a second. None comes in a
        run's first second: its WAL is small, and checkpointing it right after the first
        claim made the first result's commit (and a one-task run) wait for three fsyncs.
        Best effort: one that cannot run now is left to SQLite's own."""
        if not isinstance(self._own, SqliteConnections):
            return
        now = time.monotonic()
        if now < self._next_checkpoint:
            return
        self._next_checkpoint = now + CHECKPOINT_EVERY_SECONDS
        try:
            with self._own.borrowed() as driver:
                driver.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except (sqlite3.Error, StoreUnavailable) as exc:
            log.debug("checkpoint skipped: %s", exc)

    def dispose(self) -> None:
        if self._own is not None:
            self._own.close_all()
        if self._engine is not None:
            self._engine.dispose()


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


class PinnedConnections:
    """PostgreSQL: a thread that asked (`Database.pin_thread`) keeps one pooled connection
    between its transactions, begun and ended on the driver.

    Each checkout from SQLAlchemy's pool pings the server first (a round trip) and each
    begin and commit through SQLAlchemy costs Python on top of the driver's own; a worker
    thread runs one or two transactions per attempt. The pinned connections come out of
    the engine's pool, so the pool's bound still holds; at most `limit` threads pin one
    (the pool's size), leaving its overflow to every other thread. A connection that
    failed (a PostgreSQL restart) is dropped; the thread's next transaction takes a fresh
    one from the pool, which checks it first.
    """

    def __init__(self, engine: Engine, limit: int) -> None:
        self._engine = engine
        self._limit = limit
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, Connection]] = []
        self._lock = threading.Lock()
        self._connecting = 0  # threads taking their connection now (counted against limit)

    def pin(self) -> None:
        self._local.pinned = True

    def idle(self) -> bool:
        """True when this thread may run its transaction on a pinned connection: it
        asked to, is not inside one already, and has one or can take one."""
        if not getattr(self._local, "pinned", False) or getattr(self._local, "busy", False):
            return False
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is not None and not conn.invalidated and not conn.closed:
            return True
        if conn is not None:
            self._discard(conn)
        with self._lock:
            self._all, ended = _without_ended_threads(self._all)
            full = len(self._all) + self._connecting >= self._limit
            self._connecting += not full
        for old in ended:  # the connections of threads that have ended go back to the pool
            with contextlib.suppress(Exception):
                old.close()
        if full:
            return False
        try:
            with _unavailable_as_error():
                conn = self._engine.connect()
            with self._lock:
                self._all.append((threading.current_thread(), conn))
        finally:
            with self._lock:
                self._connecting -= 1
        self._local.conn = conn
        return True

    @contextmanager
    def transaction(self, begin: str) -> Iterator[Connection]:
        """`begin` is SQLite's; psycopg begins a transaction at the first statement."""
        conn: Connection = self._local.conn
        self._local.busy = True
        try:
            try:
                yield conn
            except BaseException:
                # The error that ended the transaction is the one to report, whatever
                # ending it on a connection that may be gone raises (_finish drops it).
                with contextlib.suppress(Exception):
                    self._finish(conn, commit=False)
                raise
            with _unavailable_as_error(), driver_errors():
                self._finish(conn, commit=True)
        finally:
            self._local.busy = False

    def _finish(self, conn: Connection, *, commit: bool) -> None:
        try:
            if conn.invalidated:  # SQLAlchemy saw the connection fail
                raise StoreUnavailable("database connection lost")
            raw = conn.connection.driver_connection
            if conn.in_transaction():  # SQLAlchemy statements ran: end its transaction
                conn.commit() if commit else conn.rollback()
            elif raw is not None:
                raw.commit() if commit else raw.rollback()
            if raw is None or raw.closed or raw.broken:
                raise StoreUnavailable("database connection lost")
        except BaseException:
            self._discard(conn)
            raise

    def _discard(self, conn: Connection) -> None:
        """A connection that failed is not used again (nor given back to the pool)."""
        self._local.conn = None
        with self._lock:
            self._all = [(t, c) for t, c in self._all if c is not conn]
        with contextlib.suppress(Exception):
            conn.invalidate()
        with contextlib.suppress(Exception):
            conn.close()

    def close_all(self) -> None:
        with self._lock:
            conns, self._all = [c for _, c in self._all], []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()


def _without_ended_threads(
    pairs: list[tuple[threading.Thread, Connection]],
) -> tuple[list[tuple[threading.Thread, Connection]], list[Connection]]:
    """(thread, connection) pairs split into those of live threads and the connections
    of threads that have ended (to be closed outside the caller's lock). An ended
    thread's object is kept until then: a few attributes (run() let go of its target)."""
    live, ended = [], []
    for thread, conn in pairs:
        if thread.is_alive():
            live.append((thread, conn))
        else:
            ended.append(conn)
    return live, ended


def transaction_notes(conn: Connection) -> dict[str, Any]:
    """Notes a write transaction keeps about itself (e.g. "made work ready"), gone with it."""
    notes: dict[str, Any] = conn.info.setdefault(_TXN, {})
    return notes


def after_commit(conn: Connection, callback: Callable[[], object]) -> None:
    """Call `callback` once this write transaction has committed (never if it fails)."""
    transaction_notes(conn).setdefault(_AFTER_COMMIT, []).append(callback)


class _UnavailableAsError:
    """See `_unavailable_as_error`. A class, not a @contextmanager generator: every
    transaction enters it, and a generator costs more than the rest of an empty one."""

    __slots__ = ()

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, exc: BaseException | None, traceback: object) -> None:
        if not isinstance(exc, Exception) or "sqlalchemy" not in sys.modules:
            return  # no error, or not an SQLAlchemy one: it was never imported
        import sqlalchemy as sa

        if isinstance(exc, sa.exc.OperationalError | sa.exc.InterfaceError):
            raise StoreUnavailable(f"database unavailable: {exc.orig or exc}") from exc
        if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
            raise StoreUnavailable(f"database connection lost: {exc.orig or exc}") from exc


_UNAVAILABLE_AS_ERROR = _UnavailableAsError()


def _unavailable_as_error() -> _UnavailableAsError:
    """Driver errors that mean "the database cannot be reached right now" (a restart, a
    dropped connection, a lock held past the busy timeout) leave the store as
    StoreUnavailable, which callers retry; any other error is a bug and propagates."""
    return _UNAVAILABLE_AS_ERROR


def _convert_driver_errors(engine: Engine) -> None:
    """Turn "the database cannot be reached" errors into StoreUnavailable at the statement
    that met them, so code inside a transaction can tell an outage from its own bug."""
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "handle_error")
    def _on_error(context: Any) -> None:
        if context.is_pre_ping:
            return  # the pool is checking a connection: it reconnects by itself
        original = context.original_exception
        if getattr(original, "sqlstate", None) in CONTENDED_SQLSTATES:
            raise Contended(f"transaction aborted, try again: {original}") from original
        if context.is_disconnect or isinstance(
            context.sqlalchemy_exception, sa.exc.OperationalError | sa.exc.InterfaceError
        ):
            raise StoreUnavailable(f"database unavailable: {original}") from original


def open_database(url: str, *, pool_size: int = 5) -> Database:
    """Connect to `url` (``sqlite:///path``, ``sqlite://`` in memory, ``postgresql+psycopg://``)."""
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
            return Database(sqlite_file=path)
        db = Database(sqlite_memory_engine())
        _convert_driver_errors(db.engine)
        return db
    if url.startswith("postgresql"):
        import sqlalchemy as sa

        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        engine = sa.create_engine(
            url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_timeout=30
        )
        _convert_driver_errors(engine)
        return Database(engine)
    raise ConfigError(f"unsupported database URL {url!r}: use sqlite:/// or postgresql://")

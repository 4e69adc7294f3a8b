"""SQLite connections: one per thread, on the driver, with SQLAlchemy made on demand.

Every connection gets the same set-up: WAL, synchronous=NORMAL, foreign keys, a busy
timeout, and transaction control taken from the driver so BEGIN is ours to choose. A
SQLite file needs no SQLAlchemy until a statement written with it runs: transactions
begin and end on the driver (ThreadConnections), the hand-written statements of
`headwater run` go to the driver too (store.sql), and the engine is made on first use
(store.engine.Database.engine). Importing SQLAlchemy alone costs ~0.25 s, most of
`headwater run`'s start-up (issue 7).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeVar, cast

from headwater.store.sql import driver_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
C = TypeVar("C")  # a connection, of whichever kind
WRITE = "headwater_write"  # in an SQLAlchemy Connection's info: begin a write transaction
_OWN = "headwater_thread_connection"


class ThreadConnections:
    """SQLite: one driver connection per thread, kept open, with transactions begun and
    ended on the driver itself.

    Checking a connection out of the pool and beginning and committing through
    SQLAlchemy costs ~0.4 ms per transaction, against ~25 µs for BEGIN and COMMIT on the
    driver; the hot path runs one or two transactions per task run. A SQLite connection
    is a file handle, so one per thread is cheap (it is closed once its thread has
    ended), and it is never shared between threads. SQLAlchemy statements run on the
    same connection, inside the transaction begun here, through an SQLAlchemy Connection
    made over it when the first one runs (see ThreadConnection).
    """

    def __init__(self, path: str, engine: Callable[[], Engine]) -> None:
        self._path = path
        self._engine = engine
        self._local = threading.local()
        self._all: list[tuple[threading.Thread, ThreadConnection]] = []
        self._lock = threading.Lock()

    def idle(self) -> bool:
        """False inside a transaction of this thread's connection: a nested one takes a
        connection of its own from the engine instead."""
        return not getattr(self._local, "busy", False)

    def driver(self) -> sqlite3.Connection:
        """This thread's driver connection."""
        return self._connection().driver

    def _connection(self) -> ThreadConnection:
        conn: ThreadConnection | None = getattr(self._local, "conn", None)
        if conn is None or conn.closed:
            conn = ThreadConnection(connect_sqlite(self._path), self._adopt)
            self._local.conn = conn
            with self._lock:
                self._all, ended = without_ended_threads(self._all)
                self._all.append((threading.current_thread(), conn))
            for old in ended:  # the connections of threads that have ended
                old.close()
        return conn

    def _adopt(self, driver: sqlite3.Connection) -> Connection:
        """An SQLAlchemy Connection over this thread's driver connection (the engine's
        creator hands it over while `adopting` is set)."""
        engine = self._engine()  # made (and first connected) before any lending
        self._local.adopting = driver
        try:
            conn = engine.connect()
        finally:
            self._local.adopting = None
        conn.info[_OWN] = True
        return conn

    def adopting(self) -> sqlite3.Connection | None:
        return getattr(self._local, "adopting", None)

    @contextmanager
    def transaction(self, begin: str) -> Iterator[ThreadConnection]:
        conn = self._connection()
        with driver_errors():
            conn.driver.execute(begin)
        self._local.busy = True
        try:
            try:
                yield conn
            except BaseException:
                self._end(conn, commit=False)
                raise
            with driver_errors():
                self._end(conn, commit=True)
        finally:
            self._local.busy = False

    def _end(self, conn: ThreadConnection, *, commit: bool) -> None:
        try:
            adopted = conn.adopted
            if adopted is not None and adopted.in_transaction():
                # SQLAlchemy statements ran: end its transaction too.
                adopted.commit() if commit else adopted.rollback()
            if conn.driver.in_transaction:
                conn.driver.execute("COMMIT" if commit else "ROLLBACK")
        except BaseException:
            self._discard(conn)
            raise

    def _discard(self, conn: ThreadConnection) -> None:
        """A connection that failed to end its transaction is not used again."""
        self._local.conn = None
        with self._lock:
            self._all = [(t, c) for t, c in self._all if c is not conn]
        conn.close(invalidate=True)

    def close_all(self) -> None:
        with self._lock:
            conns, self._all = [c for _, c in self._all], []
        for conn in conns:
            conn.close()


class _SqliteDialect:
    name = "sqlite"


class ThreadConnection:
    """A thread's own SQLite connection, as the store's functions take it.

    Hand-written statements (store.sql) run on `driver`; anything else asked of it (an
    SQLAlchemy statement, `conn.execute`, `conn.scalar`, ...) goes to an SQLAlchemy
    Connection over the same driver connection, made the first time one is needed, so
    both kinds run in one transaction."""

    dialect = _SqliteDialect()

    def __init__(
        self, driver: sqlite3.Connection, adopt: Callable[[sqlite3.Connection], Connection]
    ) -> None:
        self.driver = driver
        self.info: dict[str, Any] = {}
        self.closed = False
        self.adopted: Connection | None = None
        self._adopt = adopt

    @property
    def sqlalchemy(self) -> Connection:
        if self.adopted is None:
            self.adopted = self._adopt(self.driver)
        return self.adopted

    def __getattr__(self, name: str) -> Any:
        return getattr(self.sqlalchemy, name)

    # The transaction is the ThreadConnections' (BEGIN to COMMIT around a `db.read()` or
    # `db.write()`): a caller ending it half-way would leave the rest of the block to
    # autocommit statement by statement.
    def commit(self) -> None:
        raise RuntimeError("a store transaction is ended by its db.write()/db.read() block")

    rollback = begin = commit

    def in_transaction(self) -> bool:
        return bool(self.driver.in_transaction)

    def close(self, *, invalidate: bool = False) -> None:
        self.closed = True
        with contextlib.suppress(Exception):
            if self.adopted is not None:
                self.adopted.invalidate() if invalidate else self.adopted.close()
        with contextlib.suppress(Exception):
            self.driver.close()


def sqlalchemy_connection(conn: Any) -> Connection:
    """The SQLAlchemy Connection of `conn` (for what needs the real thing: Alembic,
    `sqlalchemy.inspect`)."""
    if isinstance(conn, ThreadConnection):
        return conn.sqlalchemy
    return cast("Connection", conn)


class _Unclosable:
    """A thread's driver connection lent to SQLAlchemy, which must not close it (its
    ThreadConnection does)."""

    def __init__(self, driver: sqlite3.Connection) -> None:
        object.__setattr__(self, "_driver", driver)

    def close(self) -> None:
        pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._driver, name, value)


def connect_sqlite(path: str) -> sqlite3.Connection:
    """A driver connection to the SQLite file at `path`, set up as every one of ours is."""
    with driver_errors():
        conn = sqlite3.connect(path, timeout=SQLITE_BUSY_TIMEOUT_SECONDS, check_same_thread=False)
        # Take transaction control from the driver so BEGIN is ours to choose.
        conn.isolation_level = None
        _set_pragmas(conn, memory=False)
    return conn


def _set_pragmas(conn: Any, *, memory: bool) -> None:
    cursor = conn.cursor()
    cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_SECONDS * 1000)}")
    if not memory:
        _use_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _use_wal(cursor: Any) -> None:
    """Switch a file to WAL (it stays so). Switching takes an exclusive lock and SQLite
    answers "locked" at once, without its busy timeout, when another process switches
    the same new file at that moment (two `headwater run`, or `serve` and a worker, in a
    new folder): wait and try again, as the busy timeout would."""
    if cursor.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
        return
    give_up = time.monotonic() + SQLITE_BUSY_TIMEOUT_SECONDS
    pause = 0.005
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > give_up:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.1)


def without_ended_threads(
    pairs: list[tuple[threading.Thread, C]],
) -> tuple[list[tuple[threading.Thread, C]], list[C]]:
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


def sqlite_memory_engine() -> Engine:
    import sqlalchemy as sa
    from sqlalchemy.pool import StaticPool

    engine = sa.create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the driver so BEGIN is ours to choose.
        dbapi_conn.isolation_level = None
        _set_pragmas(dbapi_conn, memory=True)

    _begin_ours(engine)
    return engine


def sqlite_file_engine(path: str, own: ThreadConnections) -> Engine:
    """The engine of a SQLite file. Its connections are the threads' own (lent while a
    ThreadConnection adopts one) or, for a transaction inside another on one thread and
    for callers of `Database.engine`, new ones set up like them. No pool: each thread
    keeps its own connection, so a bounded pool would run dry in a server with many
    threads."""
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    def connect() -> Any:
        driver = own.adopting()
        return _Unclosable(driver) if driver is not None else connect_sqlite(path)

    engine = sa.create_engine(f"sqlite:///{path}", creator=connect, poolclass=NullPool)
    _begin_ours(engine)
    return engine


def _begin_ours(engine: Engine) -> None:
    import sqlalchemy as sa

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        if conn.info.get(_OWN):
            return  # ThreadConnections began the transaction on the driver
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(WRITE) else "BEGIN")

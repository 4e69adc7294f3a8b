"""SQLite connections: pooled driver connections, with SQLAlchemy made on demand.

Every connection gets the same set-up: WAL, synchronous=NORMAL, foreign keys, a busy
timeout, and transaction control taken from the driver so BEGIN is ours to choose. A
SQLite file needs no SQLAlchemy until a statement written with it runs: transactions
begin and end on the driver (SqliteConnections), the hand-written statements of
`headwater run` go to the driver too (store.sql), and the engine is made on first use
(store.engine.Database.engine). Importing SQLAlchemy alone costs ~0.25 s, most of
`headwater run`'s start-up (issue 7).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, cast

from headwater.store.sql import driver_errors

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
WRITE = "headwater_write"  # in an SQLAlchemy Connection's info: begin a write transaction
_OWN = "headwater_pooled_connection"


class SqliteConnections:
    """SQLite file: driver connections shared by the process's threads, each taken for
    one transaction and given back, with transactions begun and ended on the driver.

    Checking a connection out of SQLAlchemy's pool and beginning and committing through
    SQLAlchemy costs ~0.4 ms per transaction, against ~25 µs for BEGIN and COMMIT on the
    driver; the hot path runs one or two transactions per task run. A new connection
    costs ~0.5 ms more (SQLite reads the schema, the pragmas run) and its first use of
    each statement compiles it (the driver keeps compiled statements per connection). So
    the connections stay open and any thread takes the one given back last (the warmest):
    a worker whose attempt threads all record at the end of a wave takes turns on the
    write lock and reuses one connection, instead of each thread paying for its own. A
    thread inside a transaction that begins another takes a second connection. At most
    MAX_IDLE wait between transactions; more are opened when that many are in use at once
    (a server's threads) and closed when given back. A connection is used by one thread
    at a time (check_same_thread=False lets it change threads between transactions), and
    never by two processes: a forked child starts with none of its parent's.
    SQLAlchemy statements run on the same connection, inside the transaction begun here,
    through an SQLAlchemy Connection made over it when the first one runs (see
    PooledConnection).
    """

    MAX_IDLE = 8

    def __init__(self, path: str, engine: Callable[[], Engine]) -> None:
        self._path = path
        self._engine = engine
        self._local = threading.local()  # `adopting`: see _adopt
        self._idle: list[PooledConnection] = []  # the last given back at the end
        self._all: list[PooledConnection] = []
        self._lock = threading.Lock()
        self._pid = os.getpid()

    def idle(self) -> bool:
        """Always: a thread inside a transaction takes a second connection for another."""
        return True

    def _take(self) -> PooledConnection:
        self._forget_parents()
        with self._lock:
            if self._idle:
                return self._idle.pop()
        conn = PooledConnection(connect_sqlite(self._path), self._adopt)
        with self._lock:
            self._all.append(conn)
        return conn

    def _forget_parents(self) -> None:
        """In a forked child, the connections are the parent's, which goes on using them:
        they are set aside, never used, closed nor collected here (closing one in the
        child would release the child's view of SQLite's locks under the parent). A lock
        another thread held at the fork stays held here: the child takes a new one."""
        if self._pid == os.getpid():
            return
        self._lock = threading.Lock()
        _PARENTS_CONNECTIONS.extend(self._all)
        self._idle, self._all = [], []
        self._pid = os.getpid()

    def _give_back(self, conn: PooledConnection) -> None:
        self._forget_parents()  # a child gives back a connection taken before the fork
        with self._lock:
            if conn.closed or conn not in self._all:
                return  # discarded, or closed by close_all meanwhile
            if len(self._idle) < self.MAX_IDLE:
                self._idle.append(conn)
                return
            self._all.remove(conn)
        conn.close()

    def _adopt(self, driver: sqlite3.Connection) -> Connection:
        """An SQLAlchemy Connection over a pooled driver connection (the engine's creator
        hands it over while `adopting` is set, on this thread)."""
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
    def borrowed(self) -> Iterator[sqlite3.Connection]:
        """A driver connection for statements outside any transaction (a checkpoint)."""
        conn = self._take()
        try:
            yield conn.driver
        finally:
            self._give_back(conn)

    @contextmanager
    def transaction(self, begin: str) -> Iterator[PooledConnection]:
        conn = self._take()
        try:
            with driver_errors():
                conn.driver.execute(begin)
            try:
                yield conn
            except BaseException:
                self._end(conn, commit=False)
                raise
            with driver_errors():
                self._end(conn, commit=True)
        finally:
            self._give_back(conn)

    def _end(self, conn: PooledConnection, *, commit: bool) -> None:
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

    def _discard(self, conn: PooledConnection) -> None:
        """A connection that failed to end its transaction is not used again."""
        with self._lock:
            if conn in self._all:
                self._all.remove(conn)
        conn.close(invalidate=True)

    def close_all(self) -> None:
        self._forget_parents()
        with self._lock:
            conns, self._all, self._idle = self._all, [], []
        # Newest first: the last to close checkpoints the WAL and syncs it, and SQLite
        # also syncs the folder the first time a connection syncs its WAL. The oldest
        # (the first to write: it made the WAL) has done that already: one disk wait
        # fewer as `headwater run` ends.
        for conn in reversed(conns):
            conn.close()


# A forked child's copies of its parent's connections (SqliteConnections._forget_parents).
_PARENTS_CONNECTIONS: list[PooledConnection] = []


class _SqliteDialect:
    name = "sqlite"


class PooledConnection:
    """A pooled SQLite connection, as the store's functions take it.

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

    # The transaction is the SqliteConnections' (BEGIN to COMMIT around a `db.read()` or
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
    if isinstance(conn, PooledConnection):
        return conn.sqlalchemy
    return cast("Connection", conn)


class _Unclosable:
    """A pooled driver connection lent to SQLAlchemy, which must not close it (its
    PooledConnection does)."""

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


def sqlite_file_engine(path: str, own: SqliteConnections) -> Engine:
    """The engine of a SQLite file. Its connections are the pooled ones (lent while a
    PooledConnection adopts one) or, for callers of `Database.engine`, new ones set up
    like them. No pool of SQLAlchemy's: SqliteConnections is the pool."""
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
            return  # SqliteConnections began the transaction on the driver
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(WRITE) else "BEGIN")

"""A SQLite database file: its path in a URL, and a new one made whole before it is named.

Made in place, a project's first database costs its first `headwater run` ~6 ms: SQLite
switches a new file to WAL through a rollback journal (four fsyncs and a journal to
delete), creates the WAL (two more) and writes the schema into it. Here the schema goes
into `<name>.<pid>.new` with no journal and no syncs (the file has no name yet, so a
crash loses nothing), the file is switched to WAL, synced once and linked to its name:
a database appears whole or not at all, and of two processes creating the same one at
once, the one that links second uses the first one's.

`headwater run` builds its project's new database in a thread while its modules load
(`building`), and names it only once the pipeline is found (`install`), so a mistyped
pipeline leaves no database behind (`abandon`). This module imports nothing of
headwater's at load time, and the thread only the standard library and the snapshot:
a thread importing modules that the main thread imports at the same moment could meet
one of them half made.
"""

from __future__ import annotations

import contextlib
import os
import threading


def sqlite_path(url: str) -> str | None:
    """The file of a ``sqlite:///path`` URL; None for an in-memory database. Read the way
    SQLAlchemy reads it (``sqlite:////abs``, ``sqlite:///rel``), without importing it."""
    if url in ("sqlite://", "sqlite:///", "sqlite:///:memory:", "sqlite://:memory:"):
        return None
    if not url.startswith("sqlite:///") or "?" in url or "%" in url:
        import sqlalchemy as sa

        database = sa.engine.make_url(url).database
        return None if database in (None, "", ":memory:") else database
    return url[len("sqlite:///") :]


def building(url: str) -> NewDatabase:
    """The new database of `url`, being built in a thread if `url` is a plain
    ``sqlite:///`` one of an absolute path where no file is yet; else one that does nothing.
    `install` or `abandon` it. SQLite's own work runs beside the caller's, without the GIL."""
    path = ""
    if url.startswith("sqlite:///") and "?" not in url and "%" not in url:
        path = sqlite_path(url) or ""
    # A relative path is left to the usual way: `headwater run` changes its directory.
    new = NewDatabase(path if os.path.isabs(path) and not os.path.exists(path) else "")
    if new.path:
        new._thread = threading.Thread(target=new._build_quietly, name="hw-new-database")
        new._thread.daemon = True
        new._thread.start()
    return new


class NewDatabase:
    """The schema of a new SQLite database at `path`, built under a temporary name."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._temporary = f"{path}.{os.getpid()}.new"
        self._folder = os.path.dirname(path) or "."
        self._made_folder = False
        self._built = False
        self._thread: threading.Thread | None = None

    def build(self) -> None:
        import sqlite3

        from headwater.store import sqlite_schema

        if not os.path.isdir(self._folder):
            os.makedirs(self._folder)
            self._made_folder = True
        try:
            conn = sqlite3.connect(self._temporary, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=OFF")
                conn.execute("PRAGMA synchronous=OFF")
                conn.execute("BEGIN")
                for statement in sqlite_schema.STATEMENTS:
                    conn.execute(statement)
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode=WAL")
            finally:
                conn.close()
            _sync(self._temporary)
        except BaseException:
            self._remove_temporary()
            raise
        self._built = True

    def install(self) -> bool:
        """Give the database its name: True if the database now there is this one. False
        if a file has the name already (another process was quicker), if the build
        failed or if the snapshot is not of the newest schema: the caller then makes
        the database the usual way (ensure_schema), which reports any problem."""
        self._wait()
        if not self._built:
            return False
        from headwater.store import sqlite_schema
        from headwater.store.migrate import HEAD_REVISION

        try:
            if sqlite_schema.REVISION != HEAD_REVISION:
                return False  # a new migration without a new snapshot: Alembic makes it
            os.link(self._temporary, self.path)
        except OSError:  # the name is taken, or the file system has no hard links
            return False
        finally:
            self._remove_temporary()
        _sync(self._folder)  # the name survives a power loss
        return True

    def abandon(self) -> None:
        """Remove what was built, and the folder if it was made for it and is empty."""
        self._wait()
        self._remove_temporary()
        if self._made_folder:
            with contextlib.suppress(OSError):  # not empty: something else wrote there
                os.rmdir(self._folder)

    def _build_quietly(self) -> None:
        # If it fails, the usual way (ensure_schema) creates the database and reports why.
        with contextlib.suppress(Exception):
            self.build()

    def _wait(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    def _remove_temporary(self) -> None:
        if not self.path:
            return
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._temporary + suffix)


def create(path: str) -> None:
    """Create the SQLite database `path` with the newest schema, unless a file takes that
    name meanwhile (or the snapshot is not of the newest schema: see `install`)."""
    new = NewDatabase(path)
    new.build()
    new.install()


def _sync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

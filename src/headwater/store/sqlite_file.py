"""A SQLite database file: its path in a URL, and a new one written whole, then named.

Made by running the schema's statements, a project's first database cost its first
`headwater run` ~6 ms: SQLite switched the new file to WAL through a rollback journal
(four fsyncs and a journal to delete), created the WAL (two more) and parsed and wrote
35 tables and indexes. A new database is now the snapshot's image of that file
(`sqlite_schema.IMAGE`: its bytes that are not zero, written by `make schema`), written
under a temporary name, synced once and linked to its name: it appears whole or not at
all, and of two processes creating the same one at once, the one that links second
uses the first one's.
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


def create(path: str) -> bool:
    """Make `path` a new database with the newest schema, unless a file takes that name
    meanwhile: True if this call made it. False also when the snapshot is not of the
    newest schema (a migration without `make schema`): Alembic then makes it."""
    from headwater.store import sqlite_schema
    from headwater.store.migrate import HEAD_REVISION

    if sqlite_schema.REVISION != HEAD_REVISION:
        return False
    if os.path.exists(f"{path}-wal") or os.path.exists(f"{path}-journal"):
        # Left by a database deleted without them: SQLite would replay them into the
        # image. Made the usual way, the new file is empty, and SQLite discards them.
        return False
    folder = os.path.dirname(path) or "."
    _remove_left_behind(path)
    temporary = f"{path}.{os.getpid()}-{threading.get_ident()}.new"
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError:  # say, left by a process killed here that had this pid: not ours
        return False
    try:
        try:
            data = memoryview(_file_of_image())
            while data:
                data = data[os.write(fd, data) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        # The name is taken (another process was quicker: its database is the one),
        # or the file system has no hard links, or no room: the usual way takes over.
        os.link(temporary, path)
    except OSError:
        return False
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    with contextlib.suppress(OSError):
        _sync(folder)  # the name survives a power loss
    return True


def _remove_left_behind(path: str) -> None:
    """Remove the temporary files (``<path>.<pid>-<thread>.new``, ~210 KB each) of
    processes that no longer run: one killed while it made the database left its own.
    A file of a live process (or of an unrelated one that now has its pid) is left."""
    folder, name = os.path.split(path)
    try:
        entries = os.listdir(folder or ".")
    except OSError:
        return
    for entry in entries:
        pid, _, rest = entry.removeprefix(f"{name}.").partition("-")
        if entry == name or not entry.endswith(".new") or not pid.isdigit() or not rest:
            continue
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.unlink(os.path.join(folder, entry))
        except OSError:
            pass  # alive, another user's


def _sync(folder: str) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def image(statements: list[str]) -> tuple[int, list[tuple[int, bytes]]]:
    """The file of a new database made by `statements`, in WAL mode, as its size and its
    runs of bytes that are not zero, by offset: what `make schema` writes as
    `sqlite_schema.IMAGE_SIZE` and `IMAGE` (~11 KB of its ~210 KB)."""
    import re
    import sqlite3
    import tempfile

    with tempfile.TemporaryDirectory(prefix="headwater-image-") as tmp:
        path = os.path.join(tmp, "new.db")
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=OFF")  # the file is all there is
            conn.execute("BEGIN")
            for statement in statements:
                conn.execute(statement)
            conn.execute("COMMIT")
            conn.execute("PRAGMA journal_mode=WAL")  # written in the file's header
        finally:
            conn.close()
        with open(path, "rb") as file:
            data = file.read()
    # Runs of non-zero bytes, joined across gaps of up to 16 zeros.
    runs = re.finditer(rb"[^\x00](?:\x00{0,16}[^\x00])*", data)
    return len(data), [(run.start(), run.group()) for run in runs]


def _file_of_image() -> bytearray:
    from headwater.store import sqlite_schema

    data = bytearray(sqlite_schema.IMAGE_SIZE)
    for offset, run in sqlite_schema.IMAGE:
        data[offset : offset + len(run)] = run
    return data

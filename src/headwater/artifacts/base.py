"""The artifact store contract, and the commit protocol every backend shares.

A task run's artifacts live under ``<root>/<pipeline>/<task>/<cache key>/``. A commit writes
every file, removes files a previous commit left that are not part of this one, and writes
the ``_COMPLETE`` marker last. Only the marker makes a prefix count as complete, so a crash
at any point before it leaves a prefix that is simply not complete and is recomputed.

Attempt logs live beside the outputs in ``attempts/<label>/``; a commit never touches them.
"""

from __future__ import annotations

import builtins
import functools
import itertools
import json
import os
import sys
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

from headwater.domain.canonical import sha256_of_bytes
from headwater.domain.records import NamedTuple
from headwater.errors import NotFound

if TYPE_CHECKING:
    from pathlib import Path

MARKER_NAME = "_COMPLETE"
OUTPUT_NAME = "output.json"
ATTEMPTS_DIR = "attempts"
# Local backends write to temporary names first; listings skip these so a reader never
# mistakes a half-written file for an artifact.
TEMP_PREFIX = ".headwater-tmp-"
_HASH_CHUNK_BYTES = 1024 * 1024
_STAGING_NUMBERS = itertools.count()


class ArtifactInfo(NamedTuple):
    """One file of a committed task run."""

    name: str  # path relative to the prefix, "/"-separated
    size: int  # bytes
    uri: str


def check_part(part: str, what: str) -> None:
    """Refuse a path component that could escape its directory or be ambiguous."""
    if not part or part == "." or ".." in part or "/" in part or "\\" in part or "\0" in part:
        raise ValueError(f"invalid {what} {part!r}: must be non-empty, without '/' or '..'")


def check_name(name: str) -> None:
    """Refuse a file name that is not a plain relative path inside the prefix."""
    parts = name.split("/")
    for part in parts:
        check_part(part, "file name")
    if name == MARKER_NAME or parts[0] == ATTEMPTS_DIR or parts[-1].startswith(TEMP_PREFIX):
        raise ValueError(f"file name {name!r} is reserved for the artifact store")


def read_local_range(path: str | Path, start: int, end: int | None, uri: str) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(start)
            return f.read() if end is None else f.read(max(0, end - start))
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        raise NotFound(f"no artifact at {uri}") from None


def local_size(path: str | Path, uri: str) -> int:
    try:
        if not os.path.isfile(path):
            raise FileNotFoundError(path)
        return os.stat(path).st_size
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"no artifact at {uri}") from None


def _check_range(start: int, end: int | None) -> None:
    if start < 0 or (end is not None and end < start):
        raise ValueError(f"invalid byte range start={start} end={end}")


def _sha256_of(source: bytes | Path) -> str:
    if isinstance(source, bytes):
        return sha256_of_bytes(source)
    import hashlib  # files may be large: OpenSSL's SHA-256 is the fastest

    digest = hashlib.sha256()
    with source.open("rb") as f:
        while chunk := f.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def _staging_root_path() -> str:
    """A new name for this process's staging root, in the temporary directory. It is
    made only when a task writes files (`headwater.context.make_staging_dir`), so a run
    whose tasks write none (most) neither makes nor removes a folder: removing one costs
    up to a disk flush on some file systems, at the end of every `headwater run`."""
    # The temporary directory as tempfile finds it, without importing tempfile, which
    # loads shutil and random. Where tempfile is loaded already (its folder may have
    # been set), or where this folder would not do, tempfile itself finds it.
    parent = next(
        (os.environ[v] for v in ("TMPDIR", "TEMP", "TMP") if os.environ.get(v)),
        "/tmp",
    )
    usable = (
        os.name == "posix"
        and "tempfile" not in sys.modules
        and os.path.isabs(parent)
        and os.access(parent, os.W_OK | os.X_OK)
    )
    if not usable:
        import tempfile

        parent = tempfile.gettempdir()
    # Random, and known only to this process until made: no other can make it first.
    return os.path.join(parent, f"headwater-stage-{os.urandom(8).hex()}")


def _remove_staging_root(path: str) -> None:
    try:
        os.rmdir(path)  # the usual case when one was made: every task's folder is gone
    except FileNotFoundError:
        pass  # no task wrote files
    except OSError:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def collect_sources(files: Mapping[str, bytes], staged_dir: str | None) -> dict[str, bytes | Path]:
    """Every file a commit writes, by relative name: given bytes plus the staged folder."""
    sources: dict[str, bytes | Path] = dict(files)
    if staged_dir is not None and os.path.isdir(staged_dir):
        from pathlib import Path  # only when the task wrote files

        staged = Path(staged_dir)
        for path in sorted(staged.rglob("*")):
            if not path.is_file():
                continue
            name = path.relative_to(staged).as_posix()
            if name in sources:
                raise ValueError(f"{name!r} is both given as bytes and staged")
            sources[name] = path
    for name in sources:
        check_name(name)
    return sources


def manifest_bytes(sources: Mapping[str, bytes | Path]) -> bytes:
    entries = [
        {"name": name, "size": len(src) if isinstance(src, bytes) else src.stat().st_size}
        for name, src in sorted(sources.items())
    ]
    output = sources.get(OUTPUT_NAME)
    manifest = {
        "files": entries,
        "output_sha256": None if output is None else _sha256_of(output),
    }
    # Compact: json's C encoder (an indented dump runs the pure-Python one).
    return json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()


def manifest_is_whole(raw: bytes) -> bool:
    """A marker counts only whole: a crash (or a backend without atomic writes) can
    leave a truncated one, which does not parse."""
    try:
        manifest = json.loads(raw)
    except ValueError:
        return False
    return isinstance(manifest, dict) and isinstance(manifest.get("files"), builtins.list)


class ArtifactStore(ABC):
    """Where task runs keep their outputs, params and attempt logs.

    Prefixes are relative ``pipeline/task/key`` strings made by :meth:`prefix`; file names
    are ``/``-separated paths relative to a prefix.
    """

    root: str

    # -- public API -------------------------------------------------------------------

    def prefix(self, pipeline: str, task: str, key: str) -> str:
        """The relative ``pipeline/task/key`` folder of one task run's artifacts."""
        check_part(pipeline, "pipeline name")
        check_part(task, "task name")
        check_part(key, "cache key")
        return f"{pipeline}/{task}/{key}"

    def is_complete(self, prefix: str) -> bool:
        """Whether a commit of the prefix finished (its marker is there and whole)."""
        self._check_prefix(prefix)
        try:
            raw = self._read_range(prefix, MARKER_NAME, 0, None)
        except NotFound:
            return False
        return manifest_is_whole(raw)

    def commit(
        self, prefix: str, files: Mapping[str, bytes], staged_dir: str | None = None
    ) -> None:
        """Store ``files`` and everything under ``staged_dir``, replacing an earlier commit."""
        self._check_prefix(prefix)
        sources = collect_sources(files, staged_dir)
        marker = manifest_bytes(sources)
        if self._claim_new_prefix(prefix, sources):
            # This call made the folder: no reader counts it complete before the marker,
            # and no other commit is writing there, so files go straight to their names.
            try:
                for name, source in sorted(sources.items()):
                    self._write_new_file(prefix, name, source)
                self._write_new_file(prefix, MARKER_NAME, marker)
                return
            except FileExistsError:
                pass  # another commit of this key got in after all: replace, below
        # The usual case is a key never stored before: nothing to hide or prune.
        replacing = self._holds_files(prefix)
        if replacing:
            # Marker first: from here until the new marker lands, readers see "not
            # complete" rather than a mix of old and new files counted as complete.
            self._remove_file(prefix, MARKER_NAME)
        self._prepare_dirs(prefix, sources)
        for name, source in sorted(sources.items()):
            if isinstance(source, bytes):
                self._write_file(prefix, name, source)
            else:
                self._copy_file(prefix, name, source)
        if replacing:
            # Pruning after the writes means two concurrent commits of the same key (at-
            # least-once delivery) never delete each other's files: both keep the same
            # names. (Two that both found the key new have nothing to prune.)
            for name, _ in self._list_files(prefix):
                if name not in sources and not _is_reserved(name):
                    self._remove_file(prefix, name)
        self._write_file(prefix, MARKER_NAME, marker)

    def read_bytes(self, prefix: str, name: str) -> bytes:
        """The content of one file; raises NotFound naming its URI."""
        self._check_prefix(prefix)
        check_name(name)
        return self._read_range(prefix, name, 0, None)

    def read_range(self, prefix: str, name: str, start: int = 0, end: int | None = None) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive; ``None`` = to the end) of one file."""
        self._check_prefix(prefix)
        check_name(name)
        _check_range(start, end)
        return self._read_range(prefix, name, start, end)

    def size(self, prefix: str, name: str) -> int:
        """The size in bytes of one file; raises NotFound naming its URI."""
        self._check_prefix(prefix)
        check_name(name)
        return self._file_size(prefix, name)

    def list(self, prefix: str) -> builtins.list[ArtifactInfo]:
        """Every file under the prefix (logs included, marker excluded), sorted by name."""
        self._check_prefix(prefix)
        return [
            ArtifactInfo(name=name, size=size, uri=self.uri(prefix, name))
            for name, size in sorted(self._list_files(prefix))
            if name != MARKER_NAME
        ]

    @abstractmethod
    def uri(self, prefix: str, name: str) -> str:
        """The full path or URL of one file of a prefix."""

    def presign(self, prefix: str, name: str, expires_in: int) -> str | None:
        """A URL that reads one file without credentials for `expires_in` seconds, where
        the backend can make one (S3 and the like); None where it cannot (local disk)."""
        self._check_prefix(prefix)
        return None

    @contextmanager
    def staging_dir(self) -> Iterator[str]:
        """A fresh local path for a task to write output files into, removed on exit.
        Neither it nor its parent (this store's staging root) is created: most tasks
        write no files, and whoever writes creates both
        (`headwater.context.make_staging_dir`, which `TaskContext.output_dir` calls)."""
        with self._staging_lock:
            if self._staging_root is None:
                self._staging_root = _staging_root_path()
            root = self._staging_root
        path = os.path.join(root, str(next(_STAGING_NUMBERS)))  # unique in this process's root
        try:
            yield path
        finally:
            if os.path.exists(path):
                import shutil  # only when the task wrote files

                shutil.rmtree(path, ignore_errors=True)

    @abstractmethod
    def log_dir(self, prefix: str, label: str) -> str:
        """The local folder where the attempt ``label`` writes its logs while it runs
        (created by the first write)."""

    @abstractmethod
    def publish_logs(self, prefix: str, label: str) -> None:
        """Make the logs in :meth:`log_dir` readable from ``<root>/<prefix>/attempts/``."""

    def read_log(
        self, prefix: str, label: str, name: str, start: int = 0, end: int | None = None
    ) -> bytes:
        """Bytes ``start`` to ``end`` (exclusive; ``None`` = to the end) of a log file."""
        self._check_log(prefix, label, name)
        _check_range(start, end)
        return self._read_range(prefix, log_name(label, name), start, end)

    def log_size(self, prefix: str, label: str, name: str) -> int:
        """The size in bytes of a log file (it grows while its attempt runs)."""
        self._check_log(prefix, label, name)
        return self._file_size(prefix, log_name(label, name))

    def delete(self, prefix: str) -> None:
        """Remove the task run's artifacts and logs (forced re-runs, clean-up)."""
        self._check_prefix(prefix)
        # Marker first, so a crash half-way through leaves a prefix that is not complete.
        self._remove_file(prefix, MARKER_NAME)
        self._remove_tree(prefix)

    _staging_root: str | None = None
    _staging_lock = threading.Lock()

    def close(self) -> None:
        """Release what the store holds: its staging folder, and connections if any."""
        if self._staging_root is not None:
            _remove_staging_root(self._staging_root)
            self._staging_root = None

    # -- backend primitives -------------------------------------------------------------

    @abstractmethod
    def _read_range(self, prefix: str, name: str, start: int, end: int | None) -> bytes:
        """Bytes of one file; raises NotFound naming the URI."""

    @abstractmethod
    def _file_size(self, prefix: str, name: str) -> int:
        """Size of one file; raises NotFound naming the URI."""

    @abstractmethod
    def _prepare_dirs(self, prefix: str, names: Iterable[str]) -> None:
        """Create the folders the named files (and the marker) need, where that matters."""

    @abstractmethod
    def _write_file(self, prefix: str, name: str, data: bytes) -> None:
        """Write one file so that readers see either nothing, the old or the new content."""

    @abstractmethod
    def _copy_file(self, prefix: str, name: str, source: Path) -> None:
        """Like _write_file, from a local file."""

    @abstractmethod
    def _remove_file(self, prefix: str, name: str) -> None:
        """Remove one file; a missing file is not an error."""

    @abstractmethod
    def _remove_tree(self, prefix: str) -> None:
        """Remove everything under the prefix; a missing prefix is not an error."""

    @abstractmethod
    def _list_files(self, prefix: str) -> builtins.list[tuple[str, int]]:
        """(relative name, size) of every file under the prefix, marker and logs included."""

    def _claim_new_prefix(self, prefix: str, sources: Mapping[str, bytes | Path]) -> bool:
        """Create the prefix's folder (and those its files need) if it does not exist;
        True only if this call created it. Backends without folders answer False."""
        return False

    def _write_new_file(self, prefix: str, name: str, source: bytes | Path) -> None:
        """Write a file that must not exist yet (FileExistsError if it does)."""
        if isinstance(source, bytes):
            self._write_file(prefix, name, source)
        else:
            self._copy_file(prefix, name, source)

    def _holds_files(self, prefix: str) -> bool:
        """Whether the prefix holds anything besides attempt logs (a backend may answer
        True when unsure: that only costs the full replace protocol)."""
        return any(not name.startswith(f"{ATTEMPTS_DIR}/") for name, _ in self._list_files(prefix))

    # -- helpers ------------------------------------------------------------------------

    def _check_prefix(self, prefix: str) -> None:
        _check_prefix(prefix)

    def _check_log(self, prefix: str, label: str, name: str | None = None) -> None:
        self._check_prefix(prefix)
        check_part(label, "attempt label")
        if name is not None:
            check_part(name, "log file name")


@functools.lru_cache(maxsize=1024)
def _check_prefix(prefix: str) -> None:
    """Refuse a prefix that is not ``pipeline/task/key`` of safe parts. Remembered (an
    invalid one raises, which is not): every attempt checks its prefix several times."""
    parts = prefix.split("/")
    if len(parts) != 3:
        raise ValueError(f"invalid prefix {prefix!r}: expected 'pipeline/task/key'")
    for part, what in zip(parts, ("pipeline name", "task name", "cache key"), strict=True):
        check_part(part, what)


def log_name(label: str, name: str) -> str:
    """A log file's name relative to its prefix."""
    return f"{ATTEMPTS_DIR}/{label}/{name}"


def _is_reserved(name: str) -> bool:
    return name == MARKER_NAME or name.split("/", 1)[0] == ATTEMPTS_DIR

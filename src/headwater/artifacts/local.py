"""The artifact store on a local folder, with os only (pathlib for files tasks wrote).

This is on the path of every task run, so it does not import fsspec (slow to import).
Into a key's new folder, files are written straight to their names (nobody counts them
before the marker, written last). Replacing a key, each file is written to a temporary
name in its own folder and renamed into place, so a reader sees the old file or the new
one, never half of one. There is no fsync: the marker
protects against crashes of the process, not of the machine.
"""

from __future__ import annotations

import builtins
import contextlib
import itertools
import os
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, BinaryIO

from headwater.artifacts.base import (
    ATTEMPTS_DIR,
    MARKER_NAME,
    TEMP_PREFIX,
    ArtifactStore,
    local_size,
    manifest_is_whole,
    read_local_range,
)

if TYPE_CHECKING:
    from pathlib import Path

_FILE_MODE = 0o666  # narrowed by the umask, like any file a program creates
_IMPORT_TOKEN = os.urandom(4).hex()  # with the pid: this process, though pids are reused
_COUNTER = itertools.count()


def _copy(source: BinaryIO, target: BinaryIO) -> None:
    import shutil  # loaded when a task wrote files, not on every run's path

    shutil.copyfileobj(source, target)


class LocalArtifactStore(ArtifactStore):
    """Artifacts in ``<root>/<pipeline>/<task>/<cache key>/`` on local disk."""

    def __init__(self, root: str | Path) -> None:
        self.root = str(root)
        # Absolute now, because tasks may change the working directory later; joined,
        # not normalised (as Path.absolute(): a ".." after a symlink stays for the kernel).
        root = str(root)
        self._root = root if os.path.isabs(root) else os.path.join(os.getcwd(), root)

    def uri(self, prefix: str, name: str) -> str:
        self._check_prefix(prefix)
        # Without a trailing "/" for the prefix itself (name ""), as a Path spells it.
        return self._path(prefix, name) if name else os.path.join(self._root, prefix)

    def log_dir(self, prefix: str, label: str) -> str:
        self._check_log(prefix, label)
        return os.path.join(self._root, prefix, ATTEMPTS_DIR, label)

    def publish_logs(self, prefix: str, label: str) -> None:
        # Logs are written straight into the store; there is nothing to upload.
        self._check_log(prefix, label)

    def _path(self, prefix: str, name: str) -> str:
        return os.path.join(self._root, prefix, name)

    def _claim_new_prefix(self, prefix: str, sources: Mapping[str, bytes | Path]) -> bool:
        top = os.path.join(self._root, prefix)
        try:
            os.mkdir(top)
        except FileNotFoundError:  # the first key of this task: make its parents
            os.makedirs(os.path.dirname(top), exist_ok=True)
            try:
                os.mkdir(top)
            except FileExistsError:
                return False
        except FileExistsError:
            return False
        for folder in {os.path.dirname(name) for name in sources} - {""}:
            os.makedirs(os.path.join(top, folder), exist_ok=True)
        return True

    def _write_new_file(self, prefix: str, name: str, source: bytes | Path) -> None:
        fd = os.open(
            os.path.join(self._root, prefix, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE
        )
        with os.fdopen(fd, "wb") as f:
            if isinstance(source, bytes):
                f.write(source)
            else:
                with source.open("rb") as src:
                    _copy(src, f)

    def is_complete(self, prefix: str) -> bool:
        # The common answer on the per-task path is "no" (a new key): skip the generic
        # read's error handling for it.
        self._check_prefix(prefix)
        try:
            with open(os.path.join(self._root, prefix, MARKER_NAME), "rb") as f:
                raw = f.read()
        except (FileNotFoundError, NotADirectoryError):
            return False
        return manifest_is_whole(raw)

    def _holds_files(self, prefix: str) -> bool:
        try:
            entries = os.listdir(os.path.join(self._root, prefix))
        except FileNotFoundError:
            return False
        return any(entry != ATTEMPTS_DIR for entry in entries)

    def _read_range(self, prefix: str, name: str, start: int, end: int | None) -> bytes:
        path = self._path(prefix, name)
        return read_local_range(path, start, end, path)

    def _file_size(self, prefix: str, name: str) -> int:
        path = self._path(prefix, name)
        return local_size(path, path)

    def _prepare_dirs(self, prefix: str, names: Iterable[str]) -> None:
        top = os.path.join(self._root, prefix)
        folders = {os.path.dirname(os.path.join(top, name)) for name in names}
        folders.add(top)
        for folder in folders:
            os.makedirs(folder, exist_ok=True)

    def _write_file(self, prefix: str, name: str, data: bytes) -> None:
        self._replace_atomically(os.path.join(self._root, prefix, name), lambda f: f.write(data))

    def _copy_file(self, prefix: str, name: str, source: Path) -> None:
        def copy(f: BinaryIO) -> None:
            with source.open("rb") as src:
                _copy(src, f)

        self._replace_atomically(os.path.join(self._root, prefix, name), copy)

    def _replace_atomically(self, target: str, fill: Callable[[BinaryIO], object]) -> None:
        # Same folder as the target, so os.replace is a rename and never a copy. Not
        # tempfile.mkstemp: its files are mode 0600, and artifacts must follow the umask
        # so that a server running as another user can read them. The name is unique to
        # this process and call (pid + counter), and O_EXCL refuses any clash.
        folder, name = os.path.split(target)
        unique = f"{os.getpid()}-{_IMPORT_TOKEN}-{next(_COUNTER)}"
        tmp = os.path.join(folder, f"{TEMP_PREFIX}{name}.{unique}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, _FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as f:
                fill(f)
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise

    def _remove_file(self, prefix: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(prefix, name))

    def _remove_tree(self, prefix: str) -> None:
        import shutil  # forced re-runs and clean-up only

        shutil.rmtree(os.path.join(self._root, prefix), ignore_errors=True)

    def _list_files(self, prefix: str) -> builtins.list[tuple[str, int]]:
        top = os.path.join(self._root, prefix)
        found: builtins.list[tuple[str, int]] = []
        for folder, _, filenames in os.walk(top):
            # "/"-separated relative names (os.sep is "/" where headwater runs).
            inside = os.path.relpath(folder, top).replace(os.sep, "/")
            for filename in filenames:
                if filename.startswith(TEMP_PREFIX):
                    continue
                try:
                    size = os.stat(os.path.join(folder, filename)).st_size
                except FileNotFoundError:  # removed by a concurrent commit since the walk
                    continue
                found.append((filename if inside == "." else f"{inside}/{filename}", size))
        return found

"""The artifact store on any fsspec filesystem (s3://, memory://, file://, ...).

Object stores have no rename, but a single put is atomic there: each file is put whole and
the marker is put last, so a reader never counts a half-written prefix as complete.
Logs are spooled to a local folder while an attempt runs (programs write logs with ordinary
file handles) and uploaded by :meth:`FsspecArtifactStore.publish_logs`.
"""

from __future__ import annotations

import builtins
import contextlib
import posixpath
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from headwater.artifacts.base import (
    ATTEMPTS_DIR,
    ArtifactStore,
    local_size,
    read_local_range,
)
from headwater.errors import NotFound


class FsspecArtifactStore(ArtifactStore):
    """Artifacts in ``<url>/<pipeline>/<task>/<cache key>/`` on an fsspec filesystem."""

    def __init__(self, url: str, **storage_options: Any) -> None:
        # Imported here because importing fsspec is slow and local stores never need it.
        import tempfile

        import fsspec

        self.root = url
        self._fs, path = fsspec.core.url_to_fs(url, **storage_options)
        self._base = str(path).rstrip("/")
        self._spool = tempfile.TemporaryDirectory(prefix="headwater-logs-")

    def uri(self, prefix: str, name: str) -> str:
        self._check_prefix(prefix)
        return f"{self.root.rstrip('/')}/{prefix}/{name}"

    def log_dir(self, prefix: str, label: str) -> str:
        self._check_log(prefix, label)
        return str(self._spool_dir(prefix, label))

    def publish_logs(self, prefix: str, label: str) -> None:
        self._check_log(prefix, label)
        spool = self._spool_dir(prefix, label)
        if not spool.is_dir():
            return
        target = self._path(prefix, f"{ATTEMPTS_DIR}/{label}")
        uploads = {
            f"{target}/{path.relative_to(spool).as_posix()}": path
            for path in sorted(spool.rglob("*"))
            if path.is_file()
        }
        for folder in sorted({posixpath.dirname(dest) for dest in uploads}):
            self._fs.makedirs(folder, exist_ok=True)
        for dest, path in uploads.items():
            self._fs.put_file(str(path), dest)
        # Dropped once uploaded: a long-lived worker would otherwise fill its temp folder,
        # and from now on readers find the logs in the store.
        import shutil  # with tempfile: not loaded by runs on local artifact stores

        shutil.rmtree(spool, ignore_errors=True)

    def read_log(
        self, prefix: str, label: str, name: str, start: int = 0, end: int | None = None
    ) -> bytes:
        self._check_log(prefix, label, name)
        spooled = self._spool_dir(prefix, label) / name
        try:
            return read_local_range(spooled, start, end, str(spooled))
        except NotFound:  # published already, or written by another process
            return super().read_log(prefix, label, name, start, end)

    def log_size(self, prefix: str, label: str, name: str) -> int:
        self._check_log(prefix, label, name)
        spooled = self._spool_dir(prefix, label) / name
        try:
            return local_size(spooled, str(spooled))
        except NotFound:  # published already, or written by another process
            return super().log_size(prefix, label, name)

    def presign(self, prefix: str, name: str, expires_in: int) -> str | None:
        self._check_prefix(prefix)
        try:
            return str(self._fs.sign(self._path(prefix, name), expiration=expires_in))
        except NotImplementedError:
            return None

    def delete(self, prefix: str) -> None:
        super().delete(prefix)
        import shutil

        shutil.rmtree(Path(self._spool.name, prefix), ignore_errors=True)

    def close(self) -> None:
        super().close()
        self._spool.cleanup()

    def _spool_dir(self, prefix: str, label: str) -> Path:
        return Path(self._spool.name, prefix, ATTEMPTS_DIR, label)

    def _path(self, prefix: str, name: str) -> str:
        return f"{self._base}/{prefix}/{name}"

    def _read_range(self, prefix: str, name: str, start: int, end: int | None) -> bytes:
        try:
            return bytes(self._fs.cat_file(self._path(prefix, name), start=start, end=end))
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"no artifact at {self.uri(prefix, name)}") from None

    def _file_size(self, prefix: str, name: str) -> int:
        try:
            info = self._fs.info(self._path(prefix, name))
        except (FileNotFoundError, IsADirectoryError):
            raise NotFound(f"no artifact at {self.uri(prefix, name)}") from None
        if info.get("type") == "directory":
            raise NotFound(f"no artifact at {self.uri(prefix, name)}")
        return int(info.get("size") or 0)

    def _prepare_dirs(self, prefix: str, names: Iterable[str]) -> None:
        # Object stores need no folders, but file:// and sftp:// do.
        folders = {posixpath.dirname(self._path(prefix, name)) for name in names}
        folders.add(f"{self._base}/{prefix}")
        for folder in sorted(folders):
            self._fs.makedirs(folder, exist_ok=True)

    def _write_file(self, prefix: str, name: str, data: bytes) -> None:
        self._fs.pipe_file(self._path(prefix, name), data)

    def _copy_file(self, prefix: str, name: str, source: Path) -> None:
        self._fs.put_file(str(source), self._path(prefix, name))

    def _remove_file(self, prefix: str, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm_file(self._path(prefix, name))

    def _remove_tree(self, prefix: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._fs.rm(f"{self._base}/{prefix}", recursive=True)

    def _list_files(self, prefix: str) -> builtins.list[tuple[str, int]]:
        top = f"{self._base}/{prefix}/"
        found = self._fs.find(top.rstrip("/"), detail=True)
        return [
            (path[len(top) :], int(info.get("size") or 0))
            for path, info in found.items()
            if path.startswith(top)
        ]

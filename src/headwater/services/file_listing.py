"""Listing the files a file sensor watches: a glob on the local disk or any fsspec URL.

Each file is identified by its path and its version: the etag where the store has one
(S3 and other object stores), else the modification time. A file rewritten in place
gets a new version and so counts as new.
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class FileSeen:
    path: str  # what the run gets: a local path, or the URL with its scheme
    version: str  # the etag, or the mtime

    @property
    def key(self) -> str:
        return f"{self.path}\n{self.version}"


def list_matching_files(url: str, min_age_seconds: float = 0.0) -> list[FileSeen]:
    """The files matching the glob `url`, in path order, leaving out those modified
    less than `min_age_seconds` ago (they may still be being written)."""
    import fsspec  # slow to import, and only schedulers with file sensors need it

    fs, pattern = fsspec.core.url_to_fs(url)
    local = _is_local(fs)
    if local:
        pattern = str(Path(pattern).expanduser())
    # Listings are cached by fsspec per instance; a sensor must see new files.
    fs.invalidate_cache()
    found = fs.glob(pattern, detail=True)
    now = time.time()
    files = []
    for path, info in sorted(found.items()):
        if info.get("type") == "directory":
            continue
        modified = _modified(info)
        if min_age_seconds and modified is not None and now - modified < min_age_seconds:
            continue
        version = _etag(info) or (repr(modified) if modified is not None else "")
        files.append(FileSeen(path if local else fs.unstrip_protocol(path), version))
    return files


def _is_local(fs: Any) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def _etag(info: dict[str, Any]) -> str | None:
    etag = info.get("ETag") or info.get("etag")
    return str(etag).strip('"') if etag else None


def _modified(info: dict[str, Any]) -> float | None:
    for key in ("mtime", "LastModified", "last_modified", "updated", "created"):
        value = info.get(key)
        if isinstance(value, int | float):
            return float(value)
        if isinstance(value, dt.datetime):
            return value.timestamp()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None

"""The artifact store: where task runs keep their outputs, params and attempt logs.

Layout, the same on local disk and on fsspec URLs (s3://, memory://, file://)::

    <root>/<pipeline>/<task>/<cache key>/
        output.json, params.json, files the task wrote (sub-folders kept)
        attempts/<label>/...     logs of each attempt
        _COMPLETE                written last by a commit; only it makes the prefix complete

A plain path or file:// URL gets :class:`LocalArtifactStore` (os only: no fsspec, nor
urllib.parse for a plain path, on the hot path); any other URL gets
:class:`FsspecArtifactStore`.

May import: ``headwater.domain``, ``headwater.errors`` (and fsspec, lazily).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from headwater.artifacts.base import ArtifactInfo, ArtifactStore
from headwater.artifacts.local import LocalArtifactStore

if TYPE_CHECKING:
    from headwater.artifacts.remote import FsspecArtifactStore

__all__ = [
    "ArtifactInfo",
    "ArtifactStore",
    "FsspecArtifactStore",
    "LocalArtifactStore",
    "open_artifact_store",
]


def open_artifact_store(url: str) -> ArtifactStore:
    """The artifact store for a path or URL (``/srv/artifacts``, ``file:///srv/a``, ``s3://b``)."""
    if "://" not in url:
        return LocalArtifactStore(url)
    from urllib.parse import urlsplit  # with ipaddress: ~2 ms, for URLs only

    parts = urlsplit(url)
    if parts.scheme != "file":
        from headwater.artifacts.remote import FsspecArtifactStore

        return FsspecArtifactStore(url)
    if parts.netloc not in ("", "localhost"):
        raise ValueError(f"file URL {url!r} names a host; use file:///absolute/path")
    from urllib.request import url2pathname  # it loads http.client and email: not for paths

    return LocalArtifactStore(url2pathname(parts.path))


def __getattr__(name: str) -> Any:
    # FsspecArtifactStore's module is imported on first use: a run whose artifacts are in a
    # local folder never needs it.
    if name == "FsspecArtifactStore":
        from headwater.artifacts.remote import FsspecArtifactStore

        return FsspecArtifactStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

"""A task run's artifacts over HTTP: list them, download one (whole or a byte range),
and share one with an expiring link (signed by this server, or presigned by S3).

Only files the listing shows can be downloaded, so no path, however crafted, reaches
anything else in the store.
"""

from __future__ import annotations

import math
import mimetypes
import time
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, urlencode

from fastapi import Body, FastAPI, Header, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from headwater.api import problems
from headwater.api.models import MAX_ID, IdPath
from headwater.api.ranges import Reader, serve_bytes
from headwater.api.signing import BadSignature, LinkExpired, load_secret, sign, verify
from headwater.artifacts.base import ATTEMPTS_DIR
from headwater.config import Settings
from headwater.errors import NotFound
from headwater.services.context import Services
from headwater.services.outputs import database_files, kept_in_database
from headwater.store import files as file_store

API = "/api/v1"
MAX_LINK_SECONDS = 7 * 24 * 3600
# Shown in the browser; anything else is a download, so a task's HTML never runs as
# part of this site.
_INLINE_TYPES = ("text/plain", "application/json")

ArtifactPath = Annotated[str, Path(min_length=1, max_length=1000)]


class ArtifactOut(BaseModel):
    path: str = Field(description="relative to the task run's artifact folder")
    size: int = Field(description="bytes")
    url: str = Field(description="where to download it")


class LinkCreate(BaseModel):
    expires_in: int = Field(3600, ge=1, le=MAX_LINK_SECONDS, description="seconds")


class LinkOut(BaseModel):
    url: str
    expires_at: int = Field(description="epoch seconds")


@dataclass(frozen=True)
class _File:
    prefix: str
    path: str
    size: int
    data: bytes | None = None  # kept in the database, not in the artifact store


def _files(svc: Services, task_run_id: int) -> dict[str, _File]:
    """The task run's files: its outputs (from the database when small, else its
    complete commit in the artifact store) and the logs of its own attempts (another
    run with the same cache key has its own)."""
    with svc.db.read() as conn:
        found = file_store.get_task_run_files(conn, task_run_id)
    if found.cache_key is None:
        return {}
    store = svc.artifacts
    prefix = store.prefix(found.pipeline, found.task, found.cache_key)
    # A small output is the task run's own, in the database; the store's outputs under
    # the same key may be another run's (an earlier --force run that wrote files).
    in_database = kept_in_database(found.state, found.output, found.artifact, found.is_map_parent)
    complete = not in_database and store.is_complete(prefix)
    own_logs = {f"{ATTEMPTS_DIR}/{label}/" for label in found.log_labels}
    files = {}
    for info in store.list(prefix):
        is_log = info.name.startswith(f"{ATTEMPTS_DIR}/")
        if (is_log and info.name[: info.name.rfind("/") + 1] in own_logs) or (
            not is_log and complete
        ):
            files[info.name] = _File(prefix, info.name, info.size)
    if in_database:
        for name, data in database_files(found.output, found.args).items():
            files[name] = _File(prefix, name, len(data), data)
    return files


def _get_file(svc: Services, task_run_id: int, path: str) -> _File:
    found = _files(svc, task_run_id).get(path)
    if found is None:
        raise NotFound(f"task run {task_run_id} has no artifact {path!r}")
    return found


def _reader(svc: Services, file: _File) -> Reader:
    if file.data is not None:
        data = file.data
        return lambda start, end: data[start:end]
    if file.path.startswith(f"{ATTEMPTS_DIR}/"):
        _, label, name = file.path.split("/", 2)
        return lambda start, end: svc.artifacts.read_log(file.prefix, label, name, start, end)
    return lambda start, end: svc.artifacts.read_range(file.prefix, file.path, start, end)


def _download(svc: Services, file: _File, range_header: str | None) -> Response:
    media_type = mimetypes.guess_type(file.path)[0] or "application/octet-stream"
    if file.path.endswith(".log"):
        media_type = "text/plain"
    disposition = "inline" if media_type in _INLINE_TYPES else "attachment"
    filename = quote(file.path.rsplit("/", 1)[-1])
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{filename}",
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox",
    }
    if media_type.startswith("text/"):
        media_type += "; charset=utf-8"
    return serve_bytes(
        _reader(svc, file),
        file.size,
        range_header=range_header,
        media_type=media_type,
        headers=headers,
    )


_BYTES = {
    "description": "The file (206: the byte range asked for)",
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}


def install(app: FastAPI, svc: Services) -> None:
    settings: Settings | None = getattr(app.state, "settings", None)
    secret = load_secret(settings)
    base_path = f"{API}/task-runs/{{task_run_id}}/artifacts"

    @app.get(base_path, tags=["artifacts"], responses=problems.responses(404))
    def list_artifacts(task_run_id: IdPath, request: Request) -> list[ArtifactOut]:
        """The task run's output files, `output.json`, `params.json` and its attempts'
        logs (`attempts/<label>/stdout.log`, ...)."""
        base = str(request.base_url).rstrip("/")
        return [
            ArtifactOut(
                path=f.path,
                size=f.size,
                url=f"{base}{API}/task-runs/{task_run_id}/artifacts/{quote(f.path)}",
            )
            for f in sorted(_files(svc, task_run_id).values(), key=lambda f: f.path)
        ]

    @app.get(
        f"{base_path}/{{path:path}}",
        tags=["artifacts"],
        response_class=Response,
        responses={200: _BYTES, 206: _BYTES, **problems.responses(404, 416)},
    )
    def download_artifact(
        task_run_id: IdPath,
        path: ArtifactPath,
        range_header: str | None = Header(None, alias="Range", max_length=200),
    ) -> Response:
        """One artifact's bytes; `Range: bytes=a-b` answers 206 with those bytes."""
        return _download(svc, _get_file(svc, task_run_id, path), range_header)

    @app.post(
        f"{base_path}/{{path:path}}/link", tags=["artifacts"], responses=problems.responses(404)
    )
    def share_artifact(
        task_run_id: IdPath,
        path: ArtifactPath,
        request: Request,
        body: LinkCreate = Body(default_factory=LinkCreate),
    ) -> LinkOut:
        """A link anyone can use to download this artifact until it expires: presigned
        by the store where it can (S3), else signed by this server."""
        file = _get_file(svc, task_run_id, path)
        expires_at = math.ceil(time.time()) + body.expires_in
        presigned = (
            svc.artifacts.presign(file.prefix, file.path, body.expires_in)
            if file.data is None
            else None  # kept in the database: only this server can serve it
        )
        if presigned is not None:
            return LinkOut(url=presigned, expires_at=expires_at)
        signed = f"{task_run_id}/{path}"
        query = urlencode({"expires": expires_at, "signature": sign(secret, signed, expires_at)})
        base = str(request.base_url).rstrip("/")
        url = f"{base}{API}/shared/task-runs/{task_run_id}/artifacts/{quote(path)}?{query}"
        return LinkOut(url=url, expires_at=expires_at)

    @app.get(
        f"{API}/shared/task-runs/{{task_run_id}}/artifacts/{{path:path}}",
        tags=["artifacts"],
        response_class=Response,
        responses={200: _BYTES, 206: _BYTES, **problems.responses(403, 404, 416)},
    )
    def download_shared_artifact(
        task_run_id: IdPath,
        path: ArtifactPath,
        expires: int = Query(..., ge=0, le=MAX_ID),
        signature: str = Query(..., max_length=128),
        range_header: str | None = Header(None, alias="Range", max_length=200),
    ) -> Response:
        """An artifact through a link made by `.../link`: 403 once it has expired or if
        it was not made by this server."""
        try:
            verify(secret, f"{task_run_id}/{path}", expires, signature)
        except BadSignature:
            return problems.problem(
                403, "bad-signature", "Invalid link", "the link's signature is not valid"
            )
        except LinkExpired:
            return problems.problem(403, "link-expired", "Link expired", "the link has expired")
        return _download(svc, _get_file(svc, task_run_id, path), range_header)

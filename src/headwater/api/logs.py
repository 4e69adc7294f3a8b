"""Attempt logs over HTTP: whole, the last N lines, byte ranges, or followed live as
Server-Sent Events until the attempt ends."""

from __future__ import annotations

import asyncio
import codecs
import json
import time
from collections.abc import AsyncIterator
from enum import StrEnum

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import Response, StreamingResponse

from headwater.api import problems
from headwater.api.models import IdPath
from headwater.api.ranges import serve_bytes, tail_start
from headwater.domain.states import AttemptState
from headwater.errors import NotFound
from headwater.services.context import Services
from headwater.store import files as file_store
from headwater.store.files import AttemptLogs

API = "/api/v1"
FOLLOW_POLL_SECONDS = 0.25  # how soon a follower sees new output
KEEPALIVE_SECONDS = 15.0  # a comment line so proxies keep an idle stream open
FOLLOW_CHUNK_BYTES = 64 * 1024
EVENT_STREAM = "text/event-stream"
TEXT = "text/plain; charset=utf-8"


class LogStream(StrEnum):
    stdout = "stdout"
    stderr = "stderr"
    combined = "combined"


_LOG_RESPONSES = {
    200: {
        "description": "The log (text), or with `follow` a stream of `log` events that "
        "ends with an `end` event once the attempt has ended",
        "content": {
            TEXT: {"schema": {"type": "string"}},
            EVENT_STREAM: {"schema": {"type": "string"}},
        },
    },
    206: {
        "description": "The byte range asked for",
        "content": {TEXT: {"schema": {"type": "string"}}},
    },
    **problems.responses(404, 416),
}


class _LogFile:
    """One log file of one attempt, read through the artifact store."""

    def __init__(self, svc: Services, where: AttemptLogs, stream: LogStream) -> None:
        self.svc, self.where, self.name = svc, where, f"{stream.value}.log"

    def _prefix(self) -> str | None:
        where = self.where
        if where.log_label is None or where.cache_key is None:
            return None
        return self.svc.artifacts.prefix(where.pipeline, where.task, where.cache_key)

    def size(self) -> int:
        prefix = self._prefix()
        if prefix is None or self.where.log_label is None:
            return 0
        try:
            return self.svc.artifacts.log_size(prefix, self.where.log_label, self.name)
        except NotFound:  # nothing written to this stream (yet)
            return 0

    def read(self, start: int, end: int | None) -> bytes:
        prefix = self._prefix()
        if prefix is None or self.where.log_label is None:
            return b""
        try:
            return self.svc.artifacts.read_log(prefix, self.where.log_label, self.name, start, end)
        except NotFound:
            return b""


def _find_logs(svc: Services, attempt_id: int) -> AttemptLogs:
    with svc.db.read() as conn:
        where = file_store.get_attempt_logs(conn, attempt_id)
    if where.log_label is None and where.state != AttemptState.RUNNING:
        raise NotFound(f"attempt {attempt_id} has no logs: it never ran its task")
    return where


def install(app: FastAPI, svc: Services) -> None:
    @app.get(
        f"{API}/attempts/{{attempt_id}}/logs/{{stream}}",
        tags=["logs"],
        response_class=Response,
        responses=_LOG_RESPONSES,
    )
    def read_log(
        attempt_id: IdPath,
        stream: LogStream,
        request: Request,
        tail: int | None = Query(None, ge=0, le=1_000_000, description="only the last N lines"),
        follow: bool = Query(False, description="stream new output as Server-Sent Events"),
        range_header: str | None = Header(None, alias="Range", max_length=200),
        last_event_id: str | None = Header(None, alias="Last-Event-ID", max_length=30),
    ) -> Response:
        """One log of an attempt (stdout, stderr, or both in the order written), readable
        while the attempt runs. `Range: bytes=a-b` answers 206 with those bytes. With
        `follow=true` (or `Accept: text/event-stream`) new output arrives as `log` events
        (`id` is the byte offset after the chunk: send it back as `Last-Event-ID` to
        resume) and the stream ends with an `end` event, `{"state": ...}`, once the
        attempt has ended and all its output was sent."""
        log = _LogFile(svc, _find_logs(svc, attempt_id), stream)
        if follow or EVENT_STREAM in request.headers.get("accept", ""):
            start = _resume_offset(last_event_id)
            if start is None:
                start = 0 if tail is None else tail_start(log.read, log.size(), tail)
            return StreamingResponse(
                _follow(svc, attempt_id, stream, start, request),
                media_type=EVENT_STREAM,
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
            )
        size = log.size()
        start = 0 if tail is None else tail_start(log.read, size, tail)
        return serve_bytes(
            log.read,
            size,
            range_header=range_header if tail is None else None,
            media_type=TEXT,
            start=start,
        )


def _resume_offset(last_event_id: str | None) -> int | None:
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return None


def _event(kind: str, data: str, event_id: int | None = None) -> bytes:
    # SSE splits data on any line break; \r would be lost in transit, so it travels as \n.
    text = data.replace("\r\n", "\n").replace("\r", "\n")
    lines = [f"event: {kind}"]
    if event_id is not None:
        lines.append(f"id: {event_id}")
    lines += [f"data: {line}" for line in text.split("\n")]
    return ("\n".join(lines) + "\n\n").encode()


async def _follow(
    svc: Services, attempt_id: int, stream: LogStream, offset: int, request: Request
) -> AsyncIterator[bytes]:
    """Chunks as they are written; the store and database are read in threads so a
    follower never blocks the event loop."""
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    quiet_since = time.monotonic()
    while not await request.is_disconnected():
        # State first, then the file: output is all written before an attempt ends, so
        # a read after seeing it ended gets everything.
        where = await asyncio.to_thread(_find_logs, svc, attempt_id)
        log = _LogFile(svc, where, stream)
        chunk = await asyncio.to_thread(log.read, offset, offset + FOLLOW_CHUNK_BYTES)
        if chunk:
            offset += len(chunk)
            text = decoder.decode(chunk)
            if text:
                yield _event("log", text, offset)
            quiet_since = time.monotonic()
            continue
        if where.state != AttemptState.RUNNING:
            rest = decoder.decode(b"", final=True)
            if rest:
                yield _event("log", rest, offset)
            yield _event("end", json.dumps({"state": where.state.value}))
            return
        if time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            yield b": keep-alive\n\n"
            quiet_since = time.monotonic()
        await asyncio.sleep(FOLLOW_POLL_SECONDS)

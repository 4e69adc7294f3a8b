"""GET /api/v1/runs/{run_id}/events: a run's progress as Server-Sent Events.

The stream starts with a `snapshot` event (the run's state and every task run's state,
attempt count, start and end), then sends only what changed: `task_runs` events with
the changed task runs and `run` events when the run's state changes. It ends with an
`end` event once the run has ended. Changes are found by reading the lean task-run rows
every EVENTS_POLL_SECONDS: the database is the only source of truth, and any process
(this server's worker or another machine's) may have made them.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from headwater.domain.states import RUN_TERMINAL
from headwater.services.context import Services
from headwater.services.views import list_task_run_progress

EVENTS_POLL_SECONDS = 0.5
KEEPALIVE_SECONDS = 15.0  # a comment line, so proxies do not close an idle stream


def install(app: FastAPI, svc: Services) -> None:
    @app.get(
        "/api/v1/runs/{run_id}/events",
        tags=["runs"],
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}},
    )
    async def run_events(run_id: str, request: Request) -> StreamingResponse:
        """Live progress of a run (Server-Sent Events): `snapshot`, then `task_runs`
        (only the changed task runs) and `run` (state changes), and `end` when it ends."""
        first = await run_in_threadpool(list_task_run_progress, svc, run_id)  # 404 if unknown
        return StreamingResponse(
            _stream(svc, run_id, request, first),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )


def _event(name: str, data: Any) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


async def _stream(
    svc: Services, run_id: str, request: Request, first: tuple[str, list[Any]]
) -> AsyncIterator[bytes]:
    state, rows = first
    known = {row.id: row for row in rows}
    yield _event(
        "snapshot",
        {"run": {"id": run_id, "state": state}, "task_runs": [r.as_dict() for r in rows]},
    )
    quiet_since = time.monotonic()
    while state not in RUN_TERMINAL:
        await asyncio.sleep(EVENTS_POLL_SECONDS)
        if await request.is_disconnected():
            return
        new_state, rows = await run_in_threadpool(list_task_run_progress, svc, run_id)
        changed = [r for r in rows if known.get(r.id) != r]
        known.update((r.id, r) for r in changed)
        if changed:
            yield _event("task_runs", [r.as_dict() for r in changed])
        moved = new_state != state
        if moved:
            state = new_state
            yield _event("run", {"id": run_id, "state": state})
        if changed or moved:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > KEEPALIVE_SECONDS:
            quiet_since = time.monotonic()
            yield b": keep-alive\n\n"
    yield _event("end", {"id": run_id, "state": state})

"""Starting a run again: resume a failed run from where it failed, or re-run it whole."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI, Header, Request, Response

from headwater.api import problems
from headwater.api.models import RunAccepted
from headwater.domain.states import RunState
from headwater.errors import Conflict
from headwater.services.context import Services
from headwater.services.runs import start_run
from headwater.store import runs as run_store
from headwater.store.runs import RunRow

API = "/api/v1"
RESUMABLE = (RunState.FAILED, RunState.CANCELLED)


def install(app: FastAPI, svc: Services) -> None:
    statuses = problems.responses(404, 409)

    @app.post(
        f"{API}/runs/{{run_id}}/resume",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        responses=statuses,
    )
    def resume(
        run_id: str,
        request: Request,
        idempotency_key: str | None = Header(None, min_length=1, max_length=200),
    ) -> Response:
        """A new run of the pipeline's current version with the same arguments that
        reuses what the failed (or cancelled) run finished and runs the rest. 409 while
        the run is still running or if it succeeded."""
        source = _get_source(svc, run_id)
        if source.state not in RESUMABLE:
            raise Conflict(
                f"run {run_id} is {source.state.value}: only a failed or "
                "cancelled run can be resumed"
            )
        new_id = _again(svc, source, idempotency_key, resume_from=run_id)
        return accepted_run(request, source.pipeline, new_id)

    @app.post(
        f"{API}/runs/{{run_id}}/rerun",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        responses=statuses,
    )
    def rerun(
        run_id: str,
        request: Request,
        idempotency_key: str | None = Header(None, min_length=1, max_length=200),
    ) -> Response:
        """A new run with the same arguments, priority and tags that runs every task
        again, ignoring cached outputs."""
        source = _get_source(svc, run_id)
        new_id = _again(svc, source, idempotency_key, force=True)
        return accepted_run(request, source.pipeline, new_id)


def _get_source(svc: Services, run_id: str) -> RunRow:
    with svc.db.read() as conn:
        return run_store.get_run(conn, run_id)


def _again(
    svc: Services,
    source: RunRow,
    idempotency_key: str | None,
    *,
    force: bool = False,
    resume_from: str | None = None,
) -> str:
    return start_run(
        svc,
        source.pipeline,
        source.args,
        task_args=source.task_args,
        force=force,
        resume_from=resume_from,
        priority=source.priority,
        tags=source.tags,
        idempotency_key=idempotency_key,
    )


def accepted_run(request: Request, pipeline: str, run_id: str) -> Response:
    """The 202 answer to starting a run (a RunAccepted), with the URLs to follow it.

    Built as bytes here rather than validated and serialised by FastAPI: the values
    are ours and plain, and triggers are the API's busiest writes."""
    base = _base_url(request)
    body = {
        "id": run_id,
        "pipeline": pipeline,
        "state": "running",
        "status_url": f"{base}{API}/runs/{run_id}",
        "web_url": f"{base}/runs/{run_id}",
    }
    return Response(json.dumps(body).encode(), 202, media_type="application/json")


# Base URLs by what they are made of: working one out (Starlette's URL parsing) cost a
# trigger more than its JSON. Bounded, as clients choose their Host headers.
_BASE_URLS: dict[tuple[Any, ...], str] = {}
MAX_BASE_URLS = 64


def _base_url(request: Request) -> str:
    scope = request.scope
    host = next((v for k, v in scope["headers"] if k == b"host"), None)
    root = scope.get("app_root_path", scope.get("root_path", ""))
    server = scope.get("server")
    key = (scope.get("scheme"), host, tuple(server) if server else None, root)
    base = _BASE_URLS.get(key)
    if base is None:
        if len(_BASE_URLS) >= MAX_BASE_URLS:
            _BASE_URLS.clear()
        base = _BASE_URLS[key] = str(request.base_url).rstrip("/")
    return base

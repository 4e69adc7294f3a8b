"""The FastAPI application: pipelines, runs and health, under /api/v1."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from fastapi import Body, FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from headwater import web
from headwater.api import (
    artifacts,
    backfills,
    definitions,
    events,
    logs,
    notifications,
    operations,
    problems,
    reruns,
    schedules,
    sensors,
)
from headwater.api.models import (
    AttemptOut,
    Health,
    PipelineDetail,
    PipelineSummary,
    RunAccepted,
    RunCreate,
    RunOut,
    RunPage,
    RunSummary,
    TaskRunOut,
)
from headwater.api.reruns import accepted_run
from headwater.api.times import epoch
from headwater.api.views import pipeline_detail, pipeline_summary
from headwater.config import Settings
from headwater.domain.durations import parse_duration
from headwater.domain.states import RunState
from headwater.services.context import Services
from headwater.services.run_batches import run_writer
from headwater.services.runs import StartControls, cancel_run, get_run_view, run_request
from headwater.store import pipelines as pipeline_store
from headwater.store import runs as run_store

API = "/api/v1"
RUN_FIELDS = (
    "id",
    "pipeline",
    "version_id",
    "state",
    "args",
    "task_args",
    "priority",
    "tags",
    "created_at",
    "ended_at",
    "resumed_from",
    "start_at",
    "expires_at",
    "schedule",
    "backfill_id",
    "logical_date",
)
MAX_BODY_BYTES = 10 * 1024 * 1024


def create_app(
    svc: Services, settings: Settings | None = None, *, max_body_bytes: int = MAX_BODY_BYTES
) -> FastAPI:
    """The API on `svc`. `settings` give the project (where the signing secret is kept)
    and CORS; without them links are signed with a secret that lasts as long as the app."""
    app = FastAPI(
        title="headwater",
        version="1",
        docs_url="/api/docs",
        openapi_url=f"{API}/openapi.json",
        redoc_url=None,
        responses=problems.responses(*problems.COMMON_STATUSES),
    )
    app.state.svc = svc
    app.state.settings = settings
    problems.install(app)
    _limit_body_size(app, max_body_bytes)
    _pipeline_routes(app, svc)
    _run_routes(app, svc)
    _health_routes(app, svc)
    sensors.install(app, svc)
    notifications.install(app, svc)
    logs.install(app, svc)
    artifacts.install(app, svc)
    reruns.install(app, svc)
    operations.install(app, svc)
    events.install(app, svc)
    definitions.install(app, svc)
    web.install(app, svc)
    schedules.install(app, svc)
    backfills.install(app, svc)
    return app


def _limit_body_size(app: FastAPI, limit: int) -> None:
    app.add_middleware(_RequestGuard, limit=limit)


class _RequestGuard:
    """Refuses URLs with NUL characters and bodies declared over the limit before any
    route runs. Plain ASGI (not `@app.middleware`, whose per-request task and stream
    cost more than most routes' own work)."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            refusal = self._refusal(scope)
            if refusal is not None:
                await refusal(scope, receive, send)
                return
        await self.app(scope, receive, send)

    def _refusal(self, scope: Scope) -> JSONResponse | None:
        # PostgreSQL text cannot hold NUL, so such a name could only fail in the driver.
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            return problems.problem(
                422, "invalid-request", "Invalid request", "NUL characters are not allowed in URLs"
            )
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), None)
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            return problems.problem(
                413,
                "too-large",
                "Request body too large",
                f"the body must be at most {self.limit} bytes",
            )
        return None


def _pipeline_routes(app: FastAPI, svc: Services) -> None:
    @app.get(f"{API}/pipelines", tags=["pipelines"])
    def list_pipelines() -> list[PipelineSummary]:
        with svc.db.read() as conn:
            names = [row.name for row in pipeline_store.list_pipelines(conn)]
        return [pipeline_summary(svc, name) for name in names]

    @app.get(f"{API}/pipelines/{{name}}", tags=["pipelines"], responses=problems.responses(404))
    def get_pipeline(name: str) -> PipelineDetail:
        return pipeline_detail(svc, name)


def _run_routes(app: FastAPI, svc: Services) -> None:
    @app.post(
        f"{API}/pipelines/{{name}}/runs",
        status_code=202,
        response_model=RunAccepted,
        tags=["runs"],
        responses=problems.responses(404, 409),
    )
    async def create_run(
        name: str,
        request: Request,
        body: RunCreate | None = Body(default=None),
        idempotency_key: str | None = Header(None, min_length=1, max_length=200),
    ) -> Response:
        """Start a run. Simple callers may give run arguments as query parameters
        (`?day=2026-11-22&n=5`; values are JSON if they parse, else strings). An
        idempotency key (body field or `Idempotency-Key` header) makes retries safe.
        The answer comes once the run is stored: its status URL works at once."""
        # async, and the run written by the run writer (group commit: concurrent
        # triggers share one transaction), so a waiting trigger holds no thread.
        body = body or RunCreate()
        run = run_request(
            name,
            {**_query_args(request), **body.args},
            body.task_args,
            force=body.force,
            priority=body.priority,
            tags=body.tags,
        )
        controls = StartControls(
            start_at=epoch(body.start_at),
            start_in=None if body.start_in is None else parse_duration(body.start_in, "start_in"),
            expires_at=epoch(body.expires_at),
        )
        key = body.idempotency_key or idempotency_key
        run_id = await run_writer(svc).start_async(run | controls.as_request(), key)
        return accepted_run(request, name, run_id)

    @app.get(f"{API}/runs", tags=["runs"])
    def list_runs(
        request: Request,
        pipeline: str | None = None,
        state: RunState | None = None,
        tag: str | None = None,
        created_after: float | None = Query(None, description="epoch seconds"),
        created_before: float | None = Query(None, description="epoch seconds"),
        cursor: str | None = Query(None, max_length=64),
        limit: int = Query(50, ge=1, le=500),
    ) -> RunPage:
        """Runs, newest first, filtered; follow `next_cursor` for the next page."""
        with svc.db.read() as conn:
            found = run_store.list_runs(
                conn,
                pipeline,
                limit + 1,
                state=state,
                tag=tag,
                created_after=created_after,
                created_before=created_before,
                before_id=cursor,
            )
        base = str(request.base_url).rstrip("/")
        page = [
            RunSummary(
                id=r.id,
                pipeline=r.pipeline,
                state=r.state.value,
                tags=r.tags,
                priority=r.priority,
                created_at=r.created_at,
                ended_at=r.ended_at,
                status_url=f"{base}{API}/runs/{r.id}",
            )
            for r in found[:limit]
        ]
        more = len(found) > limit
        return RunPage(runs=page, next_cursor=page[-1].id if more and page else None)

    @app.get(f"{API}/runs/{{run_id}}", tags=["runs"], responses=problems.responses(404))
    def get_run(run_id: str) -> RunOut:
        view = get_run_view(svc, run_id)
        by_task_run: dict[int, list[AttemptOut]] = {}
        for a in view.attempts:
            attempt = AttemptOut.model_validate(a, from_attributes=True)
            by_task_run.setdefault(a.task_run_id, []).append(attempt)
        return RunOut(
            **{name: getattr(view.run, name) for name in RUN_FIELDS},
            task_runs=[
                TaskRunOut(
                    id=tr.id,
                    node=tr.node_id,
                    map_index=tr.map_index,
                    label=tr.label,
                    task=tr.task,
                    state=tr.state.value,
                    attempts=by_task_run.get(tr.id, []),
                    cache_key=tr.cache_key,
                    args=_json(tr.args),
                    output=_json(tr.output),
                    error=tr.error,
                    started_at=tr.started_at,
                    ended_at=tr.ended_at,
                )
                for tr in view.task_runs
            ],
        )

    @app.post(f"{API}/runs/{{run_id}}/cancel", tags=["runs"], responses=problems.responses(404))
    def cancel(run_id: str) -> dict[str, bool]:
        return {"cancelled": cancel_run(svc, run_id)}


def _health_routes(app: FastAPI, svc: Services) -> None:
    @app.get("/healthz", tags=["operations"])
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", tags=["operations"], responses=problems.responses(503))
    def readyz() -> Any:
        try:
            with svc.db.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return problems.problem(503, "database-unavailable", "Not ready", str(exc))
        return JSONResponse({"status": "ready"})


def _query_args(request: Request) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for key, value in request.query_params.items():
        try:
            args[key] = json.loads(value)
        except json.JSONDecodeError:
            args[key] = value
    return args


def _json(text: str | None) -> Any:
    return json.loads(text) if text is not None else None

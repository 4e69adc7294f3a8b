"""/api/v1/backfills: create a backfill (one run per logical date), follow its progress,
cancel it as a whole."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Query, Request
from pydantic import BaseModel, Field

from headwater.api.models import MAX_PRIORITY
from headwater.domain.backfill import parse_local_time
from headwater.services import backfills as backfill_service
from headwater.services.backfills import DEFAULT_MAX_RUNNING, BackfillView
from headwater.services.context import Services

API = "/api/v1"


class BackfillCreate(BaseModel):
    pipeline: str = Field(max_length=200)
    start: str = Field(description="first logical date: 2026-01-01 or an ISO 8601 time")
    end: str = Field(description="last logical date (inclusive)")
    every: str = Field("1d", description="step: 1d, 1w, 6h, 30m (days step the wall clock)")
    timezone: str = Field("UTC", description="IANA timezone of start, end and the dates")
    args: dict[str, Any] = Field(
        default_factory=dict, description='run arguments; strings may hold "{{ ds }}"'
    )
    max_running: int = Field(DEFAULT_MAX_RUNNING, ge=1, le=10_000)
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY)
    tags: list[str] = Field(default_factory=list)


class BackfillOut(BaseModel):
    id: str
    pipeline: str
    state: str = Field(description="running, succeeded, failed or cancelled")
    total: int
    finished: int = Field(description="runs that have ended")
    runs: dict[str, int] = Field(description="how many runs are in each state")
    start: float
    end: float
    every: str
    timezone: str
    args: dict[str, Any]
    max_running: int
    created_at: float
    status_url: str
    runs_url: str = Field(description="the backfill's runs in GET /api/v1/runs")


def _out(view: BackfillView, request: Request) -> BackfillOut:
    row = view.backfill
    base = str(request.base_url).rstrip("/")
    return BackfillOut(
        id=row.id,
        pipeline=row.pipeline,
        state=view.state,
        total=row.total,
        finished=view.finished,
        runs=view.runs,
        start=row.start,
        end=row.end,
        every=row.every,
        timezone=row.timezone,
        args=row.args,
        max_running=row.max_running,
        created_at=row.created_at,
        status_url=f"{base}{API}/backfills/{row.id}",
        runs_url=f"{base}{API}/runs?tag=backfill:{row.id}",
    )


def install(app: FastAPI, svc: Services) -> None:
    @app.post(f"{API}/backfills", status_code=201, tags=["backfills"])
    def create_backfill(body: BackfillCreate, request: Request) -> BackfillOut:
        """Create one run per logical date from start to end (inclusive); at most
        `max_running` run at once, the others wait queued."""
        view = backfill_service.create_backfill(
            svc,
            body.pipeline,
            start=parse_local_time(body.start, body.timezone, "start"),
            end=parse_local_time(body.end, body.timezone, "end"),
            every=body.every,
            timezone=body.timezone,
            args=body.args,
            max_running=body.max_running,
            priority=body.priority,
            tags=body.tags,
        )
        return _out(view, request)

    @app.get(f"{API}/backfills", tags=["backfills"])
    def list_backfills(request: Request, limit: int = Query(50, ge=1, le=500)) -> list[BackfillOut]:
        return [_out(v, request) for v in backfill_service.list_backfills(svc, limit)]

    @app.get(f"{API}/backfills/{{backfill_id}}", tags=["backfills"])
    def get_backfill(backfill_id: str, request: Request) -> BackfillOut:
        return _out(backfill_service.get_backfill(svc, backfill_id), request)

    @app.post(f"{API}/backfills/{{backfill_id}}/cancel", tags=["backfills"])
    def cancel_backfill(backfill_id: str, request: Request) -> BackfillOut:
        """Cancel every run of the backfill that has not ended."""
        return _out(backfill_service.cancel_backfill(svc, backfill_id), request)

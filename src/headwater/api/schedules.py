"""/api/v1/schedules: create, list, read, pause, resume and delete schedules; each
response shows the next 5 fire times."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import FastAPI, Response
from pydantic import BaseModel, Field

from headwater.api import problems
from headwater.api.times import epoch, iso
from headwater.domain.schedule import MAX_CATCHUP_LIMIT, Catchup, ScheduleSpec
from headwater.services import schedules as schedule_service
from headwater.services.context import Services
from headwater.services.schedules import ScheduleView

API = "/api/v1"


class ScheduleCreate(BaseModel):
    name: str = Field(max_length=200)
    pipeline: str = Field(max_length=200)
    cron: str | None = Field(None, description="5 or 6 fields (seconds first), or @hourly etc.")
    interval: str | float | None = Field(None, description="seconds, or a duration like 15m")
    timezone: str = Field("UTC", description="IANA timezone the cron fields are read in")
    args: dict[str, Any] = Field(
        default_factory=dict, description='run arguments; strings may hold "{{ ds }}" templates'
    )
    catchup: Catchup = "skip"
    max_catchup: int = Field(100, ge=1, le=MAX_CATCHUP_LIMIT)
    start_at: datetime | None = Field(None, description="no tick before")
    end_at: datetime | None = Field(None, description="no tick at or after")
    description: str = ""


class ScheduleOut(BaseModel):
    name: str
    pipeline: str
    cron: str | None
    interval_seconds: float | None
    timezone: str
    args: dict[str, Any]
    catchup: str
    max_catchup: int
    start_at: float | None
    end_at: float | None
    state: str = Field(description="active or paused")
    origin: str = Field(description="code (registered by a code location) or api")
    description: str
    next_fire_times: list[str] = Field(description="the next 5, ISO 8601 in its timezone")
    checked_until: float = Field(description="ticks up to here were handled (epoch s)")
    created_at: float
    updated_at: float


class TickOut(BaseModel):
    tick_at: float
    tick_time: str
    run_id: str | None
    error: str | None
    created_at: float


def _out(view: ScheduleView) -> ScheduleOut:
    row = view.schedule
    fields = {name: getattr(row, name) for name in ScheduleOut.model_fields if hasattr(row, name)}
    return ScheduleOut(
        **fields, next_fire_times=[iso(t, row.timezone) for t in view.next_fire_times]
    )


def install(app: FastAPI, svc: Services) -> None:
    @app.get(f"{API}/schedules", tags=["schedules"])
    def list_schedules(pipeline: str | None = None) -> list[ScheduleOut]:
        return [_out(v) for v in schedule_service.list_schedules(svc, pipeline)]

    @app.post(
        f"{API}/schedules", status_code=201, tags=["schedules"], responses=problems.responses(409)
    )
    def create_schedule(body: ScheduleCreate) -> ScheduleOut:
        """Create an active schedule (409 if the name is taken). Ticks before now never
        fire; start a backfill for those."""
        values = body.model_dump()
        values["start_at"], values["end_at"] = epoch(body.start_at), epoch(body.end_at)
        spec = ScheduleSpec.from_values(values)
        return _out(schedule_service.create_schedule(svc, spec, origin="api"))

    @app.get(f"{API}/schedules/{{name}}", tags=["schedules"])
    def get_schedule(name: str) -> ScheduleOut:
        return _out(schedule_service.get_schedule(svc, name))

    @app.post(f"{API}/schedules/{{name}}/pause", tags=["schedules"])
    def pause_schedule(name: str) -> ScheduleOut:
        return _out(schedule_service.pause_schedule(svc, name))

    @app.post(f"{API}/schedules/{{name}}/resume", tags=["schedules"])
    def resume_schedule(name: str) -> ScheduleOut:
        """Ticks missed while paused go through the schedule's catch-up policy."""
        return _out(schedule_service.resume_schedule(svc, name))

    @app.delete(f"{API}/schedules/{{name}}", status_code=204, tags=["schedules"])
    def delete_schedule(name: str) -> Response:
        schedule_service.delete_schedule(svc, name)
        return Response(status_code=204)

    @app.get(f"{API}/schedules/{{name}}/ticks", tags=["schedules"])
    def list_ticks(name: str) -> list[TickOut]:
        """The latest fired ticks, newest first, with the run each created."""
        view = schedule_service.get_schedule(svc, name)
        return [
            TickOut(
                tick_at=t.tick_at,
                tick_time=iso(t.tick_at, view.schedule.timezone),
                run_id=t.run_id,
                error=t.error,
                created_at=t.created_at,
            )
            for t in schedule_service.list_ticks(svc, name)
        ]

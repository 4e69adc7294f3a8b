"""Sensors and webhook triggers: GET /api/v1/sensors (pause, resume) and
POST /api/v1/hooks/{name}, which starts a run when the body is signed with the hook's
secret."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Header, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from headwater.services.context import Services
from headwater.services.hooks import trigger_hook
from headwater.services.sensors import get_sensor, list_sensors, set_sensor_paused
from headwater.store.sensors import SensorRow

API = "/api/v1"


class SensorOut(BaseModel):
    name: str
    kind: str = Field(description="file, custom or hook")
    pipeline: str
    config: dict[str, Any] = Field(description="the kind's settings (secrets left out)")
    origin: str
    paused: bool
    cursor: str | None = Field(description="custom sensors: the cursor they get next")
    next_tick_at: float | None = Field(description="when it is evaluated next (epoch s)")
    last_tick_at: float | None
    last_error: str | None
    last_run_id: str | None
    hook_url: str | None = Field(description="hooks: where to POST")
    has_secret: bool | None = Field(description="hooks: whether a secret is configured")


class HookAccepted(BaseModel):
    run_id: str
    pipeline: str
    created: bool = Field(description="false: this delivery id had started the run already")
    status_url: str


def _out(row: SensorRow, base: str) -> SensorOut:
    hook = row.kind == "hook"
    return SensorOut(
        name=row.name,
        kind=row.kind,
        pipeline=row.pipeline,
        config=row.config,
        origin=row.origin,
        paused=row.paused,
        cursor=row.cursor,
        next_tick_at=None if hook or row.paused else row.next_tick_at,
        last_tick_at=row.last_tick_at,
        last_error=row.last_error,
        last_run_id=row.last_run_id,
        hook_url=f"{base}{API}/hooks/{row.name}" if hook else None,
        has_secret=bool(row.secret) if hook else None,
    )


def install(app: FastAPI, svc: Services) -> None:
    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.get(f"{API}/sensors", tags=["sensors"])
    def sensors(request: Request) -> list[SensorOut]:
        """File sensors, custom sensors and webhook triggers, by name."""
        return [_out(row, base(request)) for row in list_sensors(svc)]

    @app.get(f"{API}/sensors/{{name}}", tags=["sensors"])
    def sensor(name: str, request: Request) -> SensorOut:
        return _out(get_sensor(svc, name), base(request))

    @app.post(f"{API}/sensors/{{name}}/pause", tags=["sensors"])
    def pause(name: str, request: Request) -> SensorOut:
        """A paused sensor starts no runs (a paused hook answers 409) until resumed."""
        return _out(set_sensor_paused(svc, name, True), base(request))

    @app.post(f"{API}/sensors/{{name}}/resume", tags=["sensors"])
    def resume(name: str, request: Request) -> SensorOut:
        return _out(set_sensor_paused(svc, name, False), base(request))

    @app.post(
        f"{API}/hooks/{{name}}",
        status_code=202,
        tags=["sensors"],
        responses={
            401: {"description": "no signature header"},
            403: {"description": "the signature does not match"},
            404: {"description": "no such hook"},
            409: {"description": "the hook is paused"},
        },
    )
    async def hook(
        name: str,
        request: Request,
        x_headwater_signature: str | None = Header(None),
        x_headwater_delivery: str | None = Header(None, min_length=1, max_length=200),
    ) -> HookAccepted:
        """Start a run of the hook's pipeline. Sign the raw body: header
        `X-Headwater-Signature: sha256=<hex HMAC-SHA256 of the body with the secret>`.
        An `X-Headwater-Delivery` id makes retries start one run only."""
        body = await request.body()
        started = await run_in_threadpool(
            trigger_hook, svc, name, body, x_headwater_signature, x_headwater_delivery
        )
        return HookAccepted(
            run_id=started.run_id,
            pipeline=started.pipeline,
            created=started.created,
            status_url=f"{base(request)}{API}/runs/{started.run_id}",
        )

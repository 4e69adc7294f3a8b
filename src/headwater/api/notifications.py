"""Notifications on run end: /api/v1/notifications (create, read, replace, delete,
enable, disable) and their delivery log, /api/v1/notifications/{id}/deliveries."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI, Query
from pydantic import BaseModel, Field

from headwater.api import problems
from headwater.api.models import MAX_ID, IdPath
from headwater.domain.triggers import NotificationDef
from headwater.errors import Conflict
from headwater.services.context import Services
from headwater.services.notifications import (
    delete_notification,
    get_notification,
    list_deliveries,
    list_notifications,
    save_notification,
    set_notification_enabled,
)
from headwater.store.notifications import DeliveryRow, NotificationRow

API = "/api/v1"


class NotificationOut(BaseModel):
    id: int
    name: str
    kind: str = Field(description="webhook or email")
    url: str | None
    email_to: list[str]
    events: list[str]
    pipeline: str | None
    headers: dict[str, str]
    has_secret: bool
    max_attempts: int
    backoff_seconds: float
    origin: str = Field(description="code or api")
    enabled: bool
    created_at: float
    updated_at: float


class DeliveryOut(BaseModel):
    id: int
    notification_id: int
    run_id: str
    event: str = Field(description="the run's final state")
    state: str = Field(description="pending, delivered or failed")
    attempts: int
    next_attempt_at: float | None = Field(description="pending: when the next try is due")
    log: list[dict[str, Any]] = Field(description="each try: attempt, at, delivered, status, error")
    created_at: float
    delivered_at: float | None


class DeliveryPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_cursor: int | None


def _out(row: NotificationRow) -> NotificationOut:
    values = {k: v for k, v in row._asdict().items() if k != "secret"}
    return NotificationOut(**values, has_secret=bool(row.secret))


def _delivery(row: DeliveryRow) -> DeliveryOut:
    values = row._asdict()
    values.pop("claimed_until")
    if row.state != "pending":
        values["next_attempt_at"] = None
    return DeliveryOut(**values)


def install(app: FastAPI, svc: Services) -> None:
    @app.get(f"{API}/notifications", tags=["notifications"])
    def notifications() -> list[NotificationOut]:
        return [_out(row) for row in list_notifications(svc)]

    @app.post(
        f"{API}/notifications",
        status_code=201,
        tags=["notifications"],
        responses=problems.responses(409),
    )
    def create(body: NotificationDef) -> NotificationOut:
        """Tell a webhook or email addresses when runs end. The secret, if given, signs
        each webhook body (`X-Headwater-Signature: sha256=<hex>`); it is never shown."""
        if any(row.name == body.name for row in list_notifications(svc)):
            raise Conflict(f"a notification named {body.name!r} exists; PUT to replace it")
        return _out(get_notification(svc, save_notification(svc, body, "api")))

    @app.get(f"{API}/notifications/{{notification_id}}", tags=["notifications"])
    def read(notification_id: IdPath) -> NotificationOut:
        return _out(get_notification(svc, notification_id))

    @app.put(
        f"{API}/notifications/{{notification_id}}",
        tags=["notifications"],
        responses=problems.responses(409),
    )
    def replace(notification_id: IdPath, body: NotificationDef) -> NotificationOut:
        current = get_notification(svc, notification_id)
        if body.name != current.name:
            raise Conflict(f"the name cannot change (it is {current.name!r})")
        return _out(get_notification(svc, save_notification(svc, body, "api")))

    @app.delete(f"{API}/notifications/{{notification_id}}", status_code=204, tags=["notifications"])
    def delete(notification_id: IdPath) -> None:
        """Delete it and its delivery log. One defined in code comes back when its code
        location next starts; disable it to keep it quiet."""
        delete_notification(svc, notification_id)

    @app.post(f"{API}/notifications/{{notification_id}}/enable", tags=["notifications"])
    def enable(notification_id: IdPath) -> NotificationOut:
        set_notification_enabled(svc, notification_id, True)
        return _out(get_notification(svc, notification_id))

    @app.post(f"{API}/notifications/{{notification_id}}/disable", tags=["notifications"])
    def disable(notification_id: IdPath) -> NotificationOut:
        """Runs that end while it is disabled are not notified (not even later)."""
        set_notification_enabled(svc, notification_id, False)
        return _out(get_notification(svc, notification_id))

    @app.get(f"{API}/notifications/{{notification_id}}/deliveries", tags=["notifications"])
    def deliveries(
        notification_id: IdPath,
        state: Literal["pending", "delivered", "failed"] | None = None,
        cursor: int | None = Query(None, ge=1, le=MAX_ID),
        limit: int = Query(50, ge=1, le=500),
    ) -> DeliveryPage:
        """The delivery log, newest first; follow `next_cursor` for older ones."""
        rows = list_deliveries(svc, notification_id, limit=limit + 1, before_id=cursor, state=state)
        page = [_delivery(r) for r in rows[:limit]]
        more = len(rows) > limit
        return DeliveryPage(deliveries=page, next_cursor=page[-1].id if more and page else None)

"""Notifications (where to tell about ended runs) and their deliveries: the outbox rows
written when runs end (store.outbox), claimed by delivery loops, retried, and logged try
by try."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from headwater.domain.records import NamedTuple
from headwater.errors import NotFound
from headwater.store.pipelines import insert_ignoring_conflicts

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Row

DELIVERY_STATES = ("pending", "delivered", "failed")


class NotificationRow(NamedTuple):
    """A row of the notifications table."""

    id: int
    name: str
    kind: str
    url: str | None
    email_to: list[str]
    events: list[str]
    pipeline: str | None
    headers: dict[str, str]
    secret: str | None
    max_attempts: int
    backoff_seconds: float
    origin: str
    enabled: bool
    created_at: float
    updated_at: float


class DeliveryRow(NamedTuple):
    """A row of the notification_deliveries table."""

    id: int
    notification_id: int
    run_id: str
    event: str
    state: str
    attempts: int
    next_attempt_at: float
    claimed_until: float | None
    log: list[dict[str, Any]]
    created_at: float
    delivered_at: float | None


def _notification(row: Row[Any]) -> NotificationRow:
    values = row._asdict()
    values["email_to"] = json.loads(values["email_to"] or "[]")
    for key in ("events", "headers"):
        values[key] = json.loads(values[key])
    return NotificationRow(**values)


def _delivery(row: Row[Any]) -> DeliveryRow:
    values = row._asdict()
    values["log"] = json.loads(values["log"])
    return DeliveryRow(**values)


def _stored(values: dict[str, Any]) -> dict[str, Any]:
    stored = dict(values)
    stored["email_to"] = (
        json.dumps(values.get("email_to") or []) if values.get("email_to") else None
    )
    stored["events"] = json.dumps(sorted(values["events"]))
    stored["headers"] = json.dumps(values.get("headers") or {}, sort_keys=True)
    return stored


def save_notification(conn: Connection, values: dict[str, Any], now: float) -> int:
    """Create the notification named ``values["name"]``, or redefine it; its id."""
    import sqlalchemy as sa

    from headwater.store.tables import notifications

    stored = _stored(values)
    conn.execute(
        insert_ignoring_conflicts(conn.dialect.name, notifications, ["name"]).values(
            created_at=now, updated_at=now, **stored
        )
    )
    conn.execute(
        notifications.update()
        .where(notifications.c.name == values["name"])
        .values(updated_at=now, **stored)
    )
    return int(
        conn.execute(
            sa.select(notifications.c.id).where(notifications.c.name == values["name"])
        ).scalar_one()
    )


def list_notifications(conn: Connection) -> list[NotificationRow]:
    import sqlalchemy as sa

    from headwater.store.tables import notifications

    query = sa.select(notifications).order_by(notifications.c.name)
    return [_notification(r) for r in conn.execute(query)]


def get_notification(conn: Connection, notification_id: int) -> NotificationRow:
    import sqlalchemy as sa

    from headwater.store.tables import notifications

    row = conn.execute(
        sa.select(notifications).where(notifications.c.id == notification_id)
    ).first()
    if row is None:
        raise NotFound(f"no notification {notification_id}")
    return _notification(row)


def delete_notification(conn: Connection, notification_id: int) -> None:
    from headwater.store.tables import notification_deliveries, notifications

    get_notification(conn, notification_id)
    # Deliveries go too (ON DELETE CASCADE is not enforced by every SQLite connection).
    conn.execute(
        notification_deliveries.delete().where(
            notification_deliveries.c.notification_id == notification_id
        )
    )
    conn.execute(notifications.delete().where(notifications.c.id == notification_id))


def set_enabled(conn: Connection, notification_id: int, enabled: bool, now: float) -> None:
    from headwater.store.tables import notifications

    get_notification(conn, notification_id)
    conn.execute(
        notifications.update()
        .where(notifications.c.id == notification_id)
        .values(enabled=enabled, updated_at=now)
    )


def claim_due_deliveries(
    conn: Connection, now: float, limit: int, claim_seconds: float
) -> list[DeliveryRow]:
    """Pending deliveries whose time has come, claimed for `claim_seconds` by this
    process: another delivery loop skips them until the claim lapses (if this one dies
    mid-send, the delivery is retried: at least once)."""
    import sqlalchemy as sa

    from headwater.store.tables import notification_deliveries

    unclaimed = sa.or_(
        notification_deliveries.c.claimed_until.is_(None),
        notification_deliveries.c.claimed_until < now,
    )
    due = conn.execute(
        sa.select(notification_deliveries)
        .where(
            notification_deliveries.c.state == "pending",
            notification_deliveries.c.next_attempt_at <= now,
            unclaimed,
        )
        .order_by(notification_deliveries.c.next_attempt_at, notification_deliveries.c.id)
        .limit(limit)
    ).all()
    claimed = []
    for row in due:
        won = conn.execute(
            notification_deliveries.update()
            .where(
                notification_deliveries.c.id == row.id,
                notification_deliveries.c.state == "pending",
                unclaimed,
            )
            .values(claimed_until=now + claim_seconds)
        )
        if won.rowcount == 1:
            claimed.append(_delivery(row))
    return claimed


def record_try(
    conn: Connection,
    delivery: DeliveryRow,
    entry: dict[str, Any],
    *,
    delivered: bool,
    retry_at: float | None,
    now: float,
) -> None:
    """Log one try; the delivery is delivered, pending again at `retry_at`, or failed."""
    from headwater.store.tables import notification_deliveries

    state = "delivered" if delivered else ("pending" if retry_at is not None else "failed")
    log = [*_current_log(conn, delivery.id), entry]
    conn.execute(
        notification_deliveries.update()
        .where(notification_deliveries.c.id == delivery.id)
        .values(
            state=state,
            attempts=notification_deliveries.c.attempts + 1,
            next_attempt_at=retry_at if retry_at is not None else delivery.next_attempt_at,
            claimed_until=None,
            log=json.dumps(log),
            delivered_at=now if delivered else None,
        )
    )


def _current_log(conn: Connection, delivery_id: int) -> list[dict[str, Any]]:
    import sqlalchemy as sa

    from headwater.store.tables import notification_deliveries

    text = conn.execute(
        sa.select(notification_deliveries.c.log).where(notification_deliveries.c.id == delivery_id)
    ).scalar_one()
    return list(json.loads(text))


def list_deliveries(
    conn: Connection,
    notification_id: int,
    *,
    limit: int,
    before_id: int | None = None,
    state: str | None = None,
) -> list[DeliveryRow]:
    """The notification's deliveries, newest first."""
    import sqlalchemy as sa

    from headwater.store.tables import notification_deliveries

    query = sa.select(notification_deliveries).where(
        notification_deliveries.c.notification_id == notification_id
    )
    if before_id is not None:
        query = query.where(notification_deliveries.c.id < before_id)
    if state is not None:
        query = query.where(notification_deliveries.c.state == state)
    query = query.order_by(notification_deliveries.c.id.desc()).limit(limit)
    return [_delivery(r) for r in conn.execute(query)]

"""Notifications on run end: defining them, and delivering the outbox.

When a run ends, the transaction that ends it writes one pending delivery per
notification that wants it (`services.progress.end_run`). `deliver_due_notifications`,
called by scheduler loops (never by workers), claims due deliveries, sends them
outside any transaction, and records each try; a failed try is retried with
exponential backoff until the notification's `max_attempts`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from headwater.config import Settings
from headwater.domain.backoff import retry_delay_seconds
from headwater.domain.spec import Backoff
from headwater.domain.triggers import MAX_BACKOFF_SECONDS, NotificationDef
from headwater.errors import NotFound
from headwater.services.context import Services
from headwater.services.notification_senders import Outcome, post_webhook, run_payload, send_email
from headwater.services.runs import get_run_view
from headwater.store import notifications as notification_store
from headwater.store.notifications import DeliveryRow, NotificationRow

log = logging.getLogger("headwater.notifications")

# A claimed delivery is left alone by other loops this long: longer than one try can
# take (the webhook and SMTP timeouts), so a live sender is never raced.
CLAIM_SECONDS = 120.0
DELIVERIES_PER_PASS = 50


def save_notification(svc: Services, definition: NotificationDef, origin: str) -> int:
    """Create or redefine a notification (by name); its id."""
    values = definition.model_dump(exclude={"email_to"}) | {
        "kind": definition.kind,
        "email_to": definition.email_to,
        "origin": origin,
    }
    with svc.db.write() as conn:
        return notification_store.save_notification(conn, values, svc.db.clock(conn))


def save_notifications(
    svc: Services, definitions: Sequence[NotificationDef], origin: str = "code"
) -> None:
    for definition in definitions:
        save_notification(svc, definition, origin)


def list_notifications(svc: Services) -> list[NotificationRow]:
    with svc.db.read() as conn:
        return notification_store.list_notifications(conn)


def get_notification(svc: Services, notification_id: int) -> NotificationRow:
    with svc.db.read() as conn:
        return notification_store.get_notification(conn, notification_id)


def delete_notification(svc: Services, notification_id: int) -> None:
    with svc.db.write() as conn:
        notification_store.delete_notification(conn, notification_id)


def set_notification_enabled(svc: Services, notification_id: int, enabled: bool) -> None:
    with svc.db.write() as conn:
        notification_store.set_enabled(conn, notification_id, enabled, svc.db.clock(conn))


def list_deliveries(
    svc: Services,
    notification_id: int,
    *,
    limit: int = 50,
    before_id: int | None = None,
    state: str | None = None,
) -> list[DeliveryRow]:
    with svc.db.read() as conn:
        notification_store.get_notification(conn, notification_id)
        return notification_store.list_deliveries(
            conn, notification_id, limit=limit, before_id=before_id, state=state
        )


def deliver_due_notifications(svc: Services, settings: Settings) -> int:
    """Send what is due, up to DELIVERIES_PER_PASS; how many tries were made. Each
    delivery is claimed just before it is sent, so a claim never lapses while a long
    queue of slow receivers is worked through."""
    tries = 0
    while tries < DELIVERIES_PER_PASS:
        with svc.db.write() as conn:
            claimed = notification_store.claim_due_deliveries(
                conn, svc.db.clock(conn), 1, CLAIM_SECONDS
            )
        if not claimed:
            break
        _deliver(svc, settings, claimed[0])
        tries += 1
    return tries


def _deliver(svc: Services, settings: Settings, delivery: DeliveryRow) -> None:
    try:
        with svc.db.read() as conn:
            notification = notification_store.get_notification(conn, delivery.notification_id)
        view = get_run_view(svc, delivery.run_id)
    except NotFound as exc:  # deleted meanwhile: nothing to send, say why
        _record(svc, delivery, None, Outcome(False, error=str(exc)), final=True)
        return
    payload = run_payload(view, settings, delivery.id, notification.name)
    if notification.kind == "webhook":
        outcome = post_webhook(notification, payload, delivery.id)
    else:
        outcome = send_email(notification, payload, settings)
    if not outcome.delivered:
        log.warning(
            "notification %s, run %s: try %d failed: %s",
            notification.name,
            delivery.run_id,
            delivery.attempts + 1,
            outcome.error,
        )
    _record(svc, delivery, notification, outcome, final=False)


def _record(
    svc: Services,
    delivery: DeliveryRow,
    notification: NotificationRow | None,
    outcome: Outcome,
    *,
    final: bool,
) -> None:
    number = delivery.attempts + 1
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        retry_at = None
        retry = not outcome.delivered and not final and notification is not None
        if retry and notification is not None and number < notification.max_attempts:
            retry_at = now + notification_retry_delay(notification.backoff_seconds, number)
        entry: dict[str, Any] = {"attempt": number, "at": now, "delivered": outcome.delivered}
        if outcome.status is not None:
            entry["status"] = outcome.status
        if outcome.error is not None:
            entry["error"] = outcome.error
        notification_store.record_try(
            conn, delivery, entry, delivered=outcome.delivered, retry_at=retry_at, now=now
        )


def notification_retry_delay(backoff_seconds: float, tries: int) -> float:
    """Seconds before the next try after `tries` failed ones: doubling, capped at 1 h."""
    backoff = Backoff(
        base_seconds=backoff_seconds, factor=2.0, max_seconds=MAX_BACKOFF_SECONDS, jitter=False
    )
    return retry_delay_seconds(backoff, tries)

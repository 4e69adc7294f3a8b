"""The outbox: one pending delivery per notification that wants a run's end, written in
the transaction that ends the run. The rest of a delivery's life is in
store.notifications; this is apart because it runs at the end of every run, which then
loads none of that."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from headwater.store.sql import Sql, execute, execute_many

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

_WANT_ENDS = Sql(
    "SELECT id, events FROM notifications"
    " WHERE enabled = :yes AND (pipeline IS NULL OR pipeline = :pipeline)"
)
_INSERT_DELIVERY = Sql(
    "INSERT INTO notification_deliveries"
    " (notification_id, run_id, event, state, attempts, next_attempt_at, log, created_at)"
    " VALUES (:notification_id, :run_id, :event, 'pending', 0, :now, '[]', :now)"
)


def enqueue_run_end(conn: Connection, run_id: str, pipeline: str, state: str, now: float) -> int:
    """Write one pending delivery per enabled notification that wants this run's end; how
    many. Called in the transaction that ends the run (the outbox), so a delivery exists
    exactly when the run's final state is committed. Hand-written statements: this runs
    at the end of every run (see headwater.store.sql)."""
    wanted = [
        notification_id
        for notification_id, events_json in execute(
            conn, _WANT_ENDS, {"yes": True, "pipeline": pipeline}
        )
        if state in (events := json.loads(events_json)) or "finished" in events
    ]
    execute_many(
        conn,
        _INSERT_DELIVERY,
        [
            {"notification_id": notification_id, "run_id": run_id, "event": state, "now": now}
            for notification_id in wanted
        ],
    )
    return len(wanted)

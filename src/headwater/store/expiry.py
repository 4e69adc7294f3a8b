"""Runs with an expiry that have not started: found by the scheduler and the reaper."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.domain.states import RunState

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection

_NOT_STARTED = (RunState.QUEUED.value, RunState.RUNNING.value)


def _no_attempt(run_id: object) -> sa.ColumnElement[bool]:
    import sqlalchemy as sa

    from headwater.store.tables import attempts

    return ~sa.exists().where(attempts.c.run_id == run_id)


def list_expired_run_ids(conn: Connection, now: float, limit: int) -> list[str]:
    """Runs past their expires_at that no attempt has started, oldest expiry first."""
    import sqlalchemy as sa

    from headwater.store.tables import runs

    query = (
        sa.select(runs.c.id)
        .where(
            runs.c.expires_at <= now,
            runs.c.state.in_(_NOT_STARTED),
            _no_attempt(runs.c.id),
        )
        .order_by(runs.c.expires_at)
        .limit(limit)
    )
    return list(conn.execute(query).scalars())


def has_started(conn: Connection, run_id: str) -> bool:
    """True once any attempt of the run has begun (it can no longer expire)."""
    import sqlalchemy as sa

    from headwater.store.tables import attempts

    query = sa.select(attempts.c.id).where(attempts.c.run_id == run_id).limit(1)
    return conn.execute(query).first() is not None

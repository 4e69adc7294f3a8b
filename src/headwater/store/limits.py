"""Concurrency limits: at most N attempts running at once for a key (``pipeline:NAME``,
``task:NAME``, ``queue:NAME`` or ``tag:NAME``), kept as slot rows in the database.

A claim takes one free slot per limited key of a task run, in its own transaction. A
slot is free when it has no holder or its holder attempt is no longer running, so a
worker that dies frees its slots as soon as its attempt is reaped: nothing can leak.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater.domain.records import NamedTuple
from headwater.domain.states import AttemptState
from headwater.store.engine import Database
from headwater.store.sql import Sql, execute

if TYPE_CHECKING:
    import sqlalchemy as sa
    from sqlalchemy.engine import Connection

KEY_KINDS = ("pipeline", "task", "queue", "tag")


class LimitRow(NamedTuple):
    """A concurrency limit: its key, its maximum and how many of its task runs are running."""

    key: str
    max_running: int
    running: int


def set_limit(conn: Connection, key: str, max_running: int, now: float) -> None:
    import sqlalchemy as sa

    from headwater.store.tables import limit_slots, limits

    exists = conn.execute(sa.select(limits.c.key).where(limits.c.key == key)).first()
    if exists:
        conn.execute(
            limits.update()
            .where(limits.c.key == key)
            .values(max_running=max_running, updated_at=now)
        )
    else:
        conn.execute(limits.insert().values(key=key, max_running=max_running, updated_at=now))
    have = set(
        conn.execute(sa.select(limit_slots.c.slot).where(limit_slots.c.key == key)).scalars()
    )
    missing = [{"key": key, "slot": n} for n in range(max_running) if n not in have]
    if missing:
        conn.execute(limit_slots.insert(), missing)
    # Lowering a limit removes the top slots; their holders finish, none start after.
    conn.execute(
        limit_slots.delete().where(limit_slots.c.key == key, limit_slots.c.slot >= max_running)
    )


def delete_limit(conn: Connection, key: str) -> bool:
    from headwater.store.tables import limit_slots, limits

    conn.execute(limit_slots.delete().where(limit_slots.c.key == key))
    return conn.execute(limits.delete().where(limits.c.key == key)).rowcount == 1


def _held() -> sa.ColumnElement[bool]:
    import sqlalchemy as sa

    from headwater.store.tables import attempts, limit_slots

    running = sa.select(attempts.c.id).where(
        attempts.c.id == limit_slots.c.attempt_id, attempts.c.state == AttemptState.RUNNING.value
    )
    return sa.and_(limit_slots.c.attempt_id.is_not(None), running.exists())


def list_limits(conn: Connection) -> list[LimitRow]:
    import sqlalchemy as sa

    from headwater.store.tables import limit_slots, limits

    held = (
        sa.select(limit_slots.c.key, sa.func.count().label("n"))
        .where(_held())
        .group_by(limit_slots.c.key)
        .subquery()
    )
    query = (
        sa.select(limits.c.key, limits.c.max_running, sa.func.coalesce(held.c.n, 0))
        .outerjoin(held, held.c.key == limits.c.key)
        .order_by(limits.c.key)
    )
    return [LimitRow(k, m, int(n)) for k, m, n in conn.execute(query)]


_LIMITED_KEYS = Sql("SELECT key FROM limits")


def limited_keys(conn: Connection) -> set[str]:
    """The keys that have a limit (usually none: then claims skip all of this)."""
    return {key for (key,) in execute(conn, _LIMITED_KEYS)}


class SlotTaker:
    """Takes free slots inside one claim transaction, never the same slot twice."""

    def __init__(self, db: Database, conn: Connection, keys: set[str]) -> None:
        self.db, self.conn, self.keys = db, conn, keys
        self.taken: dict[str, list[int]] = {}

    def take_all(self, limit_keys_json: str) -> list[tuple[str, int]] | None:
        """One slot for each limited key of a task run, or None (taking nothing)."""
        wanted = [k for k in json.loads(limit_keys_json) if k in self.keys]
        got: list[tuple[str, int]] = []
        for key in wanted:
            slot = self._free_slot(key)
            if slot is None:
                for k, s in got:
                    self.taken[k].remove(s)
                return None
            self.taken.setdefault(key, []).append(slot)
            got.append((key, slot))
        return got

    def _free_slot(self, key: str) -> int | None:
        import sqlalchemy as sa

        from headwater.store.tables import limit_slots

        query = (
            sa.select(limit_slots.c.slot)
            .where(
                limit_slots.c.key == key,
                sa.not_(_held()),
                limit_slots.c.slot.not_in(self.taken.get(key, [])),
            )
            .order_by(limit_slots.c.slot)
            .limit(1)
        )
        if self.db.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True, of=limit_slots)
        return self.conn.execute(query).scalar()

    def assign(self, slots: Sequence[tuple[str, int]], attempt_id: int) -> None:
        for key, slot in slots:
            execute(self.conn, _ASSIGN, {"attempt": attempt_id, "key": key, "slot": slot})


_ASSIGN = Sql("UPDATE limit_slots SET attempt_id = :attempt WHERE key = :key AND slot = :slot")

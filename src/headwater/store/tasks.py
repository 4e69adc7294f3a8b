"""The task registry: the definitions (no code) of the tasks code locations provide."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from headwater.domain.canonical import canonical_json
from headwater.domain.spec import TaskDef
from headwater.errors import NotFound
from headwater.store.pipelines import insert_ignoring_conflicts
from headwater.store.tables import tasks


@dataclass(frozen=True)
class TaskRow:
    definition: TaskDef
    location: str
    registered_at: float


def changed_tasks(conn: Connection, found: Sequence[TaskDef], location: str) -> list[TaskDef]:
    """The definitions that are not stored as they are (new, or changed, or moved)."""
    stored = {row.definition.name: row for row in list_tasks(conn)}
    return [
        task
        for task in found
        if (old := stored.get(task.name)) is None
        or old.definition != task
        or old.location != location
    ]


def save_tasks(conn: Connection, found: Sequence[TaskDef], location: str, now: float) -> None:
    """Insert or replace the definitions that changed. Several workers of one project
    start at once: inserts that would collide do nothing instead of failing."""
    for task in changed_tasks(conn, found, location):
        values = {
            "version": task.version,
            "kind": task.kind,
            "definition": canonical_json(task.to_json_dict()),
            "location": location,
            "registered_at": now,
        }
        inserted = conn.execute(
            insert_ignoring_conflicts(conn.dialect.name, tasks, ["name"]).values(
                name=task.name, **values
            )
        )
        if not inserted.rowcount:
            conn.execute(tasks.update().where(tasks.c.name == task.name).values(**values))


def list_tasks(conn: Connection) -> list[TaskRow]:
    rows = conn.execute(sa.select(tasks).order_by(tasks.c.name))
    return [_task_row(r) for r in rows]


def find_task(conn: Connection, name: str) -> TaskRow | None:
    row = conn.execute(sa.select(tasks).where(tasks.c.name == name)).first()
    return _task_row(row) if row is not None else None


def get_task(conn: Connection, name: str) -> TaskRow:
    found = find_task(conn, name)
    if found is None:
        raise NotFound(f"no registered task named {name!r}")
    return found


def _task_row(row: sa.Row[Any]) -> TaskRow:
    return TaskRow(TaskDef.from_json(json.loads(row.definition)), row.location, row.registered_at)

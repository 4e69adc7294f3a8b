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


def save_tasks(conn: Connection, found: Sequence[TaskDef], location: str, now: float) -> None:
    """Insert or replace the definitions. Unchanged rows are left alone, so several
    workers of one project starting at once do not rewrite the same rows."""
    stored = {row.definition.name: row for row in list_tasks(conn)}
    for task in found:
        text = canonical_json(task.model_dump(mode="json", exclude_none=True))
        old = stored.get(task.name)
        if old is not None and old.definition == task and old.location == location:
            continue
        values = {
            "version": task.version,
            "kind": task.kind,
            "definition": text,
            "location": location,
            "registered_at": now,
        }
        if old is None:
            conn.execute(
                insert_ignoring_conflicts(conn.dialect.name, tasks, ["name"]).values(
                    name=task.name, **values
                )
            )
        else:
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
    return TaskRow(
        TaskDef.model_validate(json.loads(row.definition)), row.location, row.registered_at
    )

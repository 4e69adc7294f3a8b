"""Run arguments rendered from a tick: ``{"day": "{{ ds }}"}`` becomes ``{"day": "2026-01-01"}``.

A string value may hold ``{{ name }}`` placeholders (spaces optional) anywhere inside
it, at any depth of lists and objects. The names, all strings in the schedule's
timezone (as Airflow's):

    ds                   the logical date, 2026-01-01
    ds_nodash            20260101
    ts                   the logical date and time, ISO 8601 with offset
    data_interval_start  same as ts: the start of the interval the run covers
    data_interval_end    the end of that interval (the tick that fired it)
    schedule             the schedule's name ("" for a backfill)
    backfill_id          the backfill's id ("" for a schedule)

The logical date is the *start* of the interval: a daily schedule firing at midnight
on 2 January processes 1 January (``ds`` = 2026-01-01). An unknown name is an error
when the schedule is defined, not when it fires.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from headwater.domain.problems import Problem

TEMPLATE_VARIABLES = (
    "ds",
    "ds_nodash",
    "ts",
    "data_interval_start",
    "data_interval_end",
    "schedule",
    "backfill_id",
)
_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


def template_problems(value: Any, path: str = "args") -> list[Problem]:
    """Unknown placeholder names in `value`, each with its JSON path."""
    if isinstance(value, str):
        return [
            Problem(
                "",
                path,
                f"unknown template variable {name!r} (known: {', '.join(TEMPLATE_VARIABLES)})",
            )
            for name in _PLACEHOLDER.findall(value)
            if name not in TEMPLATE_VARIABLES
        ]
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in template_problems(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in template_problems(v, f"{path}[{i}]")]
    return []


def render(value: Any, variables: dict[str, str]) -> Any:
    """`value` with every placeholder replaced (unknown names are left as they are)."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: variables.get(m.group(1), m.group(0)), value)
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    return value


def tick_variables(
    start: float, end: float, timezone: str, *, schedule: str = "", backfill_id: str = ""
) -> dict[str, str]:
    """The template variables of a run covering the interval [start, end)."""
    zone = ZoneInfo(timezone)
    logical = datetime.fromtimestamp(start, zone)
    return {
        "ds": logical.strftime("%Y-%m-%d"),
        "ds_nodash": logical.strftime("%Y%m%d"),
        "ts": logical.isoformat(),
        "data_interval_start": logical.isoformat(),
        "data_interval_end": datetime.fromtimestamp(end, zone).isoformat(),
        "schedule": schedule,
        "backfill_id": backfill_id,
    }

"""Parsing `-p key=value` and `-t node.key=value` options."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from headwater.domain.problems import Problem
from headwater.errors import ValidationError

if TYPE_CHECKING:
    from pathlib import Path

    from headwater.services.runs import StartControls


def parse_value(text: str) -> Any:
    """JSON if it parses (``5``, ``true``, ``[1,2]``), else the text itself."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _split(item: str, option: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise ValidationError([Problem("", option, f"expected KEY=VALUE, got {item!r}")])
    return key.strip(), value


def parse_params(items: list[str], params_file: Path | None) -> dict[str, Any]:
    args: dict[str, Any] = {}
    if params_file is not None:
        try:
            with open(params_file, encoding="utf-8") as handle:
                loaded = json.loads(handle.read())
        except (OSError, json.JSONDecodeError) as exc:
            raise ValidationError([Problem(str(params_file), "", str(exc))]) from None
        if not isinstance(loaded, dict):
            raise ValidationError([Problem(str(params_file), "$", "must be a JSON object")])
        args.update(loaded)
    for item in items:
        key, value = _split(item, "--param")
        args[key] = parse_value(value)
    return args


def parse_task_params(items: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        key, value = _split(item, "--task-param")
        node, dot, name = key.partition(".")
        if not dot or not name:
            raise ValidationError(
                [Problem("", "--task-param", f"expected NODE.KEY=VALUE, got {item!r}")]
            )
        found.setdefault(node, {})[name] = parse_value(value)
    return found


def parse_time(text: str, option: str) -> float:
    """An ISO 8601 date or date-time as epoch seconds; UTC unless it gives an offset."""
    from headwater.domain.backfill import parse_local_time

    return parse_local_time(text, "UTC", option)


def _parse_duration(text: str, option: str) -> float:
    # Imported here: a run without --start-in does not load the module (nor its patterns).
    from headwater.domain.durations import parse_duration

    return parse_duration(text, option)


def parse_start_controls(
    start_at: str | None, start_in: str | None, expires_at: str | None
) -> StartControls:
    from headwater.services.runs import StartControls

    return StartControls(
        start_at=parse_time(start_at, "--start-at") if start_at else None,
        start_in=_parse_duration(start_in, "--start-in") if start_in else None,
        expires_at=parse_time(expires_at, "--expires-at") if expires_at else None,
    )

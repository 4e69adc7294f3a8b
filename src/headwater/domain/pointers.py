"""JSON pointers (RFC 6901), to map a webhook's JSON payload to run arguments.

A mapping ``{"day": "/data/date", "ids": "/data/items"}`` gives the run argument ``day``
the payload's ``data.date`` and ``ids`` its ``data.items``; ``""`` is the whole payload.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headwater.domain.problems import Problem


def resolve_pointer(document: Any, pointer: str) -> Any:
    """The value at `pointer` in `document`; KeyError if there is none."""
    if pointer == "":
        return document
    if not pointer.startswith("/"):
        raise KeyError(f"a JSON pointer starts with '/': {pointer!r}")
    value = document
    for raw in pointer[1:].split("/"):
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(value, list):
            if not part.isdigit() or int(part) >= len(value):
                raise KeyError(pointer)
            value = value[int(part)]
        elif isinstance(value, dict) and part in value:
            value = value[part]
        else:
            raise KeyError(pointer)
    return value


def map_payload(payload: Any, mapping: Mapping[str, str]) -> tuple[dict[str, Any], list[Problem]]:
    """Run arguments picked from `payload` by `mapping` (argument → pointer), and a
    problem for each pointer the payload does not have."""
    args: dict[str, Any] = {}
    problems: list[Problem] = []
    for name, pointer in mapping.items():
        try:
            args[name] = resolve_pointer(payload, pointer)
        except KeyError:
            problems.append(Problem(pointer, name, f"the payload has nothing at {pointer!r}"))
    return args, problems


def pointer_problem(pointer: str) -> str | None:
    """Why `pointer` is not a JSON pointer, or None."""
    if pointer != "" and not pointer.startswith("/"):
        return f"{pointer!r} is not a JSON pointer (it must be empty or start with '/')"
    return None

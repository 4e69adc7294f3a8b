"""Plain type hints and JSON values without pydantic: the fast paths of schema.py.

`headwater run` must not import pydantic (issue 7: it is a third of the start-up), yet
parameter schemas, argument checks and outputs must come out exactly as pydantic made
them. Most tasks use only plain hints (nothing or Any, int, float, str, bool, None,
list[X], dict[str, X], X | None, Literal[...]) and JSON values; those are handled here,
mirroring pydantic. Anything else returns NOT_PLAIN and the caller asks pydantic.
"""

from __future__ import annotations

import math
import types
import typing
from typing import Any, Literal

__all__ = ["NOT_PLAIN", "accept", "json_value", "parse", "schema", "sort_like_pydantic"]

NOT_PLAIN: Any = object()
_MAX_DEPTH = 64  # deeper values (or cycles) are left to pydantic

_SCALARS: dict[type, str] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    type(None): "null",
}
_LITERAL_TYPES = {str: "string", int: "integer", bool: "boolean"}

# A parsed hint: ("any",), ("scalar", type), ("list", item), ("dict", value),
# ("optional", inner) or ("literal", values).
Hint = tuple[Any, ...]


def parse(hint: Any) -> Hint | None:
    """`hint` as a plain hint, or None when pydantic must handle it."""
    if hint is Any:
        return ("any",)
    if hint is None or hint in (int, float, str, bool, type(None)):
        return ("scalar", type(None) if hint is None else hint)
    if hint is list or hint is dict:
        return ("list" if hint is list else "dict", ("any",))
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list and len(args) == 1:
        item = parse(args[0])
        return None if item is None else ("list", item)
    if origin is dict and len(args) == 2 and args[0] is str:
        value = parse(args[1])
        return None if value is None else ("dict", value)
    if origin in (typing.Union, types.UnionType) and len(args) == 2 and type(None) in args:
        inner = parse(args[0] if args[1] is type(None) else args[1])
        return None if inner is None or inner[0] in ("any", "optional") else ("optional", inner)
    if origin is Literal and len({type(v) for v in args}) == 1 and type(args[0]) in _LITERAL_TYPES:
        return ("literal", args)
    return None


def schema(hint: Hint) -> dict[str, Any]:
    """pydantic's JSON Schema for a plain hint (before sorting; without a title)."""
    kind = hint[0]
    if kind == "any":
        return {}
    if kind == "scalar":
        return {"type": _SCALARS[hint[1]]}
    if kind == "list":
        return {"type": "array", "items": schema(hint[1])}
    if kind == "dict":
        value = schema(hint[1])
        return {"type": "object", "additionalProperties": value or True}
    if kind == "optional":
        return {"anyOf": [schema(hint[1]), {"type": "null"}]}
    values = list(hint[1])
    typed = {"type": _LITERAL_TYPES[type(values[0])]}
    return {"const": values[0], **typed} if len(values) == 1 else {"enum": values, **typed}


def accept(hint: Hint, value: Any) -> Any:
    """`value` as pydantic would validate it, when it has the plain type; else NOT_PLAIN
    (then pydantic decides: it may coerce it, or report the error its own way)."""
    kind = hint[0]
    if kind == "any":
        return value
    if kind == "scalar":
        if type(value) is hint[1]:
            return value
        if hint[1] is float and type(value) is int and abs(value) <= 2**53:
            return float(value)
        return NOT_PLAIN
    if kind == "list":
        if type(value) is not list:
            return NOT_PLAIN
        items = [accept(hint[1], item) for item in value]
        return NOT_PLAIN if any(item is NOT_PLAIN for item in items) else items
    if kind == "dict":
        if type(value) is not dict or not all(type(key) is str for key in value):
            return NOT_PLAIN
        values = {key: accept(hint[1], item) for key, item in value.items()}
        return NOT_PLAIN if any(item is NOT_PLAIN for item in values.values()) else values
    if kind == "optional":
        return None if value is None else accept(hint[1], value)
    return value if any(type(value) is type(v) and value == v for v in hint[1]) else NOT_PLAIN


def json_value(value: Any, depth: int = 0) -> Any:
    """`value` as JSON data (tuples as lists) when it is made of JSON types; else NOT_PLAIN."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is float:
        return value if math.isfinite(value) else NOT_PLAIN
    if depth >= _MAX_DEPTH:
        return NOT_PLAIN
    if kind is list or kind is tuple:
        items = [json_value(item, depth + 1) for item in value]
        return NOT_PLAIN if any(item is NOT_PLAIN for item in items) else items
    if kind is dict and all(type(key) is str for key in value):
        values = {key: json_value(item, depth + 1) for key, item in value.items()}
        return NOT_PLAIN if any(item is NOT_PLAIN for item in values.values()) else values
    return NOT_PLAIN


def sort_like_pydantic(value: Any, parent_key: str | None = None) -> Any:
    """Keys sorted as pydantic sorts a JSON Schema (not under 'properties' or 'default')."""
    if isinstance(value, dict):
        keys = value if parent_key in ("properties", "default") else sorted(value)
        return {key: sort_like_pydantic(value[key], key) for key in keys}
    if isinstance(value, list):
        return [sort_like_pydantic(item, parent_key) for item in value]
    return value

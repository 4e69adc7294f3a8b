"""JSON Schema helpers over the `jsonschema` package (imported lazily: it is slow to load).

Most parameter schemas are the plain ones pydantic writes for type hints (`type`,
`properties`, `required`, `additionalProperties`, `items`, `anyOf`). A quick check
answers "certainly valid" for those without importing `jsonschema` (~0.1 s of every
`headwater run`); anything it does not fully know, and every error, goes to `jsonschema`,
so the messages and the verdicts are jsonschema's.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from headwater.domain.canonical import canonical_json


def subschema(object_schema: dict[str, Any], name: str) -> dict[str, Any]:
    """The schema of property `name`, carrying the object's ``$defs`` so refs resolve."""
    prop = dict(object_schema.get("properties", {}).get(name, {}))
    if "$ref" in prop and "$defs" not in prop and "$defs" in object_schema:
        prop = {"allOf": [prop], "$defs": object_schema["$defs"]}
    elif "$defs" in object_schema:
        prop.setdefault("$defs", object_schema["$defs"])
    return prop


@lru_cache(maxsize=512)
def _validator(schema_json: str) -> Any:
    import json

    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema_json))


def schema_errors(schema: dict[str, Any], value: Any) -> list[tuple[str, str]]:
    """Every way `value` breaks `schema`, as (JSON path suffix, message)."""
    if not schema or _plainly_valid(schema, value):
        return []
    validator = _validator(canonical_json(schema))
    found = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        suffix = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        found.append((suffix, error.message))
    return found


def schema_problem(schema: dict[str, Any]) -> str | None:
    """Why `schema` is not a valid JSON Schema (draft 2020-12), or None if it is."""
    if _plain_schema(schema):
        return None
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return exc.message
    return None


# -- the quick check: a subset of draft 2020-12 whose meaning is known in full --------

_ANNOTATIONS = {
    "title": str,
    "description": str,
    "$comment": str,
    "deprecated": bool,
    "readOnly": bool,
    "writeOnly": bool,
}
# jsonschema's own type checks, restricted to the unambiguous cases: 1.0 is an integer
# to jsonschema and True is not a number, so floats for "integer" are left to it.
_TYPES: dict[str, Any] = {
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "string": lambda v: isinstance(v, str),
    "array": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
}


def _plainly_valid(schema: Any, value: Any) -> bool:
    """True only if `value` certainly satisfies `schema`; False means "ask jsonschema"."""
    if schema is True:
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, rule in schema.items():
        if keyword in _ANNOTATIONS or keyword in ("default", "examples", "$defs"):
            continue
        if keyword == "type":
            kinds = [rule] if isinstance(rule, str) else rule
            if not isinstance(kinds, list) or not any(
                isinstance(k, str) and k in _TYPES and _TYPES[k](value) for k in kinds
            ):
                return False
        elif keyword == "properties":
            if isinstance(value, dict) and not (
                isinstance(rule, dict)
                and all(_plainly_valid(rule[k], v) for k, v in value.items() if k in rule)
            ):
                return False
        elif keyword == "required":
            if isinstance(value, dict) and not (
                isinstance(rule, list) and all(k in value for k in rule)
            ):
                return False
        elif keyword == "additionalProperties":
            if isinstance(value, dict):
                known = schema.get("properties", {})
                extra = [v for k, v in value.items() if k not in known]
                if extra and not all(_plainly_valid(rule, v) for v in extra):
                    return False
        elif keyword == "items":
            if isinstance(value, list) and not all(_plainly_valid(rule, v) for v in value):
                return False
        elif keyword == "anyOf":
            if not isinstance(rule, list) or not any(_plainly_valid(s, value) for s in rule):
                return False
        else:
            return False
    return True


def _plain_schema(schema: Any) -> bool:
    """True only if `schema` certainly is a valid schema; False means "ask jsonschema"."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict):
        return False
    for keyword, rule in schema.items():
        if keyword in _ANNOTATIONS:
            ok = isinstance(rule, _ANNOTATIONS[keyword])
        elif keyword == "default":
            ok = True
        elif keyword == "examples":
            ok = isinstance(rule, list)
        elif keyword == "type":
            kinds = [rule] if isinstance(rule, str) else rule
            ok = (
                isinstance(kinds, list)
                and len(kinds) > 0
                and all(isinstance(k, str) and k in _TYPES for k in kinds)
                and len(set(kinds)) == len(kinds)
            )
        elif keyword in ("properties", "$defs"):
            ok = isinstance(rule, dict) and all(_plain_schema(s) for s in rule.values())
        elif keyword == "required":
            ok = (
                isinstance(rule, list)
                and all(isinstance(k, str) for k in rule)
                and len(set(rule)) == len(rule)
            )
        elif keyword in ("additionalProperties", "items"):
            ok = _plain_schema(rule)
        elif keyword == "anyOf":
            ok = isinstance(rule, list) and len(rule) > 0 and all(_plain_schema(s) for s in rule)
        else:
            ok = False
        if not ok:
            return False
    return True

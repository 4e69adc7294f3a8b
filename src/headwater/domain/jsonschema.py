"""JSON Schema helpers over the `jsonschema` package (imported lazily: it is slow to load)."""

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
    if not schema:
        return []
    validator = _validator(canonical_json(schema))
    found = []
    for error in sorted(validator.iter_errors(value), key=lambda e: list(map(str, e.path))):
        suffix = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.path)
        found.append((suffix, error.message))
    return found

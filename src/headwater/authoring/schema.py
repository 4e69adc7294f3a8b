"""JSON Schemas for a function's parameters and return value, from its type hints."""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, create_model

from headwater.domain.problems import Problem
from headwater.errors import DefinitionError


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to Any
        return {}


def params_model(fn: Callable[..., Any], name: str, where: str) -> type[BaseModel]:
    """A pydantic model whose fields are `fn`'s parameters (extra fields forbidden)."""
    hints = _hints(fn)
    fields: dict[str, Any] = {}
    for param in inspect.signature(fn).parameters.values():
        if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
            raise DefinitionError(
                [Problem(where, param.name, "*args and **kwargs cannot be task parameters")]
            )
        if param.name.startswith("_"):
            raise DefinitionError(
                [Problem(where, param.name, "parameter names cannot start with '_'")]
            )
        default = ... if param.default is param.empty else param.default
        fields[param.name] = (hints.get(param.name, Any), default)
    model_name = name.replace(".", "_") + "_params"
    config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
    model: type[BaseModel] = create_model(model_name, __config__=config, **fields)
    return model


def params_schema(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema()
    schema.pop("title", None)
    props = schema.setdefault("properties", {})
    for name, prop in props.items():
        # pydantic's automatic titles ("Min Amount") add nothing, and would make a
        # Python pipeline's spec differ from the same pipeline written as a recipe.
        if prop.get("title") == name.replace("_", " ").title():
            del prop["title"]
    schema["additionalProperties"] = False
    return schema


def output_schema(fn: Callable[..., Any]) -> dict[str, Any] | None:
    """The return value's JSON Schema, or None when the function has no return hint."""
    hints = _hints(fn)
    if "return" not in hints:
        return None
    try:
        return TypeAdapter(hints["return"]).json_schema(mode="serialization")
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe: unknown shape
        return None

"""JSON Schemas for a function's parameters and return value, from its type hints, and
the check of arguments against the parameters.

pydantic defines both; plain hints and JSON values take the fast paths of
`headwater.authoring.plain`, which give the same results without importing pydantic.
"""

from __future__ import annotations

import typing
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from headwater.authoring import functions, plain
from headwater.domain.problems import Problem
from headwater.errors import DefinitionError

if TYPE_CHECKING:
    from pydantic import BaseModel


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return functions.type_hints(fn)
    except Exception:  # noqa: BLE001 - unresolvable forward references: fall back to Any
        return {}


class Params:
    """A function's parameters (extra arguments forbidden), as pydantic sees them."""

    def __init__(self, fn: Callable[..., Any], name: str, where: str) -> None:
        hints = self.hints = _hints(fn)  # output_schema reads them again
        self.fields: dict[str, tuple[Any, Any]] = {}  # name: (hint, default or ...)
        for param, variadic, default in functions.parameters(fn):
            if variadic:
                raise DefinitionError(
                    [Problem(where, param, "*args and **kwargs cannot be task parameters")]
                )
            if param.startswith("_"):
                raise DefinitionError(
                    [Problem(where, param, "parameter names cannot start with '_'")]
                )
            self.fields[param] = (hints.get(param, Any), default)
        self.model_name = name.replace(".", "_") + "_params"
        parsed = {name: plain.parse(hint) for name, (hint, _) in self.fields.items()}
        # None when a hint or a default is not plain: pydantic handles those parameters.
        self._plain: dict[str, plain.Hint] | None = (
            None if None in parsed.values() else typing.cast(dict[str, plain.Hint], parsed)
        )

    @cached_property
    def model(self) -> type[BaseModel]:
        """The pydantic model of the parameters, made only when a fast path cannot answer."""
        from pydantic import ConfigDict, create_model

        config = ConfigDict(extra="forbid", arbitrary_types_allowed=False)
        fields: dict[str, Any] = self.fields
        return create_model(self.model_name, __config__=config, **fields)

    def json_schema(self) -> dict[str, Any]:
        schema = self._plain_schema() if self._plain is not None else None
        if schema is None:
            schema = self.model.model_json_schema()
        schema.pop("title", None)
        for name, prop in schema.setdefault("properties", {}).items():
            # pydantic's automatic titles ("Min Amount") add nothing, and would make a
            # Python pipeline's spec differ from the same pipeline written as a recipe.
            if prop.get("title") == name.replace("_", " ").title():
                del prop["title"]
        schema["additionalProperties"] = False
        return schema

    def _plain_schema(self) -> dict[str, Any] | None:
        assert self._plain is not None
        properties = {}
        for name, hint in self._plain.items():
            prop = plain.schema(hint) | {"title": name.title().replace("_", " ").strip()}
            default = self.fields[name][1]
            if default is not ...:
                prop["default"] = plain.json_value(default)
                if prop["default"] is plain.NOT_PLAIN:
                    return None
            properties[name] = prop
        required = [name for name, (_, default) in self.fields.items() if default is ...]
        schema = {"additionalProperties": False, "properties": properties, "type": "object"}
        schema |= {"required": required} if required else {}
        return typing.cast(dict[str, Any], plain.sort_like_pydantic(schema))

    def validate(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """The keyword arguments to call the function with; pydantic's ValidationError
        when they do not fit (pydantic also coerces what it can, such as "1" to 1)."""
        if self._plain is not None and arguments.keys() <= self._plain.keys():
            kwargs = {}
            for name, hint in self._plain.items():
                if name in arguments:
                    kwargs[name] = plain.accept(hint, arguments[name])
                elif (default := self.fields[name][1]) is not ...:
                    # pydantic copies a default only when it is unhashable.
                    import copy  # loaded only for a mutable default

                    kwargs[name] = default if _hashable(default) else copy.deepcopy(default)
                else:
                    break
                if kwargs[name] is plain.NOT_PLAIN:
                    break
            else:
                return kwargs
        validated = self.model.model_validate(dict(arguments))
        return {name: getattr(validated, name) for name in self.fields}


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def output_schema(
    fn: Callable[..., Any], hints: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The return value's JSON Schema, or None when the function has no return hint
    (`hints`: the function's type hints, if already read)."""
    if hints is None:
        hints = _hints(fn)
    if "return" not in hints:
        return None
    hint = plain.parse(hints["return"])
    if hint is not None:
        return typing.cast(dict[str, Any], plain.sort_like_pydantic(plain.schema(hint)))
    from pydantic import TypeAdapter

    try:
        found: dict[str, Any] = TypeAdapter(hints["return"]).json_schema(mode="serialization")
        return found
    except Exception:  # noqa: BLE001 - a type pydantic cannot describe: unknown shape
        return None


def to_json(value: Any) -> Any:
    """`value` as JSON data, as pydantic_core.to_jsonable_python makes it."""
    converted = plain.json_value(value)
    if converted is not plain.NOT_PLAIN:
        return converted
    from pydantic_core import to_jsonable_python

    return to_jsonable_python(value)

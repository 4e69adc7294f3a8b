"""Frozen value classes whose fields are checked when they are made (the spec's base).

    class Source(Frozen):
        file: str = field(text())
        line: int | None = field(optional(integer()), default=None)

A subclass lists its fields like a dataclass, each with a check; making one (by keyword,
or with `from_json` from a parsed JSON object) checks every field and raises one
`SpecError` naming each bad field, with pydantic's messages (the spec classes were
pydantic models, and their errors are part of what users see). Classes are made by a
small metaclass rather than `dataclasses` or pydantic: both cost milliseconds per class
at import, and the spec is imported by every `headwater run`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, NoReturn, Self, dataclass_transform

__all__ = ["Frozen", "SpecError", "field"]

Loc = tuple[str | int, ...]
Check = Callable[[Any], Any]


class SpecError(ValueError):
    """Invalid values for a spec class; `errors` lists (location, message), field first."""

    def __init__(self, what: str, errors: list[tuple[Loc, str]]) -> None:
        self.errors = errors
        lines = [f"  {'.'.join(map(str, loc)) or '$'}: {msg}" for loc, msg in errors]
        super().__init__("\n".join([f"invalid {what}:", *lines]))


def _invalid(message: str, *loc: str | int) -> SpecError:
    return SpecError("value", [(loc, message)])


_REQUIRED: Any = object()
_BAD: Any = object()


def _apply(check: Check, value: Any, key: str | int, errors: list[tuple[Loc, str]]) -> Any:
    """check(value); or, when it raises, _BAD after adding its errors under `key`."""
    try:
        return check(value)
    except SpecError as bad:
        errors += [((key, *loc), message) for loc, message in bad.errors]
        return _BAD


class _Field:
    __slots__ = ("check", "default", "factory")

    def __init__(self, check: Check, default: Any, factory: Callable[[], Any] | None) -> None:
        self.check, self.default, self.factory = check, default, factory


def field(
    check: Check, *, default: Any = _REQUIRED, default_factory: Callable[[], Any] | None = None
) -> Any:
    """A field checked by `check` (which returns the value to keep, or raises)."""
    return _Field(check, default, default_factory)


@dataclass_transform(kw_only_default=True, frozen_default=True, field_specifiers=(field,))
class _FrozenMeta(type):
    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any]) -> type:
        fields = {k: namespace.pop(k) for k, v in list(namespace.items()) if isinstance(v, _Field)}
        namespace["__slots__"] = (*fields, *namespace.get("__slots__", ()))
        # A subclass keeps its bases' fields (theirs first, as dataclasses order them).
        inherited = {
            k: v for base in reversed(bases) for k, v in vars(base).get("_fields", {}).items()
        }
        namespace["_fields"] = {**inherited, **fields}
        return super().__new__(mcs, name, bases, namespace)


class Frozen(metaclass=_FrozenMeta):
    """Made by keyword; immutable, compared and hashed by value; `replace` for a copy."""

    _fields: ClassVar[dict[str, _Field]]

    def __init__(self, **values: Any) -> None:
        errors: list[tuple[Loc, str]] = [
            ((name,), "Extra inputs are not permitted")
            for name in values
            if name not in self._fields
        ]
        for name, spec in self._fields.items():
            value = values.get(name, _REQUIRED)
            if value is _REQUIRED:
                if spec.factory is not None:
                    value = spec.factory()
                elif spec.default is not _REQUIRED:
                    value = spec.default
                else:
                    errors.append(((name,), "Field required"))
                    continue
            elif (value := _apply(spec.check, value, name, errors)) is _BAD:
                continue
            object.__setattr__(self, name, value)
        if errors:
            raise SpecError(type(self).__name__, errors)

    @classmethod
    def from_json(cls, data: Any) -> Self:
        """One from a parsed JSON object, checked as strictly as the constructor."""
        if isinstance(data, cls):
            return data
        if not isinstance(data, dict) or not all(isinstance(k, str) for k in data):
            raise SpecError(cls.__name__, [((), _instance_message(cls))])
        return cls(**data)

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON object of the fields, leaving out those that are None."""
        return self._dump(keep_sources=True)

    def _dump(self, *, keep_sources: bool) -> dict[str, Any]:
        dumped = {}
        for name in self._fields:
            value = getattr(self, name)
            if value is not None and (keep_sources or name != "source"):
                dumped[name] = _plain(value, keep_sources)
        return dumped

    def replace(self, **changes: Any) -> Self:
        return type(self)(**{name: getattr(self, name) for name in self._fields} | changes)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Frozen)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._fields)
        return f"{type(self).__name__}({shown})"

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def __reduce__(self) -> tuple[Any, ...]:
        return (_remake, (type(self), dict(zip(self._fields, self._values(), strict=True))))


def _remake(cls: type[Frozen], values: dict[str, Any]) -> Frozen:
    return cls(**values)


_JSON_LEAVES = frozenset({str, int, bool, type(None)})


def _plain(value: Any, keep_sources: bool) -> Any:
    """`value` as JSON data, as pydantic's JSON mode wrote the spec's `Any` fields (which
    content hashes depend on): spec objects as objects, tuples as lists, containers
    copied, NaN and infinities as null, other values (dates, sets, enums, ...) as
    pydantic_core converts them (loaded only then)."""
    if isinstance(value, Frozen):
        return value._dump(keep_sources=keep_sources)
    kind = type(value)
    if kind is dict and all(type(key) is str for key in value):
        return {k: _plain(v, keep_sources) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [_plain(v, keep_sources) for v in value]
    if kind in _JSON_LEAVES:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    from pydantic_core import to_jsonable_python

    return _plain(to_jsonable_python(value), keep_sources)


def _instance_message(cls: type) -> str:
    return f"Input should be a valid dictionary or instance of {cls.__name__}"


# -- checks: each returns the value to keep, or raises SpecError -----------------------


def text(pattern: str | None = None) -> Check:
    matches = re.compile(pattern).fullmatch if pattern is not None else None

    def check(value: Any) -> str:
        if not isinstance(value, str):
            raise _invalid("Input should be a valid string")
        if matches is not None and matches(value) is None:
            raise _invalid(f"String should match pattern '{pattern}'")
        return value

    return check


def integer(ge: int | None = None) -> Check:
    def check(value: Any) -> int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid("Input should be a valid integer")
        _bounds(value, ge, None)
        return value

    return check


def number(ge: float | None = None, gt: float | None = None) -> Check:
    def check(value: Any) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise _invalid("Input should be a valid number")
        _bounds(value, ge, gt)
        return float(value)

    return check


def _bounds(value: float, ge: float | None, gt: float | None) -> None:
    if ge is not None and not value >= ge:
        raise _invalid(f"Input should be greater than or equal to {ge}")
    if gt is not None and not value > gt:
        raise _invalid(f"Input should be greater than {gt}")


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _invalid("Input should be a valid boolean")
    return value


def one_of(*choices: str) -> Check:
    quoted = [f"'{c}'" for c in choices]
    message = "Input should be " + " or ".join(filter(None, [", ".join(quoted[:-1]), quoted[-1]]))

    def check(value: Any) -> str:
        if value not in choices or not isinstance(value, str):
            raise _invalid(message)
        return value

    return check


def anything(value: Any) -> Any:
    return value


def optional(inner: Check) -> Check:
    def check(value: Any) -> Any:
        return None if value is None else inner(value)

    return check


def tuple_of(item: Check) -> Check:
    def check(value: Any) -> tuple[Any, ...]:
        if not isinstance(value, list | tuple):
            raise _invalid("Input should be a valid tuple")
        return tuple(_each(item, enumerate(value)).values())

    return check


def dict_of(item: Check) -> Check:
    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _invalid("Input should be a valid dictionary")
        for key in value:
            if not isinstance(key, str):
                raise _invalid("Input should be a valid string", key, "[key]")
        return _each(item, value.items())

    return check


def _each(check: Check, items: Iterable[tuple[Any, Any]]) -> dict[Any, Any]:
    """{key: checked value}; one SpecError naming every bad item (key first)."""
    errors: list[tuple[Loc, str]] = []
    checked = {key: _apply(check, value, key, errors) for key, value in items}
    if errors:
        raise SpecError("value", errors)
    return checked


def nested(cls: type[Frozen]) -> Check:
    def check(value: Any) -> Frozen:
        if isinstance(value, cls):
            return value
        if not isinstance(value, dict):
            raise _invalid(_instance_message(cls))
        return cls.from_json(value)

    return check

"""Frozen records: plain classes of named fields that behave as frozen dataclasses do.

    class Point(FrozenRecord):
        __match_args__ = ("x", "y")
        __slots__ = __match_args__
        x: int
        y: int

        def __init__(self, x: int, y: int = 0) -> None:
            self._set(x=x, y=y)

The fields are `__match_args__`, in order, and are the `__slots__` (with ``"__dict__"``
for a `functools.cached_property`; not a literal, which ruff would sort). A record is
compared and hashed by their values (equal only to a record of the same class), printed
as ``Point(x=1, y=0)``, copied and pickled (made again from its fields by position),
and refuses assignment (AttributeError). Not `dataclasses`: it imports inspect (with
ast, dis and tokenize), ~8 ms of every `headwater run`, and making each class takes
another fraction of one.

`NamedTuple` is `typing.NamedTuple` to mypy, and at run time makes the same classes
(`collections.namedtuple` with the class's methods, docstring and defaults) without
compiling each field's annotation, which typing does (~25 us a field).
"""

from __future__ import annotations

import collections
from typing import TYPE_CHECKING, Any, NoReturn


class FrozenRecord:
    """The base of a frozen record (see the module docstring)."""

    __match_args__: tuple[str, ...] = ()
    __slots__ = ("__weakref__",)  # weak references work, as on a dataclass

    def _set(self, **values: Any) -> None:
        """Set the fields (in `__init__`, where assignment is otherwise refused)."""
        for name, value in values.items():
            object.__setattr__(self, name, value)

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__match_args__)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        assert isinstance(other, FrozenRecord)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.__match_args__)
        return f"{type(self).__qualname__}({shown})"

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError(f"cannot assign to field {name!r}")

    def __delattr__(self, name: str) -> NoReturn:
        raise AttributeError(f"cannot delete field {name!r}")

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), self._values())


class _NamedTupleMeta(type):
    # typing.NamedTupleMeta (Python 3.11), less its check of each annotation: under
    # `from __future__ import annotations` each is a string that typing compiles into a
    # ForwardRef (~25 us a field, ~150 fields on the path of `headwater run`). The
    # annotations are kept as written: typing.get_type_hints reads them as typing's.
    def __new__(mcs, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> Any:
        if not bases:
            return super().__new__(mcs, name, bases, ns)
        annotations = ns.get("__annotations__", {})
        defaults = [ns[field] for field in annotations if field in ns]
        if any(field not in ns for field in list(annotations)[len(annotations) - len(defaults) :]):
            raise TypeError(f"{name}: a field without a default follows one with a default")
        make: Any = collections.namedtuple  # mypy: typed as typing.NamedTuple where used
        made = make(name, list(annotations), defaults=defaults, module=ns["__module__"])
        made.__annotations__ = made.__new__.__annotations__ = dict(annotations)
        for key, value in ns.items():
            if key in _PROHIBITED:
                raise AttributeError("Cannot overwrite NamedTuple attribute " + key)
            if key not in ("__module__", "__name__", "__annotations__") and key not in annotations:
                setattr(made, key, value)
        return made


_PROHIBITED = frozenset(
    {
        "__new__",
        "__init__",
        "__slots__",
        "__getnewargs__",
        "_fields",
        "_field_defaults",
        "_make",
        "_replace",
        "_asdict",
        "_source",
    }
)

if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:

    class NamedTuple(metaclass=_NamedTupleMeta):
        """`typing.NamedTuple` for mypy; at run time the same classes, made faster."""

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
"""

from __future__ import annotations

from typing import Any, NoReturn


class FrozenRecord:
    """The base of a frozen record (see the module docstring)."""

    __match_args__: tuple[str, ...] = ()
    __slots__ = ()

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

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
compiling each field's annotation, which typing does (~25 us a field), nor the source
of each class's `__new__`, which `collections.namedtuple` does (see `_namedtuple`).
"""

from __future__ import annotations

import collections
import sys
from collections import _tuplegetter  # type: ignore[attr-defined]
from keyword import iskeyword
from types import CodeType, FunctionType
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
        made = _namedtuple(name, tuple(annotations), defaults, ns["__module__"])
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

_tuple_new = tuple.__new__

# `__new__` of a named tuple of n fields: each class's is one of these codes under its
# field names (see `_namedtuple`). Written out up to 12 fields, where collections
# evaluates a string for each class (~0.28 M instructions; a one-task `headwater run`
# makes 28 named tuples of 11 sizes). A larger size is evaluated once: by `eval`, not by
# `compile`, whose first call makes the ast module's ~120 node classes (~8 M instructions).
_NEW_CODES: dict[int, CodeType] = {
    new.__code__.co_argcount - 1: new.__code__
    for new in (
        lambda _cls, a: _tuple_new(_cls, (a,)),
        lambda _cls, a, b: _tuple_new(_cls, (a, b)),
        lambda _cls, a, b, c: _tuple_new(_cls, (a, b, c)),
        lambda _cls, a, b, c, d: _tuple_new(_cls, (a, b, c, d)),
        lambda _cls, a, b, c, d, e: _tuple_new(_cls, (a, b, c, d, e)),
        lambda _cls, a, b, c, d, e, f: _tuple_new(_cls, (a, b, c, d, e, f)),
        lambda _cls, a, b, c, d, e, f, g: _tuple_new(_cls, (a, b, c, d, e, f, g)),
        lambda _cls, a, b, c, d, e, f, g, h: _tuple_new(_cls, (a, b, c, d, e, f, g, h)),
        lambda _cls, a, b, c, d, e, f, g, h, i: _tuple_new(_cls, (a, b, c, d, e, f, g, h, i)),
        lambda _cls, a, b, c, d, e, f, g, h, i, j: _tuple_new(_cls, (a, b, c, d, e, f, g, h, i, j)),
        lambda _cls, a, b, c, d, e, f, g, h, i, j, k: _tuple_new(
            _cls, (a, b, c, d, e, f, g, h, i, j, k)
        ),
        lambda _cls, a, b, c, d, e, f, g, h, i, j, k, m: _tuple_new(
            _cls, (a, b, c, d, e, f, g, h, i, j, k, m)
        ),
    )
}


def _new_code(fields: tuple[str, ...]) -> CodeType:
    code = _NEW_CODES.get(len(fields))
    if code is None:
        args = ", ".join(f"_{i}" for i in range(len(fields))) + ("," if len(fields) == 1 else "")
        lambda_ = eval(f"lambda _cls, {args}: _tuple_new(_cls, ({args}))", {"__builtins__": {}})
        code = _NEW_CODES[len(fields)] = lambda_.__code__
    # Named as collections names its own: a traceback through it shows no line of ours.
    return code.replace(co_varnames=("_cls", *fields), co_filename="<string>", co_firstlineno=1)


def _namedtuple(name: str, fields: tuple[str, ...], defaults: list[Any], module: str) -> Any:
    """`collections.namedtuple(name, fields, defaults=defaults, module=module)` (Python
    3.11's, the same class to the last attribute) less the compiling of the source of its
    `__new__` (~20 us a class, ~25 classes on the path of `headwater run`): the code of an
    earlier one with as many fields is reused under this class's field names. Later
    Pythons change the class (3.13 adds `__replace__`): there, collections makes it."""
    if sys.version_info >= (3, 13):
        return collections.namedtuple(name, fields, defaults=defaults, module=module)
    for word in (name, *fields):
        if not word.isidentifier():
            raise ValueError(f"Type names and field names must be valid identifiers: {word!r}")
        if iskeyword(word):
            raise ValueError(f"Type names and field names cannot be a keyword: {word!r}")
    seen: set[str] = set()
    for field in fields:
        if field.startswith("_"):
            raise ValueError(f"Field names cannot start with an underscore: {field!r}")
        if field in seen:
            raise ValueError(f"Encountered duplicate field name: {field!r}")
        seen.add(field)
    name = sys.intern(name)
    fields = tuple(map(sys.intern, fields))
    num_fields = len(fields)
    arg_list = ", ".join(fields) + ("," if num_fields == 1 else "")
    repr_fmt = "(" + ", ".join(f"{field}=%r" for field in fields) + ")"
    tuple_new = tuple.__new__
    namespace = {"_tuple_new": tuple_new, "__builtins__": {}, "__name__": f"namedtuple_{name}"}
    __new__ = FunctionType(_new_code(fields), namespace, "__new__")
    __new__.__doc__ = f"Create new instance of {name}({arg_list})"
    __new__.__defaults__ = tuple(defaults)

    def _make(cls: type, iterable: Any) -> Any:
        result: tuple[Any, ...] = tuple_new(cls, iterable)
        if len(result) != num_fields:
            raise TypeError(f"Expected {num_fields} arguments, got {len(result)}")
        return result

    _make.__doc__ = f"Make a new {name} object from a sequence or iterable"

    def _replace(self: Any, /, **kwds: Any) -> Any:
        result = self._make(map(kwds.pop, fields, self))
        if kwds:
            raise ValueError(f"Got unexpected field names: {list(kwds)!r}")
        return result

    _replace.__doc__ = f"Return a new {name} object replacing specified fields with new values"

    def __repr__(self: tuple[Any, ...]) -> str:
        "Return a nicely formatted representation string"
        return self.__class__.__name__ + repr_fmt % self

    def _asdict(self: Any) -> dict[str, Any]:
        "Return a new dict which maps field names to their values."
        return dict(zip(self._fields, self, strict=False))

    def __getnewargs__(self: Any) -> tuple[Any, ...]:
        "Return self as a plain tuple.  Used by copy and pickle."
        return tuple(self)

    for method in (__new__, _make, _replace, __repr__, _asdict, __getnewargs__):
        method.__qualname__ = f"{name}.{method.__name__}"
    class_namespace: dict[str, Any] = {
        "__doc__": f"{name}({arg_list})",
        "__slots__": (),
        "_fields": fields,
        "_field_defaults": dict(zip(fields[num_fields - len(defaults) :], defaults, strict=True)),
        "__new__": __new__,
        "_make": classmethod(_make),
        "_replace": _replace,
        "__repr__": __repr__,
        "_asdict": _asdict,
        "__getnewargs__": __getnewargs__,
        "__match_args__": fields,
    }
    for index, field in enumerate(fields):
        class_namespace[field] = _tuplegetter(index, sys.intern(f"Alias for field number {index}"))
    made = type(name, (tuple,), class_namespace)
    made.__module__ = module
    return made


if TYPE_CHECKING:
    from typing import NamedTuple as NamedTuple
else:

    class NamedTuple(metaclass=_NamedTupleMeta):
        """`typing.NamedTuple` for mypy; at run time the same classes, made faster."""

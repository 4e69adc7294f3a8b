"""What `inspect` says about a task's or pipeline's function: its parameters, docstring
and source file; and what `typing.get_type_hints` says of its hints.

Importing inspect loads ast, dis and tokenize (~10 ms of every `headwater run`). For a
plain function (a ``def``, with no attributes set on it, such as ``__wrapped__`` or
``__signature__``) the answers come straight from its code object and attributes, as
inspect computes them; anything else (a callable object, a partial, a wrapped function)
is asked of inspect itself, so the answers are always inspect's.
"""

from __future__ import annotations

import builtins
import operator
import os
import sys
import types
import typing
from collections.abc import Callable
from functools import reduce
from typing import Any

# co_flags bits (the values of inspect.CO_VARARGS and inspect.CO_VARKEYWORDS).
_VARARGS = 0x04
_VARKEYWORDS = 0x08


def _plain(fn: object) -> bool:
    return type(fn) is types.FunctionType and not fn.__dict__


def parameters(fn: Callable[..., Any]) -> list[tuple[str, bool, Any]]:
    """``(name, variadic, default)`` of each parameter, in the order of
    ``inspect.signature(fn)``: variadic for ``*args`` and ``**kwargs``, default ``...``
    where there is none."""
    code = getattr(fn, "__code__", None) if _plain(fn) else None
    if (
        code is None
        or code.co_flags & (_VARARGS | _VARKEYWORDS)
        or len(getattr(fn, "__defaults__", None) or ()) > code.co_argcount  # set by hand
    ):
        import inspect

        variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
        return [
            (p.name, p.kind in variadic, ... if p.default is p.empty else p.default)
            for p in inspect.signature(fn).parameters.values()
        ]
    names = code.co_varnames
    positional = names[: code.co_argcount]
    keyword_only = names[code.co_argcount : code.co_argcount + code.co_kwonlyargcount]
    defaults = fn.__defaults__ or ()
    kwdefaults = fn.__kwdefaults__ or {}
    first_default = len(positional) - len(defaults)
    found = [
        (name, False, defaults[i - first_default] if i >= first_default else ...)
        for i, name in enumerate(positional)
    ]
    found.extend((name, False, kwdefaults.get(name, ...)) for name in keyword_only)
    return found


def type_hints(fn: Callable[..., Any]) -> dict[str, Any]:
    """``typing.get_type_hints(fn, include_extras=True)``.

    Under ``from __future__ import annotations`` each hint is a string, which typing
    compiles and evaluates (~25 us each, a dozen on the path of `headwater run`). The
    hints of a plain function that name classes (``int``), builtin generics of them
    (``list[str]``) or unions of those (``str | None``) are looked up here instead, as
    evaluating them would find them; any other is typing's to read."""
    found = _simple_hints(fn) if _plain(fn) else None
    if found is None:
        return typing.get_type_hints(fn, include_extras=True)
    return found


_GENERICS = (list, dict, set, frozenset, tuple, type)
_UNKNOWN = object()


def _simple_hints(fn: Any) -> dict[str, Any] | None:
    namespace: dict[str, Any] = fn.__globals__
    names = namespace.get("__builtins__", builtins)  # as eval, which adds them if missing
    if isinstance(names, types.ModuleType):
        names = names.__dict__
    if not isinstance(names, dict):
        return None
    hints = {}
    for name, hint in fn.__annotations__.items():
        if isinstance(hint, str):
            hint = _evaluate(hint, namespace, names)
        elif hint is not None and (type(hint) is not type or hint is typing.Generic):
            return None
        if hint is _UNKNOWN:
            return None
        hints[name] = types.NoneType if hint is None else hint
    return hints


def _evaluate(text: str, namespace: dict[str, Any], names: dict[str, Any]) -> Any:
    """What `eval(text, namespace)` gives if `text` is a class's name or a builtin generic
    of such (the name looked up as eval would: the namespace, then the builtins), if it is
    a hint typing accepts unchanged; otherwise _UNKNOWN."""
    parts = _split(text, " | ")
    if len(parts) > 1:
        items = [_evaluate(part, namespace, names) for part in parts]
        return _UNKNOWN if _UNKNOWN in items else reduce(operator.or_, items)
    if text == "None":
        return None
    origin, bracket, args = text.partition("[")
    value = namespace.get(origin, names.get(origin, _UNKNOWN))
    if not origin.isidentifier() or type(value) is not type or value is typing.Generic:
        return _UNKNOWN
    if not bracket:
        return value
    if value not in _GENERICS or not args.endswith("]"):
        return _UNKNOWN
    items = [_evaluate(arg, namespace, names) for arg in _split(args[:-1], ", ")]
    if _UNKNOWN in items:
        return _UNKNOWN
    return value[tuple(items) if len(items) > 1 else items[0]]


def _split(text: str, separator: str) -> list[str]:
    """`text.split(separator)`, less the separators inside brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i + len(separator)
    parts.append(text[start:])
    return parts


def docstring(fn: object) -> str | None:
    """``inspect.getdoc(fn)``."""
    if _plain(fn) and sys.version_info < (3, 13):  # 3.13's cleandoc strips differently
        doc = fn.__doc__
        if isinstance(doc, str):
            return _cleandoc(doc)
        if doc is None and "." not in fn.__qualname__:  # type: ignore[attr-defined]
            return None  # not a method: inspect looks for no inherited docstring
    import inspect

    return inspect.getdoc(fn)


def _cleandoc(doc: str) -> str:
    # inspect.cleandoc of Python 3.11 and 3.12.
    lines = doc.expandtabs().split("\n")
    margin = sys.maxsize
    for line in lines[1:]:
        content = len(line.lstrip())
        if content:
            margin = min(margin, len(line) - content)
    if lines:
        lines[0] = lines[0].lstrip()
    if margin < sys.maxsize:
        for i in range(1, len(lines)):
            lines[i] = lines[i][margin:]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def source_file(fn: object) -> str | None:
    """``inspect.getsourcefile(fn)``."""
    if _plain(fn):
        filename: str = fn.__code__.co_filename  # type: ignore[attr-defined]
        if filename.endswith(".py") and os.path.exists(filename):
            return filename
    import inspect

    return inspect.getsourcefile(fn)  # type: ignore[arg-type]

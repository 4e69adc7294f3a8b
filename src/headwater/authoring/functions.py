"""What `inspect` says about a task's or pipeline's function: its parameters, docstring
and source file.

Importing inspect loads ast, dis and tokenize (~10 ms of every `headwater run`). For a
plain function (a ``def``, with no attributes set on it, such as ``__wrapped__`` or
``__signature__``) the answers come straight from its code object and attributes, as
inspect computes them; anything else (a callable object, a partial, a wrapped function)
is asked of inspect itself, so the answers are always inspect's.
"""

from __future__ import annotations

import os
import sys
import types
from collections.abc import Callable
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

"""Bindings: how a node's argument refers to a pipeline parameter or an upstream output.

In a spec, an argument value is JSON. Inside it, these objects are bindings, found at
any depth (so ``{"inputs": [{"$output": "a"}, {"$output": "b"}]}`` fans in two nodes):

- ``{"$param": "day"}``: the run argument (pipeline parameter) ``day``.
- ``{"$output": "extract"}``: the output of node ``extract``; with
  ``"path": ["rows", 0]`` a part of it.
- ``{"$literal": X}``: X as it is, even if it looks like a binding.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

from headwater.domain.records import NamedTuple

PARAM, OUTPUT, LITERAL = "$param", "$output", "$literal"


class ParamRef(NamedTuple):
    """A binding to the run's parameter `name`."""

    name: str


class OutputRef(NamedTuple):
    """A binding to a node's output, or to the item at `path` inside it."""

    node: str
    path: tuple[str | int, ...] = ()


def parse_binding(value: Any) -> ParamRef | OutputRef | None:
    """The binding `value` is, or None if it is not a binding object."""
    if not isinstance(value, dict):
        return None
    if PARAM in value and len(value) == 1 and isinstance(value[PARAM], str):
        return ParamRef(value[PARAM])
    if OUTPUT in value and set(value) <= {OUTPUT, "path"} and isinstance(value[OUTPUT], str):
        return OutputRef(value[OUTPUT], tuple(value.get("path") or ()))
    return None


def param(name: str) -> dict[str, Any]:
    return {PARAM: name}


def output(node: str, path: tuple[str | int, ...] = ()) -> dict[str, Any]:
    return {OUTPUT: node, "path": list(path)} if path else {OUTPUT: node}


def iter_bindings(value: Any, where: str = "") -> Iterator[tuple[str, ParamRef | OutputRef]]:
    """Every binding inside `value`, with its JSON path relative to `where`."""
    ref = parse_binding(value)
    if ref is not None:
        yield where, ref
    elif isinstance(value, dict):
        if LITERAL in value and len(value) == 1:
            return
        for key, item in value.items():
            yield from iter_bindings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from iter_bindings(item, f"{where}[{index}]")


def resolve(value: Any, lookup: Callable[[ParamRef | OutputRef], Any]) -> Any:
    """`value` with every binding replaced by `lookup(binding)` and literals unwrapped."""
    ref = parse_binding(value)
    if ref is not None:
        return lookup(ref)
    if isinstance(value, dict):
        if LITERAL in value and len(value) == 1:
            return value[LITERAL]
        return {key: resolve(item, lookup) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve(item, lookup) for item in value]
    return value


def select(value: Any, path: tuple[str | int, ...]) -> Any:
    """The part of `value` at `path`; KeyError/IndexError/TypeError if it is not there."""
    for step in path:
        value = value[step]
    return value


def output_nodes(args: Mapping[str, Any]) -> set[str]:
    """The nodes whose outputs `args` binds."""
    return {ref.node for _, ref in iter_bindings(dict(args)) if isinstance(ref, OutputRef)}

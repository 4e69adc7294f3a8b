"""Building a pipeline's DAG by calling its function once with placeholders.

Inside a `@pipeline` body, calling a task adds a node and returns an `OutputRef` to its
output; the pipeline's parameters are `ParamRef`s. Nothing runs.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from headwater.authoring.schema import to_json
from headwater.domain import bindings
from headwater.domain.problems import Problem
from headwater.domain.spec import NodeSpec, Source, TaskDef
from headwater.errors import DefinitionError

if TYPE_CHECKING:
    from headwater.authoring.tasks import Task


class _Placeholder:
    """Something whose value is known only when the pipeline runs."""

    def __bool__(self) -> bool:
        raise DefinitionError(
            [
                Problem(
                    str(caller_source()),
                    "",
                    f"{self!r} has no value while the pipeline "
                    "is being built; branch inside a task instead",
                )
            ]
        )

    def __iter__(self) -> Iterator[Any]:
        raise DefinitionError(
            [
                Problem(
                    str(caller_source()),
                    "",
                    f"cannot iterate over {self!r} while the "
                    "pipeline is being built; use task.map(...) to fan out",
                )
            ]
        )


class OutputRef(_Placeholder):
    """The output of a node (or a part of it, with `ref["key"]`)."""

    def __init__(self, node: str, path: tuple[str | int, ...] = (), mapped: bool = False):
        self.node, self.path, self.mapped = node, path, mapped

    def __getitem__(self, key: str | int) -> OutputRef:
        return OutputRef(self.node, (*self.path, key), self.mapped)

    def __repr__(self) -> str:
        return f"<output of {self.node}{''.join(f'[{p!r}]' for p in self.path)}>"


class ParamRef(_Placeholder):
    """A pipeline parameter."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return f"<parameter {self.name}>"


class Builder:
    """Collects the nodes of one pipeline while its function runs."""

    __slots__ = ("_ids", "_suffixes", "nodes", "pipeline", "problems", "tasks")

    def __init__(self, pipeline: str) -> None:
        self.pipeline = pipeline
        self.nodes: list[NodeSpec] = []
        self.tasks: dict[str, TaskDef] = {}
        self.problems: list[Problem] = []
        self._ids: set[str] = set()
        # The last suffix given to each wanted id: ids are only added, so the first free
        # one is never below it (a 1,000-step chain of one task was quadratic without it).
        self._suffixes: dict[str, int] = {}

    def new_id(self, wanted: str, explicit: bool, source: Source) -> str:
        if explicit:
            if wanted in self._ids:
                self.problems.append(Problem(str(source), "id", f"duplicate node id {wanted!r}"))
            self._ids.add(wanted)
            return wanted
        n = self._suffixes.get(wanted, 1)
        node_id = wanted if n == 1 else f"{wanted}_{n}"
        while node_id in self._ids:
            n += 1
            node_id = f"{wanted}_{n}"
        self._suffixes[wanted] = n
        self._ids.add(node_id)
        return node_id

    def add(
        self,
        task: Task[Any, Any],
        args: dict[str, Any],
        *,
        node_id: str | None,
        after: tuple[Any, ...],
        map_param: str | None,
        source: Source,
    ) -> OutputRef:
        definition = task.definition
        known = self.tasks.get(definition.name)
        if known is not None and known is not definition and known != definition:
            self.problems.append(Problem(str(source), "", f"two tasks are named {task.name!r}"))
        self.tasks[definition.name] = definition
        nid = self.new_id(node_id or task.short_name, node_id is not None, source)
        node_after = []
        for item in after:
            if isinstance(item, OutputRef):
                node_after.append(item.node)
            else:
                self.problems.append(
                    Problem(str(source), "after", f"after= takes task outputs, not {item!r}")
                )
        spec_args = {
            name: to_spec_value(value, source, f"nodes.{nid}.args.{name}", self.problems)
            for name, value in args.items()
        }
        self.nodes.append(
            NodeSpec(
                id=nid,
                task=definition.name,
                args=spec_args,
                after=tuple(node_after),
                map=map_param,
                source=source,
            )
        )
        return OutputRef(nid, mapped=map_param is not None)


_builder: ContextVar[Builder | None] = ContextVar("headwater_builder", default=None)


def current_builder() -> Builder | None:
    return _builder.get()


@contextmanager
def building(builder: Builder) -> Iterator[Builder]:
    token = _builder.set(builder)
    try:
        yield builder
    finally:
        _builder.reset(token)


def to_spec_value(value: Any, source: Source, path: str, problems: list[Problem]) -> Any:
    """A Python argument as spec JSON: refs become bindings, the rest plain JSON."""
    if isinstance(value, OutputRef):
        return bindings.output(value.node, value.path)
    if isinstance(value, ParamRef):
        return bindings.param(value.name)
    if isinstance(value, dict):
        converted = {
            str(k): to_spec_value(v, source, f"{path}.{k}", problems) for k, v in value.items()
        }
        if any(str(k).startswith("$") for k in value):
            return {bindings.LITERAL: converted}
        return converted
    if isinstance(value, list | tuple):
        return [to_spec_value(v, source, f"{path}[{i}]", problems) for i, v in enumerate(value)]
    try:
        return to_json(value)
    except Exception:  # noqa: BLE001 - pydantic raises several types for unserialisable values
        problems.append(Problem(str(source), path, f"{type(value).__name__} is not JSON"))
        return None


_HERE = os.path.dirname(__file__)


def caller_source(depth: int = 2) -> Source:
    """The first frame outside headwater's own authoring code, as a Source."""
    frame = sys._getframe(depth)
    while frame.f_back is not None and os.path.dirname(frame.f_code.co_filename) == _HERE:
        frame = frame.f_back
    return Source(file=relative_path(frame.f_code.co_filename), line=frame.f_lineno)


_RELATIVE: dict[tuple[str, str], str] = {}  # (path, working directory) -> relative_path


def relative_path(path: str) -> str:
    """`path` relative to the working directory, if inside it (each node of a pipeline
    asks for its file's: kept per file and directory, ~10 µs each)."""
    key = (path, os.getcwd())
    found = _RELATIVE.get(key)
    if found is None:
        try:
            rel = os.path.relpath(path)
        except ValueError:
            rel = path
        found = _RELATIVE[key] = path if rel.startswith("..") else rel
    return found

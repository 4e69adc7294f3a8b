"""PipelineSpec: the one JSON document a pipeline compiles to, from Python or a recipe.

The server never needs user code (DESIGN rule 8): a spec carries every task's
settings and parameter schema. `content_hash` identifies a pipeline *version*; source
locations are left out of it so moving code around does not make a new version.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

from headwater.domain.canonical import sha256_hex
from headwater.domain.frozen import (
    Frozen,
    SpecError,
    anything,
    boolean,
    dict_of,
    field,
    integer,
    nested,
    number,
    one_of,
    optional,
    text,
    tuple_of,
)

__all__ = ["Backoff", "NodeSpec", "PipelineSpec", "Source", "SpecError", "TaskDef"]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_NAME_RE = re.compile(NAME_PATTERN)


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))


_json_object = dict_of(anything)
_maybe_text = optional(text())


class Source(Frozen):
    """Where a definition came from: a file and a line (Python) or a JSON path (recipe)."""

    file: str = field(text())
    line: int | None = field(optional(integer()), default=None)
    path: str | None = field(_maybe_text, default=None)

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        return f"{self.file}: {self.path}" if self.path else self.file


class Backoff(Frozen):
    """Delay before retry n (1-based): min(max_seconds, base_seconds * factor**(n-1)),
    then with jitter a uniformly random part of it (full jitter keeps retry storms apart)."""

    base_seconds: float = field(number(ge=0), default=1.0)
    factor: float = field(number(ge=1), default=2.0)
    max_seconds: float = field(number(ge=0), default=300.0)
    jitter: bool = field(boolean, default=True)


class TaskDef(Frozen):
    """A task's definition as the server sees it: no code, only settings and schemas."""

    name: str = field(text(NAME_PATTERN))
    kind: Literal["python", "command"] = field(one_of("python", "command"), default="python")
    version: str = field(text(), default="1")
    description: str = field(text(), default="")
    params_schema: dict[str, Any] = field(_json_object, default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = field(optional(_json_object), default=None)
    retries: int = field(integer(ge=0), default=0)
    backoff: Backoff = field(nested(Backoff), default=Backoff())
    timeout_seconds: float | None = field(optional(number(gt=0)), default=None)
    cache: bool = field(boolean, default=True)
    queue: str = field(text(), default="default")
    tags: tuple[str, ...] = field(tuple_of(text()), default=())
    executor: str | None = field(optional(one_of("inline", "process")), default=None)
    callable: str | None = field(_maybe_text, default=None)  # "module:qualname" (python)
    command: str | None = field(_maybe_text, default=None)  # shell command (command tasks)
    env: dict[str, str] = field(dict_of(text()), default_factory=dict)
    source: Source | None = field(optional(nested(Source)), default=None)

    @property
    def param_names(self) -> list[str]:
        return list(self.params_schema.get("properties", {}))

    @property
    def required_params(self) -> list[str]:
        return list(self.params_schema.get("required", []))

    def accepts_any_param(self) -> bool:
        return self.params_schema.get("additionalProperties", False) is not False


class NodeSpec(Frozen):
    """One node of the DAG: a task called with arguments (literals and bindings)."""

    id: str = field(text(NODE_ID_PATTERN))
    task: str = field(text())
    args: dict[str, Any] = field(_json_object, default_factory=dict)
    after: tuple[str, ...] = field(tuple_of(text()), default=())
    # The parameter fanned out over, one task run per element.
    map: str | None = field(_maybe_text, default=None)
    source: Source | None = field(optional(nested(Source)), default=None)


class PipelineSpec(Frozen):
    """A pipeline: its parameters' schema, its tasks, its nodes and its output."""

    __slots__ = ("__dict__",)  # for the cached properties

    name: str = field(text(NAME_PATTERN))
    description: str = field(text(), default="")
    params: dict[str, Any] = field(
        _json_object, default_factory=lambda: {"type": "object", "properties": {}}
    )
    tasks: dict[str, TaskDef] = field(dict_of(nested(TaskDef)), default_factory=dict)
    nodes: tuple[NodeSpec, ...] = field(tuple_of(nested(NodeSpec)), default=())
    output: Any = field(anything, default=None)
    source: Source | None = field(optional(nested(Source)), default=None)

    @cached_property
    def content_hash(self) -> str:
        """The version's identity: a hash of the spec without its source locations."""
        return sha256_hex(self._dump(keep_sources=False))

    @cached_property
    def node_map(self) -> dict[str, NodeSpec]:
        return {node.id: node for node in self.nodes}

    def task_of(self, node_id: str) -> TaskDef:
        return self.tasks[self.node_map[node_id].task]

    @property
    def param_names(self) -> list[str]:
        return list(self.params.get("properties", {}))

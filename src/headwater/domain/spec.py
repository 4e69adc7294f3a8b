"""PipelineSpec: the one JSON document a pipeline compiles to, from Python or a recipe.

The server never needs user code (DESIGN rule 8): a spec carries every task's
settings and parameter schema. `content_hash` identifies a pipeline *version*; source
locations are left out of it so moving code around does not make a new version.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from headwater.domain.canonical import sha256_hex

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.\-]*$"
NODE_ID_PATTERN = r"^[A-Za-z_][A-Za-z0-9_\-]*$"
_NAME_RE = re.compile(NAME_PATTERN)


def is_valid_name(name: str) -> bool:
    return bool(_NAME_RE.match(name))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Model):
    """Where a definition came from: a file and a line (Python) or a JSON path (recipe)."""

    file: str
    line: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        if self.line is not None:
            return f"{self.file}:{self.line}"
        return f"{self.file}: {self.path}" if self.path else self.file


class Backoff(_Model):
    """Delay before retry n (1-based): min(max_seconds, base_seconds * factor**(n-1)),
    then with jitter a uniformly random part of it (full jitter keeps retry storms apart)."""

    base_seconds: float = Field(1.0, ge=0)
    factor: float = Field(2.0, ge=1)
    max_seconds: float = Field(300.0, ge=0)
    jitter: bool = True


class TaskDef(_Model):
    """A task's definition as the server sees it: no code, only settings and schemas."""

    name: str = Field(pattern=NAME_PATTERN)
    kind: Literal["python", "command"] = "python"
    version: str = "1"
    description: str = ""
    params_schema: dict[str, Any] = Field(default_factory=lambda: {"type": "object"})
    output_schema: dict[str, Any] | None = None
    retries: int = Field(0, ge=0)
    backoff: Backoff = Backoff()
    timeout_seconds: float | None = Field(None, gt=0)
    cache: bool = True
    queue: str = "default"
    tags: tuple[str, ...] = ()
    executor: Literal["inline", "process"] | None = None
    callable: str | None = None  # "module:qualname" for python tasks
    command: str | None = None  # shell command for command tasks
    env: dict[str, str] = Field(default_factory=dict)
    source: Source | None = None

    @property
    def param_names(self) -> list[str]:
        return list(self.params_schema.get("properties", {}))

    @property
    def required_params(self) -> list[str]:
        return list(self.params_schema.get("required", []))

    def accepts_any_param(self) -> bool:
        return self.params_schema.get("additionalProperties", False) is not False


class NodeSpec(_Model):
    """One node of the DAG: a task called with arguments (literals and bindings)."""

    id: str = Field(pattern=NODE_ID_PATTERN)
    task: str
    args: dict[str, Any] = Field(default_factory=dict)
    after: tuple[str, ...] = ()
    map: str | None = None  # the parameter fanned out over, one task run per element
    source: Source | None = None


class PipelineSpec(_Model):
    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    params: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    tasks: dict[str, TaskDef] = Field(default_factory=dict)
    nodes: tuple[NodeSpec, ...] = ()
    output: Any = None
    source: Source | None = None

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)

    @cached_property
    def content_hash(self) -> str:
        hashed = self.model_dump(
            mode="json",
            exclude_none=True,
            exclude={
                "source": True,
                "tasks": {"__all__": {"source"}},
                "nodes": {"__all__": {"source"}},
            },
        )
        return sha256_hex(hashed)

    @cached_property
    def node_map(self) -> dict[str, NodeSpec]:
        return {node.id: node for node in self.nodes}

    def task_of(self, node_id: str) -> TaskDef:
        return self.tasks[self.node_map[node_id].task]

    @property
    def param_names(self) -> list[str]:
        return list(self.params.get("properties", {}))

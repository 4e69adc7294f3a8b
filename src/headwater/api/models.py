"""The API's request and response bodies (they are its OpenAPI schema)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import Path
from pydantic import BaseModel, Field

# The largest integer either database stores; a larger id names nothing (and must not
# reach the driver, which would fail on it).
MAX_ID = 2**63 - 1
IdPath = Annotated[int, Path(ge=1, le=MAX_ID)]
# Priorities are stored as 32-bit integers.
MAX_PRIORITY = 2**31 - 1


class PipelineSummary(BaseModel):
    name: str
    description: str
    version: str = Field(description="content hash of the current spec")
    version_id: int
    params_schema: dict[str, Any]
    origin: str
    enabled: bool


class NodeOut(BaseModel):
    id: str
    task: str
    upstream: list[str]
    map: str | None
    kind: str
    retries: int
    timeout_seconds: float | None
    queue: str
    cache: bool
    source: str | None


class PipelineDetail(PipelineSummary):
    nodes: list[NodeOut]
    edges: list[tuple[str, str]]


class RunCreate(BaseModel):
    args: dict[str, Any] = Field(default_factory=dict, description="run arguments")
    task_args: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="arguments for single nodes, by node id"
    )
    priority: int = Field(0, ge=-MAX_PRIORITY, le=MAX_PRIORITY, description="higher runs first")
    tags: list[str] = Field(default_factory=list)
    force: bool = Field(False, description="run every task, ignoring cached outputs")
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=200,
        pattern=r"^[^\x00]*$",  # stored in a text column, which cannot hold NUL
        description="the same key with the same request starts one run only; with a "
        "different request it is a 409 conflict (also: Idempotency-Key header)",
    )
    start_at: datetime | None = Field(None, description="no task starts before (ISO 8601)")
    start_in: str | float | None = Field(
        None, description='start after this long: seconds or a duration like "2h30m"'
    )
    expires_at: datetime | None = Field(
        None, description="if no task has started by then, the run ends as expired"
    )


class RunAccepted(BaseModel):
    id: str
    pipeline: str
    state: str
    status_url: str
    web_url: str


class RunSummary(BaseModel):
    id: str
    pipeline: str
    state: str
    tags: list[str]
    priority: int
    created_at: float
    ended_at: float | None
    status_url: str


class RunPage(BaseModel):
    runs: list[RunSummary]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class AttemptOut(BaseModel):
    id: int
    number: int
    state: str
    worker_id: str | None
    started_at: float
    ended_at: float | None
    error_type: str | None
    error_message: str | None
    traceback: str | None


class TaskRunOut(BaseModel):
    id: int
    node: str
    map_index: int
    label: str
    task: str
    state: str
    attempts: list[AttemptOut]
    cache_key: str | None
    args: Any = None
    output: Any = None
    error: str | None
    started_at: float | None
    ended_at: float | None


class RunOut(BaseModel):
    id: str
    pipeline: str
    version_id: int
    state: str
    args: dict[str, Any]
    task_args: dict[str, dict[str, Any]]
    priority: int
    tags: list[str]
    created_at: float
    ended_at: float | None
    resumed_from: str | None
    start_at: float | None = None
    expires_at: float | None = None
    schedule: str | None = Field(None, description="the schedule whose tick created it")
    backfill_id: str | None = None
    logical_date: float | None = Field(None, description="the start of the interval it covers")
    task_runs: list[TaskRunOut]


class Health(BaseModel):
    status: str


class VersionOut(BaseModel):
    version_id: int
    version: str = Field(description="content hash of the spec")
    created_at: float
    current: bool


class VersionDetail(VersionOut):
    pipeline: str
    spec: dict[str, Any] = Field(description="the compiled pipeline spec")
    nodes: list[NodeOut]
    edges: list[tuple[str, str]]


class PipelineVersions(BaseModel):
    name: str
    origin: str
    enabled: bool
    deleted: bool
    versions: list[VersionOut] = Field(description="newest first")


class TaskOut(BaseModel):
    name: str
    version: str
    kind: str
    description: str
    params_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    retries: int
    timeout_seconds: float | None
    cache: bool
    queue: str
    tags: list[str]
    source: str | None
    location: str = Field(description="the code location (project) that registered it")
    registered_at: float

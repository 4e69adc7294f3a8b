"""A small Python client for headwater's HTTP API (sync, on httpx).

    from headwater.client import Client

    with Client("http://127.0.0.1:8080") as hw:          # or HEADWATER_SERVER
        started = hw.trigger("word_count", {"top": 3}, tags=["adhoc"])
        run = hw.wait(started.id, timeout=600)
        for attempt in run.attempts():
            print(hw.logs(attempt.id, tail=20))

Every error answer of the server (problem+json) is raised as an `ApiError` that carries
the problem; its subclasses are also the matching headwater errors, so `except
headwater.NotFound` works on a client call as it does in-process:

    HeadwaterError
    └── ApiError                  any problem+json answer (.status, .type, .detail, .problem)
        ├── ApiNotFound           404, also NotFound
        ├── ApiConflict           409, also Conflict
        │   └── ApiPipelineDisabled   also PipelineDisabled
        ├── ApiValidationError    422 for arguments or the request, also ValidationError
        ├── ApiDefinitionError    422 for a recipe, also DefinitionError
        └── ServerUnavailable     the server cannot be reached, or answers 502/503/504
    RunTimeout                    `wait` gave up (the run goes on)
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

import httpx

from headwater.domain.problems import Problem
from headwater.errors import (
    Conflict,
    DefinitionError,
    HeadwaterError,
    NotFound,
    PipelineDisabled,
    ValidationError,
)

SERVER_ENV = "HEADWATER_SERVER"
API = "/api/v1"
TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.5
RUN_OVER = frozenset({"succeeded", "failed", "cancelled"})
T = TypeVar("T")


class ApiError(HeadwaterError):
    """The server answered with a problem."""

    def __init__(self, problem: Mapping[str, Any], status: int | None = None) -> None:
        self.problem = dict(problem)
        self.status: int | None = status if status is not None else problem.get("status")
        self.type = str(problem.get("type", "about:blank"))
        self.title = str(problem.get("title", ""))
        self.detail = str(problem.get("detail") or self.title or "the server refused")
        self.errors: list[dict[str, str]] = list(problem.get("errors") or [])
        # The errors' paths and messages, as ValidationError and DefinitionError carry them.
        self.problems = [Problem("", e.get("path", ""), e.get("message", "")) for e in self.errors]
        lines = [self.detail] + [f"  {p}" for p in self.problems]
        HeadwaterError.__init__(self, "\n".join(lines))


class ApiNotFound(ApiError, NotFound):
    """404: no such pipeline, run, attempt or artifact."""


class ApiConflict(ApiError, Conflict):
    """409: the request conflicts with what the server stores."""


class ApiPipelineDisabled(ApiConflict, PipelineDisabled):
    """409: the pipeline is disabled."""


class ApiValidationError(ApiError, ValidationError):
    """422: invalid arguments or request."""


class ApiDefinitionError(ApiError, DefinitionError):
    """422: an invalid recipe."""


class ServerUnavailable(ApiError):
    """The server cannot be reached, or says it cannot serve now."""


class RunTimeout(HeadwaterError):
    """The run did not end in time; it goes on."""


def _error_for(status: int, problem: Mapping[str, Any]) -> ApiError:
    slug = str(problem.get("type", "")).rsplit(":", 1)[-1]
    kind: type[ApiError] = ApiError
    if status == 404:
        kind = ApiNotFound
    elif status == 409:
        kind = ApiPipelineDisabled if slug == "pipeline-disabled" else ApiConflict
    elif status == 422:
        kind = ApiDefinitionError if slug == "invalid-definition" else ApiValidationError
    elif status in (502, 503, 504):
        kind = ServerUnavailable
    return kind(problem, status)


def _pick(cls: type[T], data: Mapping[str, Any], **extra: Any) -> T:
    """A dataclass from the fields of `data` it knows (newer servers may send more)."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names}, **extra)


@dataclass(frozen=True)
class Pipeline:
    name: str
    description: str
    version: str
    version_id: int
    params_schema: dict[str, Any]
    origin: str
    enabled: bool


@dataclass(frozen=True)
class Accepted:
    """A run the server accepted (202): poll `status_url`, or `Client.wait(id)`."""

    id: str
    pipeline: str
    state: str
    status_url: str
    web_url: str


@dataclass(frozen=True)
class Attempt:
    id: int
    number: int
    state: str
    worker_id: str | None
    started_at: float
    ended_at: float | None
    error_type: str | None = None
    error_message: str | None = None
    traceback: str | None = None


@dataclass(frozen=True)
class TaskRun:
    id: int
    node: str
    map_index: int
    label: str
    task: str
    state: str
    attempts: list[Attempt]
    output: Any = None
    error: str | None = None
    started_at: float | None = None
    ended_at: float | None = None


@dataclass(frozen=True)
class Run:
    id: str
    pipeline: str
    version_id: int
    state: str
    args: dict[str, Any]
    priority: int
    tags: list[str]
    created_at: float
    ended_at: float | None
    task_runs: list[TaskRun] = field(default_factory=list)
    # The run as the server sent it, with fields this client does not model.
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def done(self) -> bool:
        return self.state in RUN_OVER

    @property
    def ok(self) -> bool:
        return self.state == "succeeded"

    def attempts(self, node: str | None = None) -> list[Attempt]:
        """Attempts in the order they started, of every task run or of one node."""
        found = [a for tr in self.task_runs if node is None or tr.node == node for a in tr.attempts]
        return sorted(found, key=lambda a: (a.started_at, a.id))


def _run(data: Mapping[str, Any]) -> Run:
    task_runs = [
        _pick(TaskRun, {**tr, "attempts": [_pick(Attempt, a) for a in tr.get("attempts", [])]})
        for tr in data.get("task_runs", [])
    ]
    return _pick(Run, {**data, "task_runs": task_runs, "raw": dict(data)})


class Client:
    """The HTTP API of one headwater server. Use it as a context manager, or `close()`."""

    def __init__(
        self,
        base_url: str | None = None,
        *,
        timeout: float = TIMEOUT_SECONDS,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        url = base_url or os.environ.get(SERVER_ENV)
        if not url:
            raise HeadwaterError(f"no server given: pass a URL or set {SERVER_ENV}")
        self.base_url = url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers=dict(headers or {}),
            transport=transport,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    # --- pipelines -----------------------------------------------------------------

    def list_pipelines(self) -> list[Pipeline]:
        return [_pick(Pipeline, p) for p in self._json("GET", f"{API}/pipelines")]

    def get_pipeline(self, name: str) -> dict[str, Any]:
        """The pipeline with its graph (nodes, edges), as the server sends it."""
        found: dict[str, Any] = self._json("GET", f"{API}/pipelines/{name}")
        return found

    def create_pipeline(self, recipe: Mapping[str, Any] | str) -> Pipeline:
        """Define a pipeline from a recipe (a mapping, or YAML/JSON text)."""
        return _pick(Pipeline, self._json("POST", f"{API}/pipelines", **_recipe_body(recipe)))

    def replace_pipeline(self, name: str, recipe: Mapping[str, Any] | str) -> Pipeline:
        """Store the recipe as the pipeline's new version (or create it)."""
        body = _recipe_body(recipe)
        return _pick(Pipeline, self._json("PUT", f"{API}/pipelines/{name}", **body))

    def delete_pipeline(self, name: str) -> None:
        self._request("DELETE", f"{API}/pipelines/{name}")

    def disable_pipeline(self, name: str) -> Pipeline:
        return _pick(Pipeline, self._json("POST", f"{API}/pipelines/{name}/disable"))

    def enable_pipeline(self, name: str) -> Pipeline:
        return _pick(Pipeline, self._json("POST", f"{API}/pipelines/{name}/enable"))

    # --- runs ----------------------------------------------------------------------

    def trigger(
        self,
        pipeline: str,
        args: Mapping[str, Any] | None = None,
        *,
        task_args: Mapping[str, Mapping[str, Any]] | None = None,
        idempotency_key: str | None = None,
        priority: int = 0,
        tags: Sequence[str] = (),
        force: bool = False,
    ) -> Accepted:
        """Start a run. With an `idempotency_key`, calling again (say after a timeout)
        gives back the same run instead of starting another."""
        body: dict[str, Any] = {
            "args": dict(args or {}),
            "task_args": {node: dict(a) for node, a in (task_args or {}).items()},
            "priority": priority,
            "tags": list(tags),
            "force": force,
        }
        if idempotency_key is not None:
            body["idempotency_key"] = idempotency_key
        return _pick(Accepted, self._json("POST", f"{API}/pipelines/{pipeline}/runs", json=body))

    def get_run(self, run_id: str) -> Run:
        return _run(self._json("GET", f"{API}/runs/{run_id}"))

    def wait(
        self, run_id: str, *, timeout: float | None = None, poll_seconds: float = POLL_SECONDS
    ) -> Run:
        """Poll the run until it has ended; RunTimeout after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            run = self.get_run(run_id)
            if run.done:
                return run
            if deadline is not None and time.monotonic() >= deadline:
                raise RunTimeout(f"run {run_id} is still {run.state} after {timeout:g} s")
            time.sleep(poll_seconds)

    def cancel(self, run_id: str) -> bool:
        """Cancel a run; False if it had already ended."""
        return bool(self._json("POST", f"{API}/runs/{run_id}/cancel")["cancelled"])

    # --- logs ----------------------------------------------------------------------

    def logs(self, attempt_id: int, stream: str = "combined", *, tail: int | None = None) -> str:
        """An attempt's log so far (stdout, stderr or combined); `tail`: the last lines."""
        params = {} if tail is None else {"tail": tail}
        path = f"{API}/attempts/{attempt_id}/logs/{stream}"
        return self._request("GET", path, params=params).text

    def follow_logs(
        self, attempt_id: int, stream: str = "combined", *, tail: int | None = None
    ) -> Iterator[str]:
        """The log as it is written, chunk by chunk, until the attempt has ended."""
        params: dict[str, Any] = {"follow": "true"}
        if tail is not None:
            params["tail"] = tail
        path = f"{API}/attempts/{attempt_id}/logs/{stream}"
        headers = {"Accept": "text/event-stream"}
        # No read timeout: a quiet task may print nothing for a long time.
        timeout = httpx.Timeout(self._http.timeout.connect, read=None)
        try:
            with self._http.stream(
                "GET", path, params=params, headers=headers, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    response.read()
                    raise _error_of(response)
                yield from _log_events(response.iter_lines())
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None

    # --- plumbing ------------------------------------------------------------------

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self._request(method, path, **kwargs).json()

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise _unreachable(self.base_url, exc) from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response


def _recipe_body(recipe: Mapping[str, Any] | str) -> dict[str, Any]:
    if isinstance(recipe, str):
        return {"content": recipe, "headers": {"Content-Type": "application/yaml"}}
    return {"json": dict(recipe)}


def _error_of(response: httpx.Response) -> ApiError:
    try:
        problem = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        problem = None
    if not isinstance(problem, dict):
        text = response.text.strip()[:200] or response.reason_phrase
        problem = {
            "title": response.reason_phrase,
            "detail": f"HTTP {response.status_code}: {text}",
        }
    return _error_for(response.status_code, problem)


def _unreachable(base_url: str, exc: httpx.TransportError) -> ServerUnavailable:
    reason = str(exc) or type(exc).__name__
    return ServerUnavailable(
        {"title": "Server unavailable", "detail": f"cannot reach {base_url}: {reason}"}
    )


def _log_events(lines: Iterator[str]) -> Iterator[str]:
    """The data of `log` events until the `end` event (Server-Sent Events framing)."""
    event = "message"
    data: list[str] = []
    for line in lines:
        if line == "":
            if event == "end":
                return
            if event == "log" and data:
                yield "\n".join(data)
            event, data = "message", []
        elif line.startswith(":"):
            continue  # a keep-alive comment
        else:
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "event":
                event = value
            elif name == "data":
                data.append(value)


__all__ = [
    "Accepted",
    "ApiConflict",
    "ApiDefinitionError",
    "ApiError",
    "ApiNotFound",
    "ApiPipelineDisabled",
    "ApiValidationError",
    "Attempt",
    "Client",
    "Pipeline",
    "Run",
    "RunTimeout",
    "ServerUnavailable",
    "TaskRun",
]

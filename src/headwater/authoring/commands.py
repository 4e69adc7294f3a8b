"""Command tasks: a shell command as a task.

The merged arguments reach the command as environment variables (``HW_ARG_<NAME>``,
upper-cased; strings as they are, other values as JSON) and as one JSON object on
stdin. Exit code 0 is success. stdout and stderr go to the attempt log. A stdout line
``::output:: <json>`` sets the task's output (the last such line wins).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from functools import cached_property
from typing import Any

from headwater.authoring import tracing
from headwater.authoring.registry import current_registry
from headwater.authoring.tasks import Task, _backoff
from headwater.domain.spec import Backoff, Source, TaskDef

OUTPUT_MARKER = "::output::"
ENV_PREFIX = "HW_ARG_"


class CommandTask(Task[..., Any]):
    kind = "command"

    def __init__(
        self,
        name: str,
        command: str,
        *,
        env: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        source: Source | None = None,
        **options: Any,
    ) -> None:
        super().__init__(None, name=name, source=source, **options)
        self.command = command
        self.env = dict(env or {})
        self.params = dict(params) if params is not None else None

    @cached_property
    def definition(self) -> TaskDef:
        return TaskDef(
            name=self.name,
            kind="command",
            version=self.version,
            description=self.description,
            params_schema=command_params_schema(self.params),
            retries=self.retries,
            backoff=self.backoff,
            timeout_seconds=self.timeout,
            cache=self.cache,
            queue=self.queue,
            tags=self.tags,
            executor=self.executor,
            command=self.command,
            env=self.env,
            source=self.source,
        )

    def call_directly(self, *args: Any, **kwargs: Any) -> Any:
        arguments = dict(zip(self.definition.param_names, args, strict=False)) | kwargs
        return run_command_sync(self.definition, arguments)

    def invoke(self, arguments: Mapping[str, Any]) -> Any:
        return run_command_sync(self.definition, arguments)


def command_params_schema(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """A JSON Schema object for a command's parameters.

    `params` maps each name to its JSON Schema (``{"path": {"type": "string"}}``); a
    parameter with no ``default`` is required. None accepts any arguments.
    """
    if params is None:
        return {"type": "object", "properties": {}, "additionalProperties": True}
    required = [name for name, prop in params.items() if "default" not in prop]
    schema: dict[str, Any] = {
        "type": "object",
        "properties": dict(params),
        "additionalProperties": False,
    }
    if required:
        schema["required"] = required
    return schema


def command(
    name: str,
    command: str,
    *,
    env: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    version: str | int = "1",
    retries: int = 0,
    backoff: Backoff | Mapping[str, Any] | None = None,
    timeout: float | None = None,
    cache: bool = True,
    queue: str = "default",
    tags: Iterable[str] = (),
    description: str = "",
) -> CommandTask:
    """Register a shell command as a task named `name`; see the module docstring."""
    # What inspect.currentframe() does, without importing inspect (~10 ms of start-up).
    frame = sys._getframe(0) if hasattr(sys, "_getframe") else None
    caller = frame.f_back if frame is not None else None
    source = (
        Source(file=tracing.relative_path(caller.f_code.co_filename), line=caller.f_lineno)
        if caller is not None
        else None
    )
    made = CommandTask(
        name,
        command,
        env=env,
        params=params,
        source=source,
        version=str(version),
        retries=retries,
        backoff=_backoff(backoff),
        timeout=timeout,
        cache=cache,
        queue=queue,
        tags=tags,
        description=description,
    )
    current_registry().add_task(made)
    return made


class CommandFailed(Exception):
    """The command exited with a non-zero code."""


def command_env(
    task: TaskDef, arguments: Mapping[str, Any], output_dir: str | None
) -> dict[str, str]:
    env = dict(os.environ)
    env.update(task.env)
    for name, value in arguments.items():
        env[ENV_PREFIX + name.upper()] = value if isinstance(value, str) else json.dumps(value)
    if output_dir is not None:
        env["HW_OUTPUT_DIR"] = str(output_dir)
    return env


def run_command_sync(task: TaskDef, arguments: Mapping[str, Any]) -> Any:
    """Run a command task directly (outside a pipeline): its output, or CommandFailed."""
    import subprocess

    assert task.command is not None
    proc = subprocess.run(
        ["/bin/sh", "-c", task.command],
        input=json.dumps(dict(arguments)),
        capture_output=True,
        text=True,
        env=command_env(task, arguments, None),
        check=False,
    )
    sys.stderr.write(proc.stderr)
    output = None
    for line in proc.stdout.splitlines(keepends=True):
        if line.startswith(OUTPUT_MARKER):
            output = json.loads(line[len(OUTPUT_MARKER) :])
        else:
            sys.stdout.write(line)
    if proc.returncode != 0:
        raise CommandFailed(f"{task.name}: command exited with code {proc.returncode}")
    return output

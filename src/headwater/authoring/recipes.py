"""Recipes: a pipeline as a JSON or YAML document that references registered tasks.

    name: daily_sales
    params:                       # asked once, used by several tasks
      day: {type: string, format: date}
    tasks:
      - id: extract
        task: examples.etl.extract_csv          # a registered task, by name
        args: {path: {$param: day}}
      - id: report
        command: "wc -l < $HW_ARG_PATH"        # or an inline shell command
        params: {path: {type: string}}
        args: {path: {$output: extract, path: [path]}}
    output: {$output: report}
    schedules:                    # optional: run it by time
      - cron: "30 2 * * *"
        timezone: Europe/London
        args: {day: "{{ ds }}"}

Both forms compile to the same `PipelineSpec`. `recipe_json_schema()` is published as
docs/recipe.schema.json; every problem names the file and the JSON path.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from headwater.authoring.commands import command_params_schema
from headwater.authoring.registry import current_registry
from headwater.authoring.schedules import build_schedule
from headwater.authoring.tasks import Task
from headwater.authoring.tracing import relative_path
from headwater.domain.problems import Problem
from headwater.domain.schedule import ScheduleSpec
from headwater.domain.spec import (
    NAME_PATTERN,
    NODE_ID_PATTERN,
    NodeSpec,
    PipelineSpec,
    Source,
    TaskDef,
)
from headwater.domain.spec import Backoff as SpecBackoff
from headwater.domain.triggers import FileSensorDef, HookDef, SensorDef
from headwater.domain.validate import validate_spec
from headwater.errors import DefinitionError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Backoff(_Strict):
    # The spec's Backoff as a pydantic model, for the recipe's JSON Schema: the same
    # fields and checks (a test keeps them so).
    __doc__ = SpecBackoff.__doc__

    base_seconds: float = Field(1.0, ge=0)
    factor: float = Field(2.0, ge=1)
    max_seconds: float = Field(300.0, ge=0)
    jitter: bool = True


class RecipeTask(_Strict):
    """One node: `task` names a registered task, or `command` defines a shell command."""

    id: str = Field(pattern=NODE_ID_PATTERN)
    task: str | None = None
    command: str | None = None
    args: dict[str, Any] = Field(default_factory=dict)
    after: list[str] = Field(default_factory=list)
    map: str | None = Field(None, description="parameter to fan out over, one run per element")
    # For inline commands only:
    env: dict[str, str] = Field(default_factory=dict)
    params: dict[str, dict[str, Any]] | None = Field(
        None, description="JSON Schema of each parameter of an inline command"
    )
    version: str = "1"
    retries: int = Field(0, ge=0)
    backoff: Backoff | None = None
    timeout: float | None = Field(None, gt=0)
    cache: bool = True
    queue: str = "default"
    tags: list[str] = Field(default_factory=list)
    description: str = ""


class RecipeSchedule(_Strict):
    """Run the recipe's pipeline by time (see docs/schedules.md)."""

    name: str | None = Field(None, description="default: the recipe's name")
    cron: str | None = Field(None, description="5 or 6 fields (seconds first), or @daily etc.")
    every: str | float | None = Field(None, description="an interval: seconds or 15m, 1h")
    timezone: str = "UTC"
    args: dict[str, Any] = Field(
        default_factory=dict, description='run arguments; strings may hold "{{ ds }}"'
    )
    catchup: Literal["skip", "latest", "all"] = "skip"
    max_catchup: int = Field(100, ge=1)
    description: str = ""


class Recipe(_Strict):
    """A pipeline written as data."""

    name: str = Field(pattern=NAME_PATTERN)
    description: str = ""
    params: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="JSON Schema of each pipeline parameter"
    )
    tasks: list[RecipeTask]
    output: Any = None
    sensors: list[dict[str, Any]] = Field(
        default_factory=list,
        description="File sensors and webhook triggers starting this pipeline: "
        "{kind: file, name, url, arg, args, interval_seconds, min_age_seconds} or "
        "{kind: hook, name, secret_env, args, mapping} (see docs/sensors.md)",
    )
    schedules: list[RecipeSchedule] = Field(default_factory=list)


def recipe_json_schema() -> dict[str, Any]:
    schema = Recipe.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "headwater recipe"
    return schema


class RecipePipeline:
    """A pipeline loaded from a recipe file; compiled (and validated) on first use."""

    def __init__(self, name: str, data: dict[str, Any], file: str) -> None:
        self.name = name
        self.data = data
        self.file = file
        self.source = Source(file=file, path="$")
        self.description = str(data.get("description", ""))

    @cached_property
    def spec(self) -> PipelineSpec:
        return compile_recipe(self.data, self.file)

    def __repr__(self) -> str:
        return f"<recipe pipeline {self.name} from {self.file}>"


def load_recipe(path: str | Path, *, register: bool = True) -> RecipePipeline:
    """Read a recipe file; compile errors surface when `.spec` is first used."""
    file = relative_path(str(path))
    data = parse_recipe_file(Path(path))
    name = data.get("name")
    if not isinstance(name, str):
        raise DefinitionError([Problem(file, "$.name", "a recipe needs a string 'name'")])
    made = RecipePipeline(name, data, file)
    if register:
        sensors = recipe_sensors(data, file, name)
        current_registry().add_pipeline(made)
        for definition, secret in sensors:
            current_registry().add_sensor(definition, secret=secret)
        for spec in recipe_schedules(name, data, file):
            current_registry().add_schedule(spec, file)
    return made


def recipe_sensors(
    data: dict[str, Any], file: str, pipeline: str
) -> list[tuple[SensorDef, str | None]]:
    """The recipe's sensors with their secrets (hooks: read from `secret_env` now)."""
    items = data.get("sensors", [])
    if not isinstance(items, list):
        raise DefinitionError([Problem(file, "$.sensors", "sensors must be a list")])
    found: list[tuple[SensorDef, str | None]] = []
    problems: list[Problem] = []
    for index, item in enumerate(items):
        path = f"$.sensors[{index}]"
        if not isinstance(item, dict) or item.get("kind") not in ("file", "hook"):
            problems.append(Problem(file, path + ".kind", "kind must be 'file' or 'hook'"))
            continue
        values = dict(item)
        secret_env = values.pop("secret_env", None) if item["kind"] == "hook" else None
        model: Any = FileSensorDef if item["kind"] == "file" else HookDef
        try:
            definition = model(pipeline=pipeline, **values)
        except PydanticValidationError as exc:
            problems += [
                Problem(file, path + _json_path(err["loc"])[1:], err["msg"]) for err in exc.errors()
            ]
            continue
        secret = os.environ.get(secret_env) if isinstance(secret_env, str) else None
        found.append((definition, secret or None))
    if problems:
        raise DefinitionError(problems, f"recipe {file} has invalid sensors")
    return found


def recipe_schedules(name: str, data: dict[str, Any], file: str) -> list[ScheduleSpec]:
    """The schedules of a recipe; a DefinitionError names the file and JSON path."""
    items = data.get("schedules", [])
    if not isinstance(items, list):
        raise DefinitionError([Problem(file, "$.schedules", "must be a list")])
    specs = []
    for index, item in enumerate(items):
        path = f"$.schedules[{index}]"
        if not isinstance(item, dict):
            raise DefinitionError([Problem(file, path, "must be a mapping")])
        values = {k: v for k, v in item.items() if k != "every"}
        values |= {"name": item.get("name") or name, "pipeline": name}
        values["interval"] = item.get("every")
        specs.append(build_schedule(file, f"{path}.", **values))
    return specs


def parse_recipe_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    return parse_recipe_text(text, relative_path(str(path)), as_json=path.suffix == ".json")


def parse_recipe_text(text: str, file: str, *, as_json: bool) -> dict[str, Any]:
    """A recipe document (JSON, else YAML) as a mapping; `file` names it in problems."""
    try:
        if as_json:
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except json.JSONDecodeError as exc:
        raise DefinitionError(
            [Problem(f"{file}:{exc.lineno}", "$", f"not JSON: {exc.msg}")]
        ) from None
    except Exception as exc:  # noqa: BLE001 - yaml's errors carry their own position
        mark = getattr(exc, "problem_mark", None)
        where = f"{file}:{mark.line + 1}" if mark is not None else file
        raise DefinitionError([Problem(where, "$", f"not YAML: {exc}")]) from None
    if not isinstance(data, dict):
        raise DefinitionError([Problem(file, "$", "a recipe must be a mapping")])
    return data


TaskLookup = Callable[[str], TaskDef | None]


def compile_recipe(
    data: dict[str, Any], file: str, find_task_def: TaskLookup | None = None
) -> PipelineSpec:
    """The spec of a recipe; raises DefinitionError listing every problem at once.

    Tasks named by the recipe are looked up with `find_task_def`: by default in the
    current registry, else by import path; the server passes its task registry instead,
    so it never imports user code."""
    lookup = find_task_def or _find_code_task_def
    try:
        recipe = Recipe.model_validate(data)
    except PydanticValidationError as exc:
        raise DefinitionError(
            [Problem(file, _json_path(err["loc"]), err["msg"]) for err in exc.errors()],
            "the recipe is invalid",
        ) from None
    problems: list[Problem] = []
    tasks: dict[str, TaskDef] = {}
    nodes = []
    for index, item in enumerate(recipe.tasks):
        path = f"$.tasks[{index}]"
        definition = _task_def(recipe.name, item, file, path, problems, lookup)
        task_name = definition.name if definition else (item.task or f"{recipe.name}.{item.id}")
        if definition is not None:
            tasks[definition.name] = definition
        nodes.append(
            NodeSpec(
                id=item.id,
                task=task_name,
                args=item.args,
                after=tuple(item.after),
                map=item.map,
                source=Source(file=file, path=path),
            )
        )
    required = [n for n, p in recipe.params.items() if "default" not in p]
    params = {
        "type": "object",
        "properties": recipe.params,
        "additionalProperties": False,
        **({"required": required} if required else {}),
    }
    spec = PipelineSpec(
        name=recipe.name,
        description=recipe.description,
        params=params,
        tasks=tasks,
        nodes=tuple(nodes),
        output=recipe.output,
        source=Source(file=file, path="$"),
    )
    problems += validate_spec(spec)
    if problems:
        raise DefinitionError(
            sorted(set(problems), key=lambda p: p.path), f"recipe {file} is invalid"
        )
    return spec


def _task_def(
    pipeline: str,
    item: RecipeTask,
    file: str,
    path: str,
    problems: list[Problem],
    find_task_def: TaskLookup,
) -> TaskDef | None:
    if (item.task is None) == (item.command is None):
        problems.append(Problem(file, path, "give exactly one of 'task' and 'command'"))
        return None
    if item.command is not None:
        return TaskDef(
            name=f"{pipeline}.{item.id}",
            kind="command",
            version=item.version,
            description=item.description,
            params_schema=command_params_schema(item.params),
            retries=item.retries,
            backoff=SpecBackoff(**item.backoff.model_dump()) if item.backoff else SpecBackoff(),
            timeout_seconds=item.timeout,
            cache=item.cache,
            queue=item.queue,
            tags=tuple(item.tags),
            command=item.command,
            env=item.env,
            source=Source(file=file, path=path),
        )
    assert item.task is not None
    return find_task_def(item.task)  # an unknown task: validate_spec reports it


def _find_code_task_def(name: str) -> TaskDef | None:
    found = find_task(name)
    return found.definition if found is not None else None


def find_task(name: str) -> Task[Any, Any] | None:
    """A task by registered name, or by import path (``package.module.function``)."""
    registry = current_registry()
    if name in registry.tasks:
        return registry.tasks[name]
    module_name, _, attr = name.replace(":", ".").rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attr, None) if module_name else None
    except ImportError:
        return None
    return found if isinstance(found, Task) else None


def _json_path(loc: tuple[int | str, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc)

"""headwater: data pipelines and jobs.

    from headwater import task, pipeline, run

    @task
    def square(x: int) -> int:
        return x * x

    @pipeline
    def squares(n: int = 3):
        return square.map(numbers(n))

    result = run(squares, n=4)

The public API is this module's `__all__`; everything else is private.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from headwater.authoring.pipelines import pipeline
from headwater.authoring.tasks import task
from headwater.errors import (
    DefinitionError,
    HeadwaterError,
    NotFound,
    ValidationError,
)

if TYPE_CHECKING:
    from headwater.authoring.commands import command
    from headwater.authoring.schedules import schedule
    from headwater.authoring.triggers import file_sensor, hook, notification, sensor
    from headwater.context import TaskContext
    from headwater.domain.triggers import RunRequest, SensorResult
    from headwater.local import RunResult

# Imported on first use, so `headwater run` of a project without schedules or sensors
# does not load croniter and the trigger models, nor without command tasks their module
# (see `__getattr__`).
_LAZY = {
    "command": "headwater.authoring.commands",
    "schedule": "headwater.authoring.schedules",
    "file_sensor": "headwater.authoring.triggers",
    "hook": "headwater.authoring.triggers",
    "notification": "headwater.authoring.triggers",
    "sensor": "headwater.authoring.triggers",
    "RunRequest": "headwater.domain.triggers",
    "SensorResult": "headwater.domain.triggers",
    "RunResult": "headwater.local",
    "TaskContext": "headwater.context",
}

__version__ = "0.1.0"

__all__ = [
    "DefinitionError",
    "HeadwaterError",
    "NotFound",
    "RunRequest",
    "RunResult",
    "SensorResult",
    "TaskContext",
    "ValidationError",
    "__version__",
    "command",
    "current_context",
    "file_sensor",
    "hook",
    "load_recipe",
    "notification",
    "pipeline",
    "run",
    "schedule",
    "sensor",
    "task",
]


def run(pipeline: Any, /, **args: Any) -> RunResult:
    """Run a pipeline (object or name) to its end, in this process; see `headwater.local`."""
    from headwater.local import run as _run

    return _run(pipeline, **args)


def current_context() -> TaskContext:
    """The running task's context (output folder, attempt number); see `headwater.context`."""
    from headwater.context import current_context as _current

    return _current()


def load_recipe(path: Any) -> Any:
    """Load a recipe file (JSON or YAML) as a pipeline; see `headwater.authoring.recipes`."""
    from headwater.authoring.recipes import load_recipe as _load

    return _load(path)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'headwater' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})

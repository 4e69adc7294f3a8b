"""Finding a task's code: the loaded project's registry first, else import by name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from headwater.authoring.registry import Registry
from headwater.authoring.tasks import Task
from headwater.domain.spec import TaskDef
from headwater.errors import NotFound


class CodeLocation:
    """The Python code a worker can run: a registry (from a project or decorators)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def load_callable(self, task: TaskDef) -> Callable[[dict[str, Any]], Any]:
        found = self.registry.tasks.get(task.name)
        if found is None and task.callable:
            found = _import_task(task.callable)
        if found is None:
            raise NotFound(f"task {task.name!r} is not defined in this worker's code")
        return found.invoke


def _import_task(reference: str) -> Task[Any, Any] | None:
    module_name, _, qualname = reference.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError):
        return None
    return obj if isinstance(obj, Task) else None

"""The registry of tasks and pipelines that decorators and recipe loading fill."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol

from headwater.domain.problems import Problem
from headwater.domain.spec import PipelineSpec, Source, TaskDef
from headwater.errors import DuplicateNameError, NotFound

if TYPE_CHECKING:
    from headwater.authoring.tasks import Task
    from headwater.domain.schedule import ScheduleSpec
    from headwater.domain.triggers import NotificationDef, SensorDef, SensorResult


class PipelineLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def source(self) -> Source | None: ...
    @property
    def spec(self) -> PipelineSpec: ...


class Registry:
    """Tasks and pipelines by name. Two definitions with one name are an error naming
    both places; the same definition registered again (a module imported twice) is not.
    """

    def __init__(self) -> None:
        self.tasks: dict[str, Task[Any, Any]] = {}
        self.pipelines: dict[str, PipelineLike] = {}
        self.sensors: dict[str, SensorDef] = {}
        # Custom sensors' functions, and hooks' secrets (read from the environment).
        self.sensor_functions: dict[str, Callable[[str | None], SensorResult]] = {}
        self.secrets: dict[str, str | None] = {}
        self.notifications: dict[str, NotificationDef] = {}
        self.schedules: dict[str, ScheduleSpec] = {}
        self._schedule_places: dict[str, str] = {}

    def add_task(self, task: Task[Any, Any]) -> None:
        _check_unique("task", task.name, self.tasks.get(task.name), task)
        self.tasks[task.name] = task

    def add_pipeline(self, pipeline: PipelineLike) -> None:
        _check_unique("pipeline", pipeline.name, self.pipelines.get(pipeline.name), pipeline)
        self.pipelines[pipeline.name] = pipeline

    def add_sensor(
        self,
        sensor: SensorDef,
        *,
        function: Callable[[str | None], SensorResult] | None = None,
        secret: str | None = None,
    ) -> None:
        """Sensors and hooks share one namespace (both are listed under /sensors)."""
        _check_same_definition("sensor", sensor.name, self.sensors.get(sensor.name), sensor)
        self.sensors[sensor.name] = sensor
        if function is not None:
            self.sensor_functions[sensor.name] = function
        if secret is not None:
            self.secrets[sensor.name] = secret

    def add_notification(self, notification: NotificationDef) -> None:
        old = self.notifications.get(notification.name)
        _check_same_definition("notification", notification.name, old, notification)
        self.notifications[notification.name] = notification

    def add_schedule(self, spec: ScheduleSpec, where: str) -> None:
        old = self.schedules.get(spec.name)
        if old is not None and old != spec:
            places = [self._schedule_places[spec.name], where]
            raise DuplicateNameError(
                [Problem(place, "", f"schedule {spec.name!r} is defined here") for place in places],
                f"two schedules are named {spec.name!r}",
            )
        self.schedules[spec.name] = spec
        self._schedule_places[spec.name] = where

    def get_task(self, name: str) -> Task[Any, Any]:
        try:
            return self.tasks[name]
        except KeyError:
            raise NotFound(f"no task named {name!r}") from None

    def find_task_def(self, name: str) -> TaskDef | None:
        task = self.tasks.get(name)
        return task.definition if task is not None else None

    def get_pipeline(self, name: str) -> PipelineLike:
        try:
            return self.pipelines[name]
        except KeyError:
            known = ", ".join(sorted(self.pipelines)) or "none"
            raise NotFound(f"no pipeline named {name!r} (known: {known})") from None


class _Named(Protocol):
    @property
    def source(self) -> Source | None: ...


def _check_unique(kind: str, name: str, old: _Named | None, new: _Named) -> None:
    if old is None or old is new:
        return
    if old.source is not None and old.source == new.source:
        return  # the same definition, imported again
    places = [str(old.source or "?"), str(new.source or "?")]
    raise DuplicateNameError(
        [Problem(place, "", f"{kind} {name!r} is defined here") for place in places],
        f"two {kind}s are named {name!r}",
    )


def _check_same_definition(kind: str, name: str, old: object, new: object) -> None:
    # A module imported twice defines equal objects; two different ones are a mistake.
    if old is not None and old != new:
        raise DuplicateNameError(
            [Problem("", name, f"two different {kind}s are named {name!r}")],
            f"two {kind}s are named {name!r}",
        )


_current: ContextVar[Registry] = ContextVar("headwater_registry")
DEFAULT_REGISTRY = Registry()


def current_registry() -> Registry:
    return _current.get(DEFAULT_REGISTRY)


@contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make decorators and look-ups use `registry` (project loading, tests)."""
    token = _current.set(registry)
    try:
        yield registry
    finally:
        _current.reset(token)

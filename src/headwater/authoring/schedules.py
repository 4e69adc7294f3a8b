"""`@schedule`: run a pipeline by time, defined beside it in code.

    @schedule("30 2 * * *", timezone="Europe/London", args={"day": "{{ ds }}"})
    @pipeline
    def nightly(day: str): ...

The schedule is stored in the database when the code location registers (a worker or
`headwater serve` starting); the scheduler reads it from there and never imports code.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from pydantic import ValidationError as PydanticValidationError

from headwater.authoring.registry import PipelineLike, current_registry
from headwater.authoring.tracing import relative_path
from headwater.domain.problems import Problem
from headwater.domain.schedule import ScheduleSpec
from headwater.errors import DefinitionError

P = TypeVar("P", bound=PipelineLike)


def schedule(
    cron: str | None = None,
    *,
    every: str | float | None = None,
    name: str | None = None,
    timezone: str = "UTC",
    args: dict[str, Any] | None = None,
    catchup: str = "skip",
    max_catchup: int = 100,
    description: str = "",
) -> Callable[[P], P]:
    """Run the pipeline below on a cron expression (in `timezone`) or `every` interval
    (``"15m"``, seconds). `args` may hold ``{{ ds }}``-style templates; `catchup` says
    what to do with ticks missed while no scheduler ran: skip, latest or all.
    The schedule's name defaults to the pipeline's; give `name` for a second one."""
    frame = inspect.stack()[1]
    where = f"{relative_path(frame.filename)}:{frame.lineno}"

    def decorate(target: P) -> P:
        spec = build_schedule(
            where,
            name=name or target.name,
            pipeline=target.name,
            cron=cron,
            interval=every,
            timezone=timezone,
            args=args or {},
            catchup=catchup,
            max_catchup=max_catchup,
            description=description,
        )
        current_registry().add_schedule(spec, where)
        return target

    return decorate


def build_schedule(where: str, path: str = "", **values: Any) -> ScheduleSpec:
    """A checked ScheduleSpec; a DefinitionError naming `where` and the field if not."""
    try:
        spec = ScheduleSpec(**values)
    except PydanticValidationError as exc:
        raise DefinitionError(
            [
                Problem(where, path + ".".join(str(p) for p in err["loc"]), err["msg"])
                for err in exc.errors()
            ],
            f"schedule {values.get('name')} is invalid",
        ) from None
    problems = [Problem(where, path + p.path, p.message) for p in spec.problems()]
    if problems:
        raise DefinitionError(problems, f"schedule {spec.name} is invalid")
    return spec

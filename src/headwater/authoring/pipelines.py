"""`@pipeline`: a function whose body wires tasks into a static DAG.

The body runs once, when the spec is first needed, with placeholders for the
parameters; each task call adds a node. Nothing runs until a run is started.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from typing import Any, overload

from headwater.authoring import functions, schema, tracing
from headwater.authoring.registry import current_registry
from headwater.domain.dag import Graph, build_graph
from headwater.domain.spec import PipelineSpec, Source
from headwater.domain.validate import validate_spec
from headwater.errors import DefinitionError


class Pipeline:
    """A pipeline defined in Python. `spec` compiles it; `graph()` shows its DAG."""

    def __init__(
        self, fn: Callable[..., Any], *, name: str, description: str, source: Source
    ) -> None:
        self.fn = fn
        self.name = name
        self.description = description
        self.source = source
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn

    @cached_property
    def spec(self) -> PipelineSpec:
        """The validated spec; raises DefinitionError listing every problem."""
        params = schema.Params(self.fn, self.name, str(self.source)).json_schema()
        builder = tracing.Builder(self.name)
        placeholders = {name: tracing.ParamRef(name) for name in params["properties"]}
        with tracing.building(builder):
            returned = self.fn(**placeholders)
        output = tracing.to_spec_value(returned, self.source, "output", builder.problems)
        params.pop("title", None)
        spec = PipelineSpec(
            name=self.name,
            description=self.description,
            params=params,
            tasks=builder.tasks,
            nodes=tuple(builder.nodes),
            output=output,
            source=self.source,
        )
        # A value the body could not turn into JSON is reported once, not again as
        # the ill-typed placeholder that stands in for it.
        reported = {(p.location, p.path) for p in builder.problems}
        problems = builder.problems + [
            p for p in validate_spec(spec) if (p.location, p.path) not in reported
        ]
        if problems:
            raise DefinitionError(problems, f"pipeline {self.name} is invalid")
        return spec

    def graph(self) -> Graph:
        return build_graph(self.spec.nodes)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        raise TypeError(f"call headwater.run({self.name}, ...) to run pipeline {self.name}")

    def __repr__(self) -> str:
        return f"<pipeline {self.name}>"


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...
@overload
def pipeline(
    *, name: str | None = None, description: str | None = None, schedule: str | None = None
) -> Callable[[Callable[..., Any]], Pipeline]: ...


def pipeline(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    schedule: str | None = None,
) -> Any:
    """Make a function a pipeline, bare or with a `name=` (default: the function's name).

    Its parameters are the run's arguments (typed and defaulted like a task's); its
    return value, built from task outputs, is the run's output. `schedule="@daily"`
    (a cron expression, UTC) runs it with its defaults; `@schedule` says more.
    """

    def decorate(func: Callable[..., Any]) -> Pipeline:
        source = Source(
            file=tracing.relative_path(functions.source_file(func) or "?"),
            line=func.__code__.co_firstlineno,
        )
        made = Pipeline(
            func,
            name=name or func.__name__,
            description=description or functions.docstring(func) or "",
            source=source,
        )
        current_registry().add_pipeline(made)
        if schedule is not None:
            where = f"{source.file}:{source.line}"
            from headwater.authoring.schedules import build_schedule

            spec = build_schedule(where, name=made.name, pipeline=made.name, cron=schedule)
            current_registry().add_schedule(spec, where)
        return made

    return decorate(fn) if fn is not None else decorate

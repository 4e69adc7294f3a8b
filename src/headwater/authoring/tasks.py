"""`@task`: a plain function, or a shell command, with its settings and parameter schema.

Outside a pipeline, calling a task calls the function (so it is easy to unit-test).
Inside a `@pipeline` body, calling it adds a node and returns a reference to its output.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cached_property
from typing import Any, Generic, ParamSpec, TypeVar, overload

from headwater.authoring import functions, schema, tracing
from headwater.authoring.registry import current_registry
from headwater.domain.problems import Problem
from headwater.domain.spec import Backoff, Source, SpecError, TaskDef
from headwater.errors import DefinitionError

P = ParamSpec("P")
R = TypeVar("R")


class Task(Generic[P, R]):
    """A registered unit of work. See `task` for the options."""

    kind = "python"

    def __init__(
        self,
        fn: Callable[P, R] | None,
        *,
        name: str,
        source: Source | None,
        version: str = "1",
        retries: int = 0,
        backoff: Backoff | None = None,
        timeout: float | None = None,
        cache: bool = True,
        queue: str = "default",
        tags: Iterable[str] = (),
        executor: str | None = None,
        description: str | None = None,
    ) -> None:
        self.fn = fn
        self.name = name
        self.source = source
        self.version = str(version)
        self.retries = retries
        self.backoff = backoff or Backoff()
        self.timeout = timeout
        self.cache = cache
        self.queue = queue
        self.tags = tuple(tags)
        self.executor = executor
        doc = functions.docstring(fn) if fn is not None else None
        self.description = description if description is not None else (doc or "")
        if fn is not None:
            self.__doc__ = fn.__doc__
            self.__wrapped__ = fn

    @property
    def short_name(self) -> str:
        return self.name.rsplit(".", 1)[-1]

    @cached_property
    def param_types(self) -> schema.Params:
        assert self.fn is not None
        return schema.Params(self.fn, self.name, str(self.source))

    @cached_property
    def definition(self) -> TaskDef:
        assert self.fn is not None
        return TaskDef(
            name=self.name,
            kind="python",
            version=self.version,
            description=self.description,
            params_schema=self.param_types.json_schema(),
            output_schema=schema.output_schema(self.fn, self.param_types.hints),
            retries=self.retries,
            backoff=self.backoff,
            timeout_seconds=self.timeout,
            cache=self.cache,
            queue=self.queue,
            tags=self.tags,
            executor=self.executor,
            callable=f"{self.fn.__module__}:{self.fn.__qualname__}",
            source=self.source,
        )

    # -- calling ----------------------------------------------------------------------

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        builder = tracing.current_builder()
        if builder is None:
            return self.call_directly(*args, **kwargs)
        return self._add_node(builder, args, dict(kwargs), map_first=False)  # type: ignore[return-value]

    def call_directly(self, *args: Any, **kwargs: Any) -> R:
        assert self.fn is not None
        return self.fn(*args, **kwargs)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        """Fan out: one task run per element of the first argument (a list-valued
        upstream output or parameter); the other arguments go to every task run.
        A downstream task given the result receives the list of outputs, in order."""
        builder = tracing.current_builder()
        if builder is None:
            if args:
                return [self.call_directly(item, *args[1:], **kwargs) for item in args[0]]
            name, first = next(iter(kwargs.items()))
            rest = {k: v for k, v in kwargs.items() if k != name}
            return [self.call_directly(**rest, **{name: item}) for item in first]
        return self._add_node(builder, args, kwargs, map_first=True)

    def options(self, *, id: str | None = None, after: Iterable[Any] = ()) -> _Configured:
        """This task with a chosen node id and/or order-only dependencies."""
        return _Configured(self, id, tuple(after))

    def _add_node(
        self,
        builder: tracing.Builder,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        *,
        map_first: bool,
        node_id: str | None = None,
        after: tuple[Any, ...] = (),
    ) -> tracing.OutputRef:
        source = tracing.caller_source(3)
        if "after" in kwargs and "after" not in self.parameter_names:
            after = (*after, *_as_tuple(kwargs.pop("after")))
        bound = self._bind(args, kwargs, source, builder.problems)
        map_param = None
        if map_first:
            map_param = next(iter(bound), None)
            if map_param is None:
                builder.problems.append(Problem(str(source), "", "map() needs an argument"))
        return builder.add(
            self, bound, node_id=node_id, after=after, map_param=map_param, source=source
        )

    @property
    def parameter_names(self) -> list[str]:
        return self.definition.param_names

    def _bind(
        self, args: tuple[Any, ...], kwargs: dict[str, Any], source: Source, problems: list[Problem]
    ) -> dict[str, Any]:
        names = self.parameter_names
        if len(args) > len(names) and not self.definition.accepts_any_param():
            problems.append(
                Problem(
                    str(source), "", f"{self.name} takes {len(names)} arguments, {len(args)} given"
                )
            )
        bound = dict(zip(names, args, strict=False))
        for key in kwargs:
            if key in bound:
                problems.append(Problem(str(source), key, f"{key!r} given twice"))
        bound.update(kwargs)
        return bound

    # -- executing (used by executors) ------------------------------------------------

    def invoke(self, arguments: Mapping[str, Any]) -> Any:
        """Validate merged arguments, call the function, return its output as JSON."""
        fn: Callable[..., Any] | None = self.fn
        assert fn is not None
        return schema.to_json(fn(**self.param_types.validate(arguments)))

    def __repr__(self) -> str:
        return f"<{self.kind} task {self.name}>"


class _Configured:
    def __init__(self, task: Task[Any, Any], node_id: str | None, after: tuple[Any, ...]):
        self.task, self.node_id, self.after = task, node_id, after

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, map_first=False)

    def map(self, *args: Any, **kwargs: Any) -> Any:
        return self._call(args, kwargs, map_first=True)

    def _call(self, args: tuple[Any, ...], kwargs: dict[str, Any], map_first: bool) -> Any:
        builder = tracing.current_builder()
        if builder is None:
            if map_first:
                return self.task.map(*args, **kwargs)
            return self.task.call_directly(*args, **kwargs)
        return self.task._add_node(
            builder, args, kwargs, map_first=map_first, node_id=self.node_id, after=self.after
        )


def _as_tuple(value: Any) -> tuple[Any, ...]:
    return tuple(value) if isinstance(value, list | tuple) else (value,)


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...
@overload
def task(
    *,
    name: str | None = None,
    version: str | int = "1",
    retries: int = 0,
    backoff: Backoff | Mapping[str, Any] | None = None,
    timeout: float | None = None,
    cache: bool = True,
    queue: str = "default",
    tags: Iterable[str] = (),
    executor: str | None = None,
    description: str | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    name: str | None = None,
    version: str | int = "1",
    retries: int = 0,
    backoff: Backoff | Mapping[str, Any] | None = None,
    timeout: float | None = None,
    cache: bool = True,
    queue: str = "default",
    tags: Iterable[str] = (),
    executor: str | None = None,
    description: str | None = None,
) -> Any:
    """Make a plain function a task, bare (`@task`) or with options (`@task(retries=3)`).

    name: defaults to ``module.function``; version: bump it when the function's
    behaviour changes, so cached outputs of the old version are not reused;
    retries and backoff (``{"base_seconds", "factor", "max_seconds", "jitter"}``);
    timeout in seconds; cache: reuse a complete output with the same cache key;
    queue and tags: where and how workers pick it up; executor: ``inline`` or
    ``process``; description: defaults to the docstring.
    """

    def decorate(func: Callable[P, R]) -> Task[P, R]:
        source = Source(
            file=tracing.relative_path(functions.source_file(func) or "?"),
            line=func.__code__.co_firstlineno,
        )
        made = Task(
            func,
            # A task defined inside a function is named as if it were at module level.
            name=name or f"{func.__module__}.{func.__qualname__.replace('.<locals>', '')}",
            source=source,
            version=str(version),
            retries=retries,
            backoff=_backoff(backoff),
            timeout=timeout,
            cache=cache,
            queue=queue,
            tags=tags,
            executor=executor,
            description=description,
        )
        try:
            made.definition  # noqa: B018 - derive it now: a bad option fails at import
        except SpecError as exc:
            raise DefinitionError(
                [Problem(str(source), ".".join(map(str, loc)), msg) for loc, msg in exc.errors],
                f"task {made.name} is invalid",
            ) from None
        current_registry().add_task(made)
        return made

    return decorate(fn) if fn is not None else decorate


def _backoff(value: Backoff | Mapping[str, Any] | None) -> Backoff | None:
    if value is None or isinstance(value, Backoff):
        return value
    return Backoff(**value)

"""Validating a run's arguments before anything is written, and resolving a task
run's merged arguments and cache key when it is about to execute."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from headwater.domain.bindings import OutputRef, ParamRef, output_nodes, resolve, select
from headwater.domain.canonical import cache_key
from headwater.domain.jsonschema import schema_errors, subschema
from headwater.domain.merge import merge_arguments, run_layer
from headwater.domain.problems import Problem
from headwater.domain.records import NamedTuple
from headwater.services.outputs import OutputReader
from headwater.services.plans import Plan
from headwater.store import runs as run_store
from headwater.store.runs import RunRow, TaskRunRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection


def validate_run_args(
    plan: Plan, args: Mapping[str, Any], task_args: Mapping[str, Mapping[str, Any]]
) -> list[Problem]:
    """Every problem with a run's arguments, each naming its field.

    A run argument is a pipeline parameter, or else the name of a parameter of at
    least one of the pipeline's tasks (it then applies to every task that has it).
    """
    spec = plan.spec
    declared = set(spec.param_names)
    problems = [
        Problem("", f"args{path}", message)
        for path, message in schema_errors(
            spec.params, {k: v for k, v in args.items() if k in declared}
        )
    ]
    for name, value in args.items():
        if name in declared:
            continue
        owners = [t for t in spec.tasks.values() if name in t.param_names]
        if not owners:
            problems.append(
                Problem(
                    "",
                    f"args.{name}",
                    "unknown argument: not a parameter of "
                    f"pipeline {spec.name} nor of any of its tasks",
                )
            )
        for task in owners:
            for path, message in schema_errors(subschema(task.params_schema, name), value):
                problems.append(Problem("", f"args.{name}{path}", f"task {task.name}: {message}"))
    for node_id, values in task_args.items():
        node = spec.node_map.get(node_id)
        if node is None:
            problems.append(Problem("", f"task_args.{node_id}", f"unknown task node {node_id!r}"))
            continue
        task = spec.tasks[node.task]
        for name, value in values.items():
            field = f"task_args.{node_id}.{name}"
            if name not in task.param_names and not task.accepts_any_param():
                problems.append(Problem("", field, f"unknown parameter of task {task.name}"))
                continue
            for path, message in schema_errors(subschema(task.params_schema, name), value):
                problems.append(Problem("", field + path, message))
    return problems


class Resolved(NamedTuple):
    """A task run's arguments with their bindings resolved, and their cache key."""

    args: dict[str, Any]
    cache_key: str


def _upstream_rows(conn: Connection, run_id: str, node_ids: Iterable[str]) -> list[TaskRunRow]:
    return run_store.node_task_runs(conn, run_id, node_ids, outputs=False)


def resolve_task_run(
    conn: Connection,
    plan: Plan,
    run: RunRow,
    node_id: str,
    map_index: int,
    outputs: OutputReader,
    read_rows: Callable[[Connection, str, Iterable[str]], list[TaskRunRow]] | None = None,
) -> Resolved:
    """Merge the four argument layers and compute the cache key.

    The key is computed from lineage: an argument bound to an upstream output counts
    as that upstream's cache key (and the path into it), never as its value.
    `read_rows` reads the upstream task runs without their outputs (a cache may stand
    in for the store).
    """
    spec = plan.spec
    node = spec.node_map[node_id]
    task = spec.tasks[node.task]
    split = plan.node_args[node_id]
    params = {**plan.param_defaults, **run.args}
    upstream_rows = {
        # Outputs are read through `outputs`, which keeps them parsed: a mapped node's
        # elements all bind the same upstream output.
        row.node_id: row
        for row in (read_rows or _upstream_rows)(conn, run.id, output_nodes(node.args))
    }

    def value_of(ref: ParamRef | OutputRef) -> Any:
        if isinstance(ref, ParamRef):
            return params[ref.name]
        return select(outputs.value(conn, run.pipeline, upstream_rows[ref.node]), ref.path)

    def key_of(ref: ParamRef | OutputRef) -> Any:
        if isinstance(ref, ParamRef):
            return params[ref.name]
        return {"$key": upstream_rows[ref.node].cache_key, "path": list(ref.path)}

    upstream = {name: resolve(value, value_of) for name, value in split.from_outputs.items()}
    merged = merge_arguments(
        defaults=plan.task_defaults[task.name],
        literals=split.literals,
        run_args=run_layer(split, run.args, plan.param_defaults, task.param_names),
        task_args=run.task_args.get(node_id, {}),
        upstream=upstream,
    )
    key_args = {**merged, **{n: resolve(v, key_of) for n, v in split.from_outputs.items()}}
    if node.map is not None and map_index >= 0:
        merged[node.map] = merged[node.map][map_index]
        if node.map in split.from_outputs:
            key_args[node.map] = {"$each": key_args[node.map], "index": map_index}
        else:
            key_args[node.map] = merged[node.map]
    upstream_keys = {name: row.cache_key for name, row in sorted(upstream_rows.items())}
    return Resolved(merged, cache_key(task.name, task.version, key_args, upstream_keys))


def map_source_value(
    conn: Connection, plan: Plan, run: RunRow, node_id: str, outputs: OutputReader
) -> Any:
    """The value a mapped node fans out over (it should be a list)."""
    node = plan.spec.node_map[node_id]
    assert node.map is not None
    params = {**plan.param_defaults, **run.args}
    binding = node.args[node.map]
    upstream_rows = {
        row.node_id: row
        for row in run_store.node_task_runs(conn, run.id, output_nodes({"v": binding}))
    }

    def value_of(ref: ParamRef | OutputRef) -> Any:
        if isinstance(ref, ParamRef):
            return params[ref.name]
        return select(outputs.value(conn, run.pipeline, upstream_rows[ref.node]), ref.path)

    return resolve(binding, value_of)

"""Validation of a PipelineSpec: every problem at once, each naming where it is.

A Python node's problems point at the line that called the task; a recipe node's at
its JSON path. Literal values are checked against the task's parameter schema with
jsonschema (pure; no I/O), the same validator run arguments go through.
"""

from __future__ import annotations

from typing import Any

from headwater.domain.bindings import OutputRef, ParamRef, iter_bindings
from headwater.domain.dag import CycleFound, build_graph
from headwater.domain.jsonschema import schema_errors, schema_problem, subschema
from headwater.domain.problems import Problem
from headwater.domain.spec import NodeSpec, PipelineSpec, Source, TaskDef


def _where(source: Source | None, fallback: str) -> tuple[str, str]:
    """(location, path prefix) for problems about something defined at `source`."""
    if source is None:
        return "", fallback
    if source.line is not None:
        return str(source), fallback
    return source.file, source.path or fallback


def validate_spec(spec: PipelineSpec) -> list[Problem]:
    problems: list[Problem] = []
    location, root = _where(spec.source, "$")
    problems += [Problem(location, f"{root}.params{p}", m) for p, m in _param_schema_errors(spec)]
    seen: set[str] = set()
    for node in spec.nodes:
        if node.id in seen:
            loc, path = _where(node.source, f"nodes.{node.id}")
            problems.append(Problem(loc, f"{path}.id", f"duplicate node id {node.id!r}"))
        seen.add(node.id)
        problems += _node_problems(spec, node)
    try:
        build_graph(spec.nodes)
    except CycleFound as cycle:
        first = spec.node_map[cycle.cycle[0]]
        loc, path = _where(first.source, f"nodes.{first.id}")
        problems.append(Problem(loc, path, f"cycle: {' -> '.join(cycle.cycle)}"))
    for path, ref in iter_bindings(spec.output, f"{root}.output"):
        problems += _binding_problems(spec, location, path, ref, None)
    return sorted(set(problems), key=lambda p: (p.location, p.path, p.message))


def _param_schema_errors(spec: PipelineSpec) -> list[tuple[str, str]]:
    problem = schema_problem(spec.params)
    return [("", f"not a valid JSON Schema: {problem}")] if problem else []


def _node_problems(spec: PipelineSpec, node: NodeSpec) -> list[Problem]:
    loc, base = _where(node.source, f"nodes.{node.id}")
    task = spec.tasks.get(node.task)
    if task is None:
        return [Problem(loc, f"{base}.task", f"unknown task {node.task!r}")]
    problems: list[Problem] = []
    known = set(task.param_names)
    for name, value in node.args.items():
        path = f"{base}.args.{name}"
        if name not in known and not task.accepts_any_param():
            problems.append(
                Problem(
                    loc,
                    path,
                    f"unknown parameter {name!r} of task {task.name}"
                    f" (it takes: {', '.join(sorted(known)) or 'nothing'})",
                )
            )
            continue
        refs = list(iter_bindings(value, path))
        for ref_path, ref in refs:
            problems += _binding_problems(spec, loc, ref_path, ref, (task, name, node.map == name))
        if not refs:
            schema = subschema(task.params_schema, name)
            if node.map == name:  # a literal list fanned out: each element is one value
                schema = {
                    "type": "array",
                    "items": {k: v for k, v in schema.items() if k != "$defs"},
                    **({"$defs": schema["$defs"]} if "$defs" in schema else {}),
                }
            for err_path, message in schema_errors(schema, value):
                problems.append(Problem(loc, path + err_path, f"task {task.name}: {message}"))
    for name in task.required_params:
        if name not in node.args:
            problems.append(
                Problem(loc, f"{base}.args", f"missing parameter {name!r} of task {task.name}")
            )
    for up in node.after:
        if up not in spec.node_map:
            problems.append(Problem(loc, f"{base}.after", f"unknown node {up!r}"))
    if node.map is not None and node.map not in node.args:
        problems.append(Problem(loc, f"{base}.map", f"map over {node.map!r}, which is not bound"))
    elif node.map is not None and not (
        isinstance(node.args[node.map], list)
        or any(True for _ in iter_bindings(node.args[node.map]))
    ):
        problems.append(
            Problem(
                loc,
                f"{base}.map",
                f"map over {node.map!r} needs a list, an upstream output or a parameter",
            )
        )
    return problems


def _binding_problems(
    spec: PipelineSpec,
    loc: str,
    path: str,
    ref: ParamRef | OutputRef,
    target: tuple[TaskDef, str, bool] | None,
) -> list[Problem]:
    if isinstance(ref, ParamRef):
        if ref.name not in spec.param_names:
            return [Problem(loc, path, f"unknown pipeline parameter {ref.name!r}")]
        return []
    upstream = spec.node_map.get(ref.node)
    if upstream is None:
        return [Problem(loc, path, f"output of unknown node {ref.node!r}")]
    up_task = spec.tasks.get(upstream.task)
    if up_task is None or up_task.output_schema is None:
        return []
    out = up_task.output_schema
    if upstream.map is not None:  # a mapped node's output is the list of its outputs
        out = {"type": "array", "items": out}
    message = _unbindable(out, ref.path, target)
    return [Problem(loc, path, f"cannot bind output of {ref.node}: {message}")] if message else []


def _unbindable(
    out: dict[str, Any], path: tuple[str | int, ...], target: tuple[TaskDef, str, bool] | None
) -> str | None:
    if out.get("type") == "null":
        return "its task returns nothing"
    for step in path:
        props = out.get("properties")
        if isinstance(step, str) and isinstance(props, dict):
            if step not in props:
                return f"it has no field {step!r} (fields: {', '.join(sorted(props))})"
            out = props[step]
        elif isinstance(step, int) and isinstance(out.get("items"), dict):
            out = out["items"]
        else:
            return None  # shape unknown past this point: cannot judge
    if target is None:
        return None
    task, name, mapped = target
    if mapped:
        if _json_type(out) not in (None, "array"):
            return f"map needs a list, the output is {_json_type(out)}"
        out = out.get("items", {}) if isinstance(out.get("items"), dict) else {}
    want = _json_type(subschema(task.params_schema, name))
    have = _json_type(out)
    if want and have and not _compatible(have, want):
        return f"it is {have}, parameter {name!r} of task {task.name} wants {want}"
    return None


def _json_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    return kind if isinstance(kind, str) else None


def _compatible(have: str, want: str) -> bool:
    return have == want or (have == "integer" and want == "number")

"""Argument merging (Cerebro): where each of a task run's arguments comes from.

Lowest to highest precedence:

1. **task defaults**: the function signature's defaults (or the recipe task's), then the
   literal values the pipeline wrote for this node;
2. **run arguments**: a node argument bound to a pipeline parameter (``$param``) takes
   the run's value; any other run argument whose name is one of the task's
   parameters applies to it too, so a run can change any task's default by name;
3. **per-task arguments** given when the run is started, by node id;
4. **upstream outputs** bound to the parameter (``$output``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headwater.domain.bindings import OutputRef, ParamRef, iter_bindings, resolve
from headwater.domain.records import NamedTuple


class NodeArgs(NamedTuple):
    """A node's arguments sorted into the layer each belongs to."""

    literals: dict[str, Any]
    from_params: dict[str, Any]  # values holding $param bindings (and no $output)
    from_outputs: dict[str, Any]  # values holding at least one $output binding


def split_node_args(args: Mapping[str, Any]) -> NodeArgs:
    literals: dict[str, Any] = {}
    from_params: dict[str, Any] = {}
    from_outputs: dict[str, Any] = {}
    for name, value in args.items():
        kinds = {type(ref) for _, ref in iter_bindings(value)}
        if OutputRef in kinds:
            from_outputs[name] = value
        elif ParamRef in kinds:
            from_params[name] = value
        else:
            literals[name] = value
    return NodeArgs(literals, from_params, from_outputs)


def merge_arguments(
    *,
    defaults: Mapping[str, Any],
    literals: Mapping[str, Any],
    run_args: Mapping[str, Any],
    task_args: Mapping[str, Any],
    upstream: Mapping[str, Any],
) -> dict[str, Any]:
    """Overlay the four layers; a key in a higher layer always wins.

    `run_args` must already be limited to this task's parameters (see `run_layer`).
    """
    merged: dict[str, Any] = {}
    for layer in (defaults, literals, run_args, task_args, upstream):
        merged.update(layer)
    return merged


def run_layer(
    node_args: NodeArgs,
    run_args: Mapping[str, Any],
    param_defaults: Mapping[str, Any],
    task_params: Iterable[str],
) -> dict[str, Any]:
    """The run-argument layer for one node.

    Explicit ``$param`` bindings win over a run argument that merely shares a name.
    A pipeline parameter that was not given falls back to its declared default; one
    with neither is left unresolved here (run validation reports it before this runs).
    """
    values = {**param_defaults, **run_args}
    layer = {name: run_args[name] for name in task_params if name in run_args}

    def lookup(ref: ParamRef | OutputRef) -> Any:
        assert isinstance(ref, ParamRef)
        return values[ref.name]

    for name, value in node_args.from_params.items():
        layer[name] = resolve(value, lookup)
    return layer

"""DAG rules over a spec's nodes: edges, cycles (named), order, dependents."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from graphlib import CycleError, TopologicalSorter

from headwater.domain.bindings import output_nodes
from headwater.domain.records import NamedTuple
from headwater.domain.spec import NodeSpec


class Graph(NamedTuple):
    """Upstream and downstream edges of a pipeline's nodes.

    `upstream[n]` holds data edges (from bindings) and order edges (`after`);
    unknown node names are kept out so callers can report them separately.
    """

    order: tuple[str, ...]
    upstream: Mapping[str, frozenset[str]]
    downstream: Mapping[str, tuple[str, ...]]

    def roots(self) -> list[str]:
        return [n for n in self.order if not self.upstream[n]]


class CycleFound(ValueError):
    def __init__(self, cycle: Sequence[str]) -> None:
        self.cycle = list(cycle)
        super().__init__("cycle: " + " -> ".join(self.cycle))


def node_upstream(node: NodeSpec) -> set[str]:
    return output_nodes(node.args) | set(node.after)


def build_graph(nodes: Sequence[NodeSpec]) -> Graph:
    """The graph of `nodes`, in a stable topological order; raises CycleFound."""
    known = {node.id for node in nodes}
    upstream = {node.id: frozenset(node_upstream(node) & known) for node in nodes}
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for node in nodes:  # insertion order keeps the order stable between runs
        sorter.add(node.id, *sorted(upstream[node.id]))
    try:
        order = tuple(sorter.static_order())
    except CycleError as exc:
        # graphlib reports the cycle as [a, b, ..., a], each node an upstream of the next.
        raise CycleFound(list(exc.args[1])) from None
    downstream: dict[str, list[str]] = {node.id: [] for node in nodes}
    for node_id in order:
        for up in sorted(upstream[node_id]):
            downstream[up].append(node_id)
    return Graph(order, upstream, {k: tuple(v) for k, v in downstream.items()})

"""Response bodies built from stored rows, shared by the API's route modules."""

from __future__ import annotations

from headwater.api.models import NodeOut, PipelineDetail, PipelineSummary
from headwater.domain.dag import build_graph
from headwater.domain.spec import PipelineSpec
from headwater.services.context import Services
from headwater.store import pipelines as pipeline_store


def _current(svc: Services, name: str) -> tuple[PipelineSummary, PipelineSpec]:
    with svc.db.read() as conn:
        row = pipeline_store.get_pipeline(conn, name)
        assert row.current_version_id is not None
        plan = svc.plans.get(conn, row.current_version_id)
    spec = plan.spec
    summary = PipelineSummary(
        name=spec.name,
        description=spec.description,
        version=spec.content_hash,
        version_id=plan.version_id,
        params_schema=spec.params,
        origin=row.origin,
        enabled=row.enabled,
    )
    return summary, spec


def pipeline_summary(svc: Services, name: str) -> PipelineSummary:
    return _current(svc, name)[0]


def pipeline_detail(svc: Services, name: str) -> PipelineDetail:
    summary, spec = _current(svc, name)
    return PipelineDetail(**summary.model_dump(), **graph_of(spec))


def graph_of(spec: PipelineSpec) -> dict[str, list[NodeOut] | list[tuple[str, str]]]:
    """The nodes (in a topological order, with their task settings) and edges."""
    graph = build_graph(spec.nodes)
    nodes = []
    for node_id in graph.order:
        node = spec.node_map[node_id]
        task = spec.tasks[node.task]
        nodes.append(
            NodeOut(
                id=node_id,
                task=task.name,
                upstream=sorted(graph.upstream[node_id]),
                map=node.map,
                kind=task.kind,
                retries=task.retries,
                timeout_seconds=task.timeout_seconds,
                queue=task.queue,
                cache=task.cache,
                source=str(node.source) if node.source else None,
            )
        )
    edges = [(up, n) for n in graph.order for up in sorted(graph.upstream[n])]
    return {"nodes": nodes, "edges": edges}

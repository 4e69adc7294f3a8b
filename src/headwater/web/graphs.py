"""The JSON a page embeds for the browser: a pipeline's graph and a run's progress.

Kept compact (arrays, not objects, per task run) because a run page of a 2,000-task
pipeline embeds all of it and the browser parses it before drawing.
"""

from __future__ import annotations

from typing import Any

from headwater.services.plans import Plan
from headwater.services.views import RunPage


def pipeline_graph(plan: Plan) -> dict[str, Any]:
    spec, graph = plan.spec, plan.graph
    nodes = []
    for node_id in graph.order:
        node = spec.node_map[node_id]
        task = spec.tasks[node.task]
        nodes.append(
            {
                "id": node_id,
                "task": task.name,
                "kind": task.kind,
                "description": task.description,
                "map": node.map,
                "retries": task.retries,
                "timeout_seconds": task.timeout_seconds,
                "queue": task.queue,
                "cache": task.cache,
                "tags": list(task.tags),
                "source": str(node.source or task.source or ""),
                "callable": task.callable,
                "command": task.command,
                "params_schema": task.params_schema,
            }
        )
    edges = [[up, n] for n in graph.order for up in sorted(graph.upstream[n])]
    return {"version": spec.content_hash, "pipeline": spec.name, "nodes": nodes, "edges": edges}


def run_progress(view: RunPage) -> dict[str, Any]:
    run = view.run
    return {
        "run": {
            "id": run.id,
            "state": run.state.value,
            "created_at": run.created_at,
            "ended_at": run.ended_at,
        },
        # [id, node, map_index, state, attempts, started_at, ended_at]
        "task_runs": [
            [t.id, t.node_id, t.map_index, t.state.value, t.attempts, t.started_at, t.ended_at]
            for t in view.task_runs
        ],
        # [task_run_id, number, state, started_at, ended_at]
        "attempts": [
            [a.task_run_id, a.number, a.state.value, a.started_at, a.ended_at]
            for a in view.attempts
        ],
    }

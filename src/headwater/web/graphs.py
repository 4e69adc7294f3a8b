"""The JSON a page embeds for the browser: a pipeline's graph and a run's progress.

Kept compact (arrays, not objects, per task run) because a run page of a 2,000-task
pipeline embeds all of it and the browser parses it before drawing.
"""

from __future__ import annotations

from typing import Any

from headwater.services.plans import Plan
from headwater.services.views import RunPage


def pipeline_graph(plan: Plan) -> dict[str, Any]:
    """Tasks once by name (a big pipeline calls few tasks many times), nodes as
    [id, task, map parameter or null, source or null] in topological order, and edges."""
    spec, graph = plan.spec, plan.graph
    tasks = {
        task.name: {
            "kind": task.kind,
            "description": task.description,
            "retries": task.retries,
            "timeout_seconds": task.timeout_seconds,
            "queue": task.queue,
            "cache": task.cache,
            "tags": list(task.tags),
            "source": str(task.source) if task.source else None,
            "callable": task.callable,
            "command": task.command,
            "params_schema": task.params_schema,
        }
        for task in spec.tasks.values()
    }
    nodes = []
    for node_id in graph.order:
        node = spec.node_map[node_id]
        nodes.append([node_id, node.task, node.map, str(node.source) if node.source else None])
    edges = [[up, n] for n in graph.order for up in sorted(graph.upstream[n])]
    return {
        "version": spec.content_hash,
        "pipeline": spec.name,
        "tasks": tasks,
        "nodes": nodes,
        "edges": edges,
    }


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
            [t.id, t.node, t.map_index, t.state, t.attempts, t.started_at, t.ended_at]
            for t in view.task_runs
        ],
        # [task_run_id, number, state, started_at, ended_at]
        "attempts": [
            [a.task_run_id, a.number, a.state, a.started_at, a.ended_at] for a in view.attempts
        ],
    }

"""A Plan: a pipeline version's spec with its graph and defaults, parsed once per process."""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable
from functools import cached_property
from typing import TYPE_CHECKING, Any

from headwater.domain.dag import Graph, build_graph
from headwater.domain.merge import NodeArgs, split_node_args
from headwater.domain.spec import PipelineSpec
from headwater.domain.states import TASK_RUN_OK
from headwater.store import pipelines as pipeline_store
from headwater.store import runs as run_store
from headwater.store.runs import RunRow, TaskRunRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

PLAN_CACHE_SIZE = 64
ENDED_ROWS_CACHED = 1024  # rows without their outputs: a few hundred bytes each


class Plan:
    """A pipeline version's spec, with what is derived from it worked out once."""

    def __init__(self, version_id: int, spec: PipelineSpec) -> None:
        self.version_id, self.spec = version_id, spec

    @cached_property
    def graph(self) -> Graph:
        return build_graph(self.spec.nodes)

    @cached_property
    def param_defaults(self) -> dict[str, Any]:
        props = self.spec.params.get("properties", {})
        return {name: prop["default"] for name, prop in props.items() if "default" in prop}

    @cached_property
    def node_args(self) -> dict[str, NodeArgs]:
        return {node.id: split_node_args(node.args) for node in self.spec.nodes}

    @cached_property
    def limit_keys(self) -> dict[str, str]:
        """Per node, the JSON list of concurrency-limit keys its task runs fall under."""
        found = {}
        for node in self.spec.nodes:
            task = self.spec.tasks[node.task]
            keys = [f"pipeline:{self.spec.name}", f"task:{task.name}", f"queue:{task.queue}"]
            keys += [f"tag:{tag}" for tag in task.tags]
            found[node.id] = json.dumps(keys)
        return found

    @cached_property
    def task_defaults(self) -> dict[str, dict[str, Any]]:
        found = {}
        for name, task in self.spec.tasks.items():
            props = task.params_schema.get("properties", {})
            found[name] = {p: prop["default"] for p, prop in props.items() if "default" in prop}
        return found


class RunCache:
    """Runs by id, for the per-task path, which reads a run twice per task run. Only what
    is fixed when a run is created may be read from here (pipeline, version, arguments,
    force, priority, start controls, backfill): never its state, `remaining` or end.
    Also the succeeded task runs that task runs read their arguments from."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self._runs: OrderedDict[str, RunRow] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()
        self._ended: OrderedDict[tuple[str, str], TaskRunRow] = OrderedDict()

    def get(self, conn: Connection, run_id: str) -> RunRow:
        with self._lock:
            run = self._runs.get(run_id)
            if run is not None:
                self._runs.move_to_end(run_id)
                return run
        run = run_store.get_run(conn, run_id)
        with self._lock:
            self._runs[run_id] = run
            while len(self._runs) > self._size:
                self._runs.popitem(last=False)
        return run

    def node_task_runs(
        self, conn: Connection, run_id: str, node_ids: Iterable[str]
    ) -> list[TaskRunRow]:
        """As `store.runs.node_task_runs` without outputs (`OutputReader` keeps those);
        rows that have succeeded are kept, as they never change again: every element of
        a map reads the node it maps over, which would cost a query per element."""
        wanted = list(node_ids)
        with self._lock:
            found = [self._ended[(run_id, n)] for n in wanted if (run_id, n) in self._ended]
        missing = [n for n in wanted if all(row.node_id != n for row in found)]
        if not missing:
            return found
        read = run_store.node_task_runs(conn, run_id, missing, outputs=False)
        with self._lock:
            for row in read:
                if row.state in TASK_RUN_OK:
                    self._ended[(run_id, row.node_id)] = row
            while len(self._ended) > ENDED_ROWS_CACHED:
                self._ended.popitem(last=False)
        return found + read


class PlanCache:
    """Plans by version id. Versions never change once stored, so entries never go stale."""

    def __init__(self, size: int = PLAN_CACHE_SIZE) -> None:
        self._plans: OrderedDict[int, Plan] = OrderedDict()
        self._size = size
        self._lock = threading.Lock()

    def get(self, conn: Connection, version_id: int) -> Plan:
        with self._lock:
            plan = self._plans.get(version_id)
            if plan is not None:
                self._plans.move_to_end(version_id)
                return plan
        plan = Plan(version_id, pipeline_store.load_spec(conn, version_id))
        self.put(plan)
        return plan

    def put(self, plan: Plan) -> None:
        with self._lock:
            self._plans[plan.version_id] = plan
            while len(self._plans) > self._size:
                self._plans.popitem(last=False)

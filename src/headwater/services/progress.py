"""Moving a run forward inside the transaction that recorded a result (DESIGN rule 3).

`advance` takes task runs that just ended and node ids that may now start, and walks
the consequences to a fixed point: downstream nodes whose inputs are complete become
ready, downstream of a failure become upstream_failed, map nodes expand into one child
per element, map parents end when their children have, and the run ends when nothing
is left. It works from an explicit queue, not recursion, so a 10,000-node chain is fine.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from headwater.domain.canonical import canonical_json, sha256_hex
from headwater.domain.states import RunState, TaskRunState
from headwater.services.arguments import map_source_value
from headwater.services.context import Services
from headwater.services.outputs import inline_output
from headwater.services.plans import Plan
from headwater.store import claims as claim_store
from headwater.store import runs as run_store
from headwater.store.runs import RunRow

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

Done = tuple[str, int, bool]  # (node id, map index, succeeded)


def advance(
    svc: Services,
    conn: Connection,
    plan: Plan,
    run: RunRow,
    *,
    ready: Sequence[str] = (),
    done: Sequence[Done] = (),
    now: float | None = None,
) -> None:
    """`now`: the transaction's database clock, if the caller has already read it."""
    now = svc.db.clock(conn) if now is None else now
    finished: deque[Done] = deque(d for d in done if d[1] < 0)
    to_start = list(ready)
    remaining: int | None = None
    # Map elements that ended together (a batch) count down their run and their parent
    # once per node, not once each: those two rows are what every completion of a large
    # map updates, and other transactions wait for them until this one commits.
    elements = Counter(node_id for node_id, map_index, _ in done if map_index >= 0)
    if elements:
        remaining = run_store.add_remaining(conn, run.id, -sum(elements.values()))
        for node_id, count in sorted(elements.items()):
            finished.extend(_child_done(svc, conn, run, node_id, now, count))
    while finished or to_start:
        if to_start:
            finished.extend(_start_nodes(svc, conn, plan, run, to_start, now))
            to_start = []
            continue
        node_id, _, ok = finished.popleft()
        remaining = run_store.add_remaining(conn, run.id, -1)
        downstream = list(plan.graph.downstream[node_id])
        if ok:
            rows = run_store.decrement_waiting(conn, run.id, downstream)
            to_start = [
                n
                for n, waiting, state in rows
                if waiting == 0 and state == TaskRunState.PENDING.value
            ]
        else:
            skipped = run_store.transition_nodes(
                conn, run.id, downstream, TaskRunState.UPSTREAM_FAILED, ended_at=now
            )
            finished.extend((n, -1, False) for n in skipped)
    if remaining == 0:
        _finish_run(svc, conn, run, now)


def _start_nodes(
    svc: Services, conn: Connection, plan: Plan, run: RunRow, node_ids: list[str], now: float
) -> list[Done]:
    """Make nodes ready; map nodes expand instead. What ended at once, as Done."""
    plain = [n for n in node_ids if plan.spec.node_map[n].map is None]
    available_at = run.start_at or 0.0  # not claimable before the run's start time
    made_ready = run_store.transition_nodes(
        conn, run.id, plain, TaskRunState.READY, available_at=available_at
    )
    if made_ready:
        claim_store.notify_ready(svc.db, conn, len(made_ready))
    ended: list[Done] = []
    for node_id in node_ids:
        if plan.spec.node_map[node_id].map is not None:
            ended.extend(_expand(svc, conn, plan, run, node_id, now))
    return ended


def _expand(
    svc: Services, conn: Connection, plan: Plan, run: RunRow, node_id: str, now: float
) -> list[Done]:
    (parent,) = run_store.node_task_runs(conn, run.id, [node_id])
    try:
        items = map_source_value(conn, plan, run, node_id, svc.outputs)
    except Exception as exc:  # noqa: BLE001 - a bad path into an output is the user's error
        items = exc
    if not isinstance(items, list):
        why = (
            f"cannot map: {items!r}"
            if isinstance(items, Exception)
            else f"map needs a list, got {type(items).__name__}"
        )
        run_store.transition_task_run(conn, parent.id, TaskRunState.FAILED, error=why, ended_at=now)
        return [(node_id, -1, False)]
    if not items:
        run_store.transition_task_run(
            conn,
            parent.id,
            TaskRunState.SUCCEEDED,
            output="[]",
            cache_key=sha256_hex([]),
            started_at=now,
            ended_at=now,
        )
        return [(node_id, -1, True)]
    run_store.transition_task_run(
        conn, parent.id, TaskRunState.RUNNING, waiting_on=len(items), started_at=now
    )
    run_store.insert_map_children(
        conn,
        len(items),
        {
            "run_id": run.id,
            "node_id": node_id,
            "task": parent.task,
            "state": TaskRunState.READY.value,
            "queue": parent.queue,
            "priority": run.priority,
            "available_at": run.start_at or 0.0,
            "waiting_on": 0,
            "max_attempts": parent.max_attempts,
            "created_at": now,
            "limit_keys": plan.limit_keys[node_id],
        },
    )
    run_store.add_remaining(conn, run.id, len(items))
    claim_store.notify_ready(svc.db, conn, len(items))
    return []


def _child_done(
    svc: Services, conn: Connection, run: RunRow, node_id: str, now: float, count: int = 1
) -> list[Done]:
    """`count` map children of a node ended; when they were the last, the parent ends too."""
    ((_, waiting, _),) = run_store.decrement_waiting(conn, run.id, [node_id], by=count)
    if waiting > 0:
        return []
    children = run_store.map_children(conn, run.id, node_id)
    (parent,) = run_store.node_task_runs(conn, run.id, [node_id])
    ok = all(child.state in (TaskRunState.SUCCEEDED, TaskRunState.CACHED) for child in children)
    if ok:
        outputs = [svc.outputs.value(conn, run.pipeline, child) for child in children]
        all_cached = all(child.state == TaskRunState.CACHED for child in children)
        run_store.transition_task_run(
            conn,
            parent.id,
            TaskRunState.CACHED if all_cached else TaskRunState.SUCCEEDED,
            ended_at=now,
            cache_key=sha256_hex([child.cache_key for child in children]),
            output=inline_output(canonical_json(outputs)),
        )
    else:
        failed = sum(c.state not in (TaskRunState.SUCCEEDED, TaskRunState.CACHED) for c in children)
        run_store.transition_task_run(
            conn,
            parent.id,
            TaskRunState.FAILED,
            ended_at=now,
            error=f"{failed} of {len(children)} mapped task runs did not succeed",
        )
    return [(node_id, -1, ok)]


def _finish_run(svc: Services, conn: Connection, run: RunRow, now: float) -> None:
    failed = run_store.any_task_run_in(
        conn, run.id, (TaskRunState.FAILED, TaskRunState.UPSTREAM_FAILED, TaskRunState.CANCELLED)
    )
    target = RunState.FAILED if failed else RunState.SUCCEEDED
    if run_store.finish_run(conn, run.id, target, now) and run.backfill_id is not None:
        start_next_queued(svc, conn, run.backfill_id)


def start_next_queued(svc: Services, conn: Connection, backfill_id: str) -> str | None:
    """A running run of the backfill ended: start its next queued run, in the same
    transaction (the backfill's concurrency gate). The started run's id, if any."""
    from headwater.store import backfills as backfill_store

    run_id = backfill_store.start_next_queued(conn, backfill_id)
    if run_id is not None:
        start_queued_run(svc, conn, run_id)
    return run_id


def start_queued_run(svc: Services, conn: Connection, run_id: str) -> None:
    """Make ready the first task runs of a run just moved from queued to running."""
    run = run_store.get_run(conn, run_id)
    plan = svc.plans.get(conn, run.version_id)
    advance(svc, conn, plan, run, ready=plan.graph.roots())

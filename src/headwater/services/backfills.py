"""Backfills: one run per logical date over a range, at most N running at once.

Creating a backfill is one transaction of a few batch INSERTs (runs, task runs, the
backfill), whatever its size: 1,000 runs cost no more round trips than 10. Its runs
are created queued; the first `max_running` start at once, and each transaction that
ends one of them starts the next (services.progress.start_next_queued).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from headwater.domain.backfill import logical_dates, next_logical_date
from headwater.domain.canonical import canonical_json
from headwater.domain.problems import Problem
from headwater.domain.states import RunState
from headwater.domain.templates import render, template_problems, tick_variables
from headwater.domain.timetable import timezone_problems
from headwater.errors import ValidationError
from headwater.services.arguments import validate_run_args
from headwater.services.context import Services
from headwater.services.plans import Plan
from headwater.services.progress import start_queued_run
from headwater.services.runs import end_run, new_run_id, retry_contended, task_run_rows
from headwater.store import backfills as backfill_store
from headwater.store import pipelines as pipeline_store
from headwater.store import runs as run_store
from headwater.store.backfills import BackfillRow

DEFAULT_MAX_RUNNING = 10
_OPEN = (RunState.QUEUED, RunState.RUNNING)


@dataclass(frozen=True)
class BackfillView:
    backfill: BackfillRow
    state: str  # running, succeeded, failed (some run did not succeed), cancelled
    runs: dict[str, int]  # how many runs are in each state

    @property
    def finished(self) -> int:
        return sum(n for state, n in self.runs.items() if state not in _OPEN)


def create_backfill(
    svc: Services,
    pipeline: str,
    *,
    start: float,
    end: float,
    every: str,
    timezone: str = "UTC",
    args: Mapping[str, Any] | None = None,
    max_running: int = DEFAULT_MAX_RUNNING,
    priority: int = 0,
    tags: Sequence[str] = (),
) -> BackfillView:
    """Create the backfill's runs, one per logical date from `start` to `end`
    (inclusive) every `every`; `args` may hold ``{{ ds }}``-style templates. Nothing is
    written unless every run's arguments are valid."""
    args = dict(args or {})
    problems = timezone_problems(timezone) + template_problems(args)
    if max_running < 1:
        problems.append(Problem("", "max_running", "must be at least 1"))
    if problems:
        raise ValidationError(problems, "invalid backfill")
    dates = logical_dates(start, end, every, timezone)
    backfill_id = new_run_id()
    with svc.db.write() as conn:
        row = pipeline_store.get_pipeline(conn, pipeline)
        assert row.current_version_id is not None
        plan = svc.plans.get(conn, row.current_version_id)
        rendered = _run_args(plan, args, dates, every, timezone, backfill_id)
        now = svc.db.clock(conn)
        run_ids = [new_run_id() for _ in dates]
        # The tag lets GET /api/v1/runs?tag=backfill:<id> list the backfill's runs.
        run_tags = [*tags, f"backfill:{backfill_id}"]
        run_store.insert_runs(
            conn,
            [
                _run_row(plan, run_id, run_args, date, now, backfill_id, priority, run_tags)
                for run_id, run_args, date in zip(run_ids, rendered, dates, strict=True)
            ],
        )
        run_store.insert_task_runs(
            conn, [row for run_id in run_ids for row in task_run_rows(plan, run_id, now, priority)]
        )
        backfill_store.insert_backfill(
            conn,
            id=backfill_id,
            pipeline=pipeline,
            state="running",
            start=start,
            end=end,
            every=every,
            timezone=timezone,
            args=args,
            max_running=max_running,
            total=len(dates),
            created_at=now,
        )
        first = run_ids[:max_running]
        backfill_store.mark_running(conn, first)
        for run_id in first:
            start_queued_run(svc, conn, run_id)
    svc.notify()
    return get_backfill(svc, backfill_id)


def _run_args(
    plan: Plan,
    args: dict[str, Any],
    dates: list[float],
    every: str,
    timezone: str,
    backfill_id: str,
) -> list[dict[str, Any]]:
    """Each date's rendered arguments, validated (once when they are all the same)."""
    rendered = []
    for date in dates:
        end = next_logical_date(date, every, timezone)
        variables = tick_variables(date, end, timezone, backfill_id=backfill_id)
        rendered.append(render(args, variables))
    for run_args in {canonical_json(r): r for r in rendered}.values():
        problems = validate_run_args(plan, run_args, {})
        if problems:
            raise ValidationError(problems, f"invalid arguments for pipeline {plan.spec.name}")
    return rendered


def _run_row(
    plan: Plan,
    run_id: str,
    args: dict[str, Any],
    logical_date: float,
    now: float,
    backfill_id: str,
    priority: int,
    tags: list[str],
) -> dict[str, Any]:
    return {
        "id": run_id,
        "pipeline": plan.spec.name,
        "version_id": plan.version_id,
        "state": RunState.QUEUED.value,
        "args": args,
        "task_args": {},
        "priority": priority,
        "tags": tags,
        "remaining": len(plan.spec.nodes),
        "created_at": now,
        "backfill_id": backfill_id,
        "logical_date": logical_date,
    }


def _view(row: BackfillRow, runs: dict[str, int]) -> BackfillView:
    if row.state == "cancelled":
        state = "cancelled"
    elif any(runs.get(s.value, 0) for s in _OPEN):
        state = "running"
    elif set(runs) - {RunState.SUCCEEDED.value}:
        state = "failed"
    else:
        state = "succeeded"
    return BackfillView(row, state, runs)


def get_backfill(svc: Services, backfill_id: str) -> BackfillView:
    with svc.db.read() as conn:
        row = backfill_store.get_backfill(conn, backfill_id)
        return _view(row, backfill_store.count_run_states(conn, backfill_id))


def list_backfills(svc: Services, limit: int = 50) -> list[BackfillView]:
    with svc.db.read() as conn:
        return [
            _view(row, backfill_store.count_run_states(conn, row.id))
            for row in backfill_store.list_backfills(conn, limit)
        ]


CANCEL_PASSES = 3


def cancel_backfill(svc: Services, backfill_id: str) -> BackfillView:
    """Cancel the backfill as a whole: its queued runs at once, in one statement, then
    each running run (its attempts are stopped like any cancelled run's). A backfill
    that is over stays as it was."""
    if get_backfill(svc, backfill_id).state != "running":
        return get_backfill(svc, backfill_id)  # over already: nothing to cancel

    def cancel_queued() -> None:
        with svc.db.write() as conn:
            now = svc.db.clock(conn)
            backfill_store.mark_cancelled(conn, backfill_id, now)
            backfill_store.cancel_queued_runs(conn, backfill_id, now)

    # A worker starting the next queued run locks that run, then its task runs; this
    # statement takes the queued runs' task runs first: PostgreSQL may break the
    # deadlock by aborting this side, which then simply runs again.
    retry_contended(cancel_queued)
    # A run ending meanwhile may have started a queued one before the statement above:
    # look again until nothing is left open.
    for _ in range(CANCEL_PASSES):
        with svc.db.read() as conn:
            open_runs = backfill_store.list_run_ids(conn, backfill_id, _OPEN)
        if not open_runs:
            break
        for run_id in open_runs:
            retry_contended(functools.partial(end_run, svc, run_id, RunState.CANCELLED))
    svc.notify()
    return get_backfill(svc, backfill_id)

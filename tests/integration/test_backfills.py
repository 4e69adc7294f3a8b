"""Backfills on both backends: one run per logical date, at most N running at once (the
next starts in the transaction that ends one), cancel as a whole, nothing written when
the request is wrong."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.states import RunState
from headwater.errors import ValidationError
from headwater.services.backfills import cancel_backfill, create_backfill, get_backfill
from headwater.services.context import Services
from headwater.services.runs import cancel_run, get_run_view, register_pipeline
from headwater.store import backfills as backfill_store
from headwater.store import runs as run_store
from headwater.worker.code import CodeLocation
from headwater.worker.worker import Worker

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def load(day: str) -> str:
        return day

    @task
    def report(loaded: str) -> str:
        return f"report {loaded}"

    @pipeline
    def daily(day: str):
        return report(load(day))


JAN_1 = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
DAY = 86400.0


@pytest.fixture
def svc(services: Services) -> Services:
    register_pipeline(services, daily.spec)
    return services


def _runs(svc: Services, backfill_id: str) -> list[run_store.RunRow]:
    with svc.db.read() as conn:
        ids = backfill_store.list_run_ids(conn, backfill_id, tuple(RunState))
    return [get_run_view(svc, run_id).run for run_id in ids]


def test_a_thousand_logical_dates_make_a_thousand_runs(svc: Services) -> None:
    view = create_backfill(
        svc,
        "daily",
        start=JAN_1,
        end=JAN_1 + 999 * DAY,
        every="1d",
        args={"day": "{{ ds }}"},
        max_running=10,
    )
    assert view.backfill.total == 1000
    assert view.runs == {"running": 10, "queued": 990}
    assert view.state == "running"
    runs = _runs(svc, view.backfill.id)
    assert sorted(r.logical_date or 0 for r in runs) == [JAN_1 + i * DAY for i in range(1000)]
    for run in runs:
        day = datetime.fromtimestamp(run.logical_date or 0, UTC).strftime("%Y-%m-%d")
        assert run.args == {"day": day}
    # The first ten logical dates run first.
    running = sorted(r.logical_date or 0 for r in runs if r.state == RunState.RUNNING)
    assert running == [JAN_1 + i * DAY for i in range(10)]


def test_ending_a_running_run_starts_the_next_queued_one(svc: Services) -> None:
    view = create_backfill(
        svc,
        "daily",
        start=JAN_1,
        end=JAN_1 + 4 * DAY,
        every="1d",
        args={"day": "{{ ds }}"},
        max_running=2,
    )
    backfill_id = view.backfill.id
    for expected in ({"running": 2, "queued": 3}, {"running": 2, "queued": 2, "cancelled": 1}):
        assert get_backfill(svc, backfill_id).runs == expected
        running = [r for r in _runs(svc, backfill_id) if r.state == RunState.RUNNING]
        cancel_run(svc, min(running, key=lambda r: r.logical_date or 0).id)
    for _ in range(3):
        running = [r for r in _runs(svc, backfill_id) if r.state == RunState.RUNNING]
        cancel_run(svc, running[0].id)
    final = get_backfill(svc, backfill_id)
    assert final.runs == {"cancelled": 5}
    assert final.state == "failed"  # every run ended, not every run succeeded


def test_workers_run_a_backfill_never_more_than_max_running_at_once(
    svc: Services, settings: Settings
) -> None:
    view = create_backfill(
        svc,
        "daily",
        start=JAN_1,
        end=JAN_1 + 5 * DAY,
        every="1d",
        args={"day": "{{ ds }}"},
        max_running=2,
    )
    worker = Worker(svc, CodeLocation(REGISTRY), settings, concurrency=4)
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        done = threading.Event()
        for _ in range(600):
            if get_backfill(svc, view.backfill.id).state != "running":
                done.set()
                break
            done.wait(0.1)
    finally:
        worker.stop()
        thread.join()
    final = get_backfill(svc, view.backfill.id)
    assert final.state == "succeeded"
    assert final.runs == {"succeeded": 6}
    # Each run lived from its first attempt to its end; at most two overlap.
    spans = []
    for run in _runs(svc, view.backfill.id):
        attempts = get_run_view(svc, run.id).attempts
        spans.append((min(a.started_at for a in attempts), run.ended_at or 0))
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2


def test_cancel_as_a_whole(svc: Services) -> None:
    view = create_backfill(
        svc,
        "daily",
        start=JAN_1,
        end=JAN_1 + 19 * DAY,
        every="1d",
        args={"day": "x"},
        max_running=3,
    )
    cancelled = cancel_backfill(svc, view.backfill.id)
    assert cancelled.state == "cancelled"
    assert cancelled.runs == {"cancelled": 20}
    assert all(r.ended_at is not None for r in _runs(svc, view.backfill.id))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"args": {"day": "{{ nope }}"}}, "args.day"),
        ({"args": {"day": 3}}, "args.day"),
        ({"end": JAN_1 - DAY}, "end"),
        ({"every": "sometimes"}, "every"),
        ({"timezone": "Atlantis/Capital"}, "timezone"),
        ({"max_running": 0}, "max_running"),
    ],
)
def test_bad_backfills_write_nothing(svc: Services, changes: dict[str, object], field: str) -> None:
    values: dict[str, object] = {
        "start": JAN_1,
        "end": JAN_1 + 3 * DAY,
        "every": "1d",
        "args": {"day": "{{ ds }}"},
    }
    with pytest.raises(ValidationError) as caught:
        create_backfill(svc, "daily", **(values | changes))  # type: ignore[arg-type]
    assert field in [p.path for p in caught.value.problems]
    with svc.db.read() as conn:
        assert run_store.list_runs(conn, "daily") == []
        assert backfill_store.list_backfills(conn) == []


def test_days_step_the_wall_clock_across_dst(svc: Services) -> None:
    london_start = datetime(2026, 3, 28, tzinfo=UTC).timestamp()  # midnight GMT
    view = create_backfill(
        svc,
        "daily",
        start=london_start,
        end=london_start + 2 * DAY,
        every="1d",
        timezone="Europe/London",
        args={"day": "{{ ts }}"},
    )
    days = sorted(r.args["day"] for r in _runs(svc, view.backfill.id))
    assert days == [
        "2026-03-28T00:00:00+00:00",
        "2026-03-29T00:00:00+00:00",
        "2026-03-30T00:00:00+01:00",  # midnight BST: 23 hours after the one before
    ]

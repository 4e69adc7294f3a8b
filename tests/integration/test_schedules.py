"""Schedules on both backends: definitions checked against the pipeline, ticks fired
exactly once however many schedulers race, catch-up after downtime, templates, pause,
resume and delete."""

from __future__ import annotations

import itertools
import threading

import pytest
import sqlalchemy as sa

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.schedule import ScheduleSpec
from headwater.errors import Conflict, NotFound, ValidationError
from headwater.services import schedules as schedule_service
from headwater.services.context import Services, open_services
from headwater.services.runs import get_run_view, register_pipeline
from headwater.store import runs as run_store
from headwater.store.tables import schedules

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def load(day: str) -> str:
        return day

    @pipeline
    def daily(day: str):
        return load(day)


DAY_ARGS = {"day": "{{ ds }}"}


def _spec(**changes: object) -> ScheduleSpec:
    values: dict[str, object] = {
        "name": "nightly",
        "pipeline": "daily",
        "interval": "1h",
        "args": DAY_ARGS,
    }
    return ScheduleSpec(**(values | changes))


def _pretend_down_since(svc: Services, name: str, seconds: float) -> None:
    """As if no scheduler had run for `seconds`: the schedule last checked back then."""
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        conn.execute(
            schedules.update()
            .where(schedules.c.name == name)
            .values(checked_until=now - seconds, next_tick_at=now - seconds)
        )


def _runs(svc: Services) -> list[run_store.RunRow]:
    with svc.db.read() as conn:
        return run_store.list_runs(conn, "daily", 10_000)


@pytest.fixture
def svc(services: Services) -> Services:
    register_pipeline(services, daily.spec)
    return services


def test_a_new_schedule_shows_its_next_five_fire_times(svc: Services) -> None:
    view = schedule_service.create_schedule(svc, _spec(cron="30 2 * * *", interval=None))
    times = view.next_fire_times
    assert len(times) == 5
    assert all(later - earlier == 86400 for earlier, later in itertools.pairwise(times))
    assert schedule_service.fire_due_schedules(svc) == 0  # nothing due yet
    with pytest.raises(Conflict):
        schedule_service.create_schedule(svc, _spec(cron="@daily", interval=None))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"pipeline": "nope"}, "pipeline"),
        ({"cron": "99 * * * *", "interval": None}, "cron"),
        ({"timezone": "Moon/Base"}, "timezone"),
        ({"interval": "soon"}, "interval"),
        ({"args": {"day": "{{ tomorrow }}"}}, "args.day"),
        ({"args": {"day": 5}}, "args.day"),
    ],
)
def test_bad_definitions_are_refused_naming_the_field(
    svc: Services, changes: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        schedule_service.create_schedule(svc, _spec(**changes))
    assert field in [p.path for p in caught.value.problems]
    assert schedule_service.list_schedules(svc) == []


@pytest.mark.parametrize(("catchup", "expected"), [("skip", 0), ("latest", 1), ("all", 5)])
def test_catchup_after_downtime(svc: Services, catchup: str, expected: int) -> None:
    schedule_service.create_schedule(svc, _spec(catchup=catchup, max_catchup=5))
    _pretend_down_since(svc, "nightly", 24 * 3600)  # 24 hourly ticks missed
    assert schedule_service.fire_due_schedules(svc) == expected
    assert len(_runs(svc)) == expected
    assert schedule_service.fire_due_schedules(svc) == 0  # handled, never again


def test_a_tick_renders_its_arguments_and_records_its_run(svc: Services) -> None:
    schedule_service.create_schedule(svc, _spec(catchup="latest"))
    _pretend_down_since(svc, "nightly", 2 * 3600)
    assert schedule_service.fire_due_schedules(svc) == 1
    (run,) = _runs(svc)
    view = get_run_view(svc, run.id)
    assert view.run.schedule == "nightly"
    assert view.run.logical_date is not None
    # The logical date is the start of the interval: one hour before the tick.
    (tick,) = schedule_service.list_ticks(svc, "nightly")
    assert tick.run_id == run.id
    assert tick.tick_at - view.run.logical_date == 3600
    assert view.run.args["day"] == _utc_day(view.run.logical_date)


def _utc_day(instant: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(instant, UTC).strftime("%Y-%m-%d")


def test_racing_schedulers_fire_each_tick_once(svc: Services, settings: Settings) -> None:
    schedule_service.create_schedule(svc, _spec(interval="1m", catchup="all", max_catchup=50))
    _pretend_down_since(svc, "nightly", 40 * 60)
    gate = threading.Barrier(4)
    created: list[int] = []
    errors: list[BaseException] = []

    def scheduler() -> None:
        own = open_services(settings)
        try:
            gate.wait()
            for _ in range(3):
                created.append(schedule_service.fire_due_schedules(own))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    runs = _runs(svc)
    assert sum(created) == len(runs)
    assert 40 <= len(runs) <= 41  # one per minute of the 40 (the clock moved meanwhile)
    assert len({r.logical_date for r in runs}) == len(runs)


def test_a_tick_whose_run_is_invalid_is_recorded_with_the_reason(svc: Services) -> None:
    schedule_service.create_schedule(svc, _spec(catchup="latest"))
    with svc.db.write() as conn:  # the pipeline's arguments changed since
        conn.execute(schedules.update().values(args='{"day": 5}'))
    _pretend_down_since(svc, "nightly", 2 * 3600)
    assert schedule_service.fire_due_schedules(svc) == 0
    (tick,) = schedule_service.list_ticks(svc, "nightly")
    assert tick.run_id is None
    assert tick.error is not None
    assert "day" in tick.error
    assert _runs(svc) == []


def test_pause_resume_and_delete(svc: Services) -> None:
    schedule_service.create_schedule(svc, _spec(catchup="latest"))
    paused = schedule_service.pause_schedule(svc, "nightly")
    assert paused.schedule.state == "paused"
    assert paused.next_fire_times == []
    _pretend_down_since(svc, "nightly", 3 * 3600)
    assert schedule_service.fire_due_schedules(svc) == 0
    resumed = schedule_service.resume_schedule(svc, "nightly")
    assert resumed.schedule.state == "active"
    assert len(resumed.next_fire_times) == 5
    assert schedule_service.fire_due_schedules(svc) == 1  # latest of the missed ones
    schedule_service.delete_schedule(svc, "nightly")
    with pytest.raises(NotFound):
        schedule_service.get_schedule(svc, "nightly")
    with pytest.raises(NotFound):
        schedule_service.delete_schedule(svc, "nightly")


def test_code_schedules_register_idempotently_and_keep_their_state(svc: Services) -> None:
    schedule_service.register_schedules(svc, [_spec()])
    schedule_service.pause_schedule(svc, "nightly")
    schedule_service.register_schedules(svc, [_spec(interval="2h")])  # a new deploy
    view = schedule_service.get_schedule(svc, "nightly")
    assert view.schedule.state == "paused"
    assert view.schedule.interval_seconds == 7200
    assert view.schedule.origin == "code"
    with svc.db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(schedules)).scalar() == 1

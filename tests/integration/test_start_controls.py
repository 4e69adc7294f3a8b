"""start_at / start_in / expires_at on both backends: a run is not claimable before its
start, and one that has not started by its expiry ends as expired."""

from __future__ import annotations

import time

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.states import RunState, TaskRunState
from headwater.errors import ValidationError
from headwater.services.attempts import claim_work
from headwater.services.context import Services
from headwater.services.expiry import expire_runs
from headwater.services.runs import StartControls, get_run_view, register_pipeline, start_run

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def first() -> int:
        return 1

    @task
    def second(x: int) -> int:
        return x + 1

    @pipeline
    def chain():
        return second(first())


def _claim(svc: Services) -> list[object]:
    return list(claim_work(svc, worker_id="w1", limit=10, lease_seconds=30.0))


def _now(svc: Services) -> float:
    with svc.db.read() as conn:
        return svc.db.clock(conn)


@pytest.fixture
def svc(services: Services) -> Services:
    register_pipeline(services, chain.spec)
    return services


def test_a_run_is_not_claimable_before_its_start(svc: Services) -> None:
    later = start_run(svc, "chain", controls=StartControls(start_in=3600))
    assert _claim(svc) == []
    view = get_run_view(svc, later)
    assert view.run.state == RunState.RUNNING
    assert view.run.start_at is not None
    assert view.run.start_at - _now(svc) > 3500
    now_run = start_run(svc, "chain", controls=StartControls(start_at=_now(svc) - 5))
    claimed = _claim(svc)
    assert [c.run_id for c in claimed] == [now_run]  # type: ignore[attr-defined]


def test_a_run_not_started_by_its_expiry_ends_as_expired(svc: Services) -> None:
    # No worker takes it in time (none runs here).
    run_id = start_run(svc, "chain", controls=StartControls(expires_at=_now(svc) + 0.3))
    assert expire_runs(svc) == 0  # not yet
    time.sleep(0.5)
    assert expire_runs(svc) == 1
    view = get_run_view(svc, run_id)
    assert view.run.state == RunState.EXPIRED
    assert {tr.state for tr in view.task_runs} == {TaskRunState.CANCELLED}
    assert view.run.ended_at is not None
    assert expire_runs(svc) == 0


def test_a_run_that_started_in_time_is_not_expired(svc: Services) -> None:
    run_id = start_run(svc, "chain", controls=StartControls(expires_at=_now(svc) + 0.3))
    assert len(_claim(svc)) == 1  # its first task started
    time.sleep(0.5)
    assert expire_runs(svc) == 0
    assert get_run_view(svc, run_id).run.state == RunState.RUNNING


@pytest.mark.parametrize(
    ("controls", "field"),
    [
        (StartControls(start_at=1.0, start_in=5.0), "start_in"),
        (StartControls(expires_at=1.0), "expires_at"),
        (StartControls(start_in=7200, expires_at=time.time() + 3600), "expires_at"),
    ],
)
def test_contradictory_start_controls_are_refused(
    svc: Services, controls: StartControls, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        start_run(svc, "chain", controls=controls)
    assert field in [p.path for p in caught.value.problems]

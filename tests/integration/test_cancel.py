"""Cancelling one task run, on both backends: it stops, what depends on it does not run,
the rest of the run carries on, and late results are refused."""

from __future__ import annotations

import threading
import time

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.errors import NotFound
from headwater.local import run_pipeline
from headwater.services.context import Services
from headwater.services.runs import cancel_task_run, get_run_view, register_pipeline, start_run

REGISTRY = Registry()
STARTED = threading.Event()

with use_registry(REGISTRY):

    @task(cache=False)
    def quick(i: int) -> int:
        return i

    @task(cache=False)
    def stuck(seconds: float = 30.0) -> int:
        STARTED.set()
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:  # sliced, so an interrupt lands quickly
            time.sleep(0.01)
        return 0

    @task(cache=False)
    def after(x: int) -> int:
        return x

    @pipeline
    def branches():
        return {"other": quick(1), "blocked": after(stuck())}

    @pipeline
    def mapped():
        return after(quick.map([1, 2, 3])[0])


def _states(svc: Services, run_id: str) -> dict[str, str]:
    return {tr.label: tr.state.value for tr in get_run_view(svc, run_id).task_runs}


def test_cancelling_a_waiting_node_skips_its_downstream(services: Services) -> None:
    register_pipeline(services, branches.spec)
    run_id = start_run(services, "branches")
    assert cancel_task_run(services, run_id, "stuck")
    states = _states(services, run_id)
    assert states["stuck"] == "cancelled"
    assert states["after"] == "upstream_failed"
    assert states["quick"] == "ready"  # the other branch is untouched
    assert not cancel_task_run(services, run_id, "stuck")  # already ended


def test_cancelling_a_running_task_run_stops_it_and_the_run_ends(
    services: Services, settings: Settings
) -> None:
    STARTED.clear()
    found: dict[str, str] = {}

    def cancel_when_started(run_id: str) -> None:
        found["run"] = run_id

        def later() -> None:
            assert STARTED.wait(10)
            cancel_task_run(services, run_id, "stuck")

        threading.Thread(target=later, daemon=True).start()

    began = time.monotonic()
    result = run_pipeline(
        services, settings, branches, registry=REGISTRY, on_start=cancel_when_started
    )
    # Stopped at the next heartbeat (0.5 s here), far before the task's 30 s.
    assert time.monotonic() - began < 15
    assert result.state == "failed"
    assert result.task_states == {
        "quick": "succeeded",
        "stuck": "cancelled",
        "after": "upstream_failed",
    }
    stuck_attempts = [a for a in result.view.attempts if a.state.value == "cancelled"]
    assert len(stuck_attempts) == 1


def test_cancelling_a_map_node_cancels_its_elements(services: Services) -> None:
    register_pipeline(services, mapped.spec)
    run_id = start_run(services, "mapped")
    assert cancel_task_run(services, run_id, "quick")
    view = get_run_view(services, run_id)
    assert {tr.label: tr.state.value for tr in view.task_runs} == {
        "quick": "cancelled",
        "quick[0]": "cancelled",
        "quick[1]": "cancelled",
        "quick[2]": "cancelled",
        "after": "upstream_failed",
    }
    assert view.run.state == "failed"
    assert view.run.remaining == 0


def test_unknown_task_runs_are_not_found(services: Services) -> None:
    register_pipeline(services, branches.spec)
    run_id = start_run(services, "branches")
    with pytest.raises(NotFound):
        cancel_task_run(services, run_id, "nope")

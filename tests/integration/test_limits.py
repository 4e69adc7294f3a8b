"""Concurrency limits on both backends: slots bound what runs at once and never leak."""

from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.errors import ValidationError
from headwater.local import run_pipeline
from headwater.services.attempts import Success, claim_work, reap_expired_leases, record_success
from headwater.services.context import Services
from headwater.services.limits import delete_limit, list_limits, set_limit
from headwater.services.runs import register_pipeline, start_run
from headwater.store.tables import attempts

REGISTRY = Registry()
RUNNING = {"now": 0, "most": 0}
LOCK = threading.Lock()

with use_registry(REGISTRY):

    @task(tags=["db"])
    def touch_db(i: int) -> int:
        with LOCK:
            RUNNING["now"] += 1
            RUNNING["most"] = max(RUNNING["most"], RUNNING["now"])
        time.sleep(0.05)
        with LOCK:
            RUNNING["now"] -= 1
        return i

    @task
    def free(i: int) -> int:
        return i

    @pipeline
    def six_db_tasks():
        return [touch_db(i) for i in range(6)]

    @pipeline
    def mixed():
        return [touch_db(0), touch_db(1), free(2), free(3)]


def _claim(svc: Services, n: int = 10):  # type: ignore[no-untyped-def]
    return claim_work(svc, worker_id="w", limit=n, lease_seconds=30)


def _done(svc: Services, claim) -> None:  # type: ignore[no-untyped-def]
    record_success(svc, claim, Success("1", "k" * 64, "{}"))


def test_a_pipeline_limit_bounds_the_claims(services: Services) -> None:
    register_pipeline(services, six_db_tasks.spec)
    set_limit(services, "pipeline:six_db_tasks", 2)
    start_run(services, "six_db_tasks")
    first = _claim(services)
    assert len(first) == 2
    assert _claim(services) == []
    _done(services, first[0])
    again = _claim(services)
    assert len(again) == 1
    assert [r.running for r in list_limits(services)] == [2]


def test_a_full_limit_does_not_hold_up_other_work(services: Services) -> None:
    register_pipeline(services, mixed.spec)
    set_limit(services, "tag:db", 1)
    start_run(services, "mixed")
    claimed = _claim(services)
    assert sorted(c.node_id for c in claimed) == ["free", "free_2", "touch_db"]


def test_a_dead_holder_frees_its_slot_once_reaped(services: Services) -> None:
    register_pipeline(services, six_db_tasks.spec)
    set_limit(services, "tag:db", 1)
    start_run(services, "six_db_tasks")
    (held,) = _claim(services)
    assert _claim(services) == []
    with services.db.write() as conn:  # the holder's lease runs out
        conn.execute(
            sa.update(attempts).where(attempts.c.id == held.attempt_id).values(lease_until=0)
        )
    assert reap_expired_leases(services) == 1
    assert len(_claim(services)) == 1


def test_a_run_never_exceeds_its_limit(services: Services, settings: Settings) -> None:
    RUNNING.update(now=0, most=0)
    register_pipeline(services, six_db_tasks.spec)
    set_limit(services, "task:" + touch_db.name, 2)
    result = run_pipeline(services, settings, six_db_tasks, registry=REGISTRY, concurrency=6)
    assert result.state == "succeeded"
    assert RUNNING["most"] == 2


def test_limits_are_validated_and_can_be_removed(services: Services) -> None:
    with pytest.raises(ValidationError):
        set_limit(services, "colour:blue", 2)
    with pytest.raises(ValidationError):
        set_limit(services, "tag:db", 0)
    set_limit(services, "tag:db", 3)
    set_limit(services, "tag:db", 1)
    assert [(r.key, r.max_running) for r in list_limits(services)] == [("tag:db", 1)]
    delete_limit(services, "tag:db")
    assert list_limits(services) == []

"""Idempotency keys on both backends: one run per key, however many callers race."""

from __future__ import annotations

import threading

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.errors import Conflict
from headwater.services.context import Services, open_services
from headwater.services.runs import get_run_view, register_pipeline, start_run
from headwater.store import runs as run_store

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def hello(name: str) -> str:
        return f"hello {name}"

    @pipeline
    def greet(name: str = "world"):
        return hello(name)


def test_same_key_same_request_is_one_run(services: Services) -> None:
    register_pipeline(services, greet.spec)
    first = start_run(services, "greet", {"name": "a"}, idempotency_key="k1")
    assert start_run(services, "greet", {"name": "a"}, idempotency_key="k1") == first
    with pytest.raises(Conflict):
        start_run(services, "greet", {"name": "b"}, idempotency_key="k1")
    assert get_run_view(services, first).run.args == {"name": "a"}
    assert start_run(services, "greet", {"name": "a"}, idempotency_key="k2") != first


def test_callers_racing_with_one_key_get_one_run(services: Services, settings: Settings) -> None:
    register_pipeline(services, greet.spec)
    ids: list[str] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(8)

    def call() -> None:
        svc = open_services(settings)  # each caller its own process-like connection pool
        try:
            gate.wait()
            ids.append(start_run(svc, "greet", {"name": "x"}, idempotency_key="race"))
        except BaseException as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(exc)
        finally:
            svc.close()

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(set(ids)) == 1
    with services.db.read() as conn:
        assert [r.id for r in run_store.list_runs(conn, "greet")] == ids[:1]

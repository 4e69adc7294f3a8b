"""The cache of outputs on both backends: small outputs kept in the database, larger
ones and files in the artifact store. A forced run replaces what the cache gives for a
key; a resumed run keeps where its reused outputs live; the API shows each task run its
own outputs (review findings on the outputs-in-the-database change)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from headwater import current_context, pipeline, task
from headwater.api.app import create_app
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.local import RunResult, run_pipeline
from headwater.services.context import Services

REGISTRY = Registry()
STATE = {"calls": 0, "write_file": False, "fail_down": False}

with use_registry(REGISTRY):

    @task
    def counted() -> int:
        """Returns how many times it has run; writes f.txt when asked to."""
        STATE["calls"] += 1
        if STATE["write_file"]:
            (current_context().output_dir / "f.txt").write_text(str(STATE["calls"]))
        return STATE["calls"]

    @task
    def down(x: int) -> int:
        if STATE["fail_down"]:
            raise RuntimeError("down fails")
        return x + 100

    @pipeline
    def counting():
        return counted()

    @pipeline
    def counting_then_down():
        return down(counted())


@pytest.fixture(autouse=True)
def _fresh_state() -> None:
    STATE.update(calls=0, write_file=False, fail_down=False)


def _run(svc: Services, settings: Settings, pipe: object, **kwargs: object) -> RunResult:
    return run_pipeline(svc, settings, pipe, registry=REGISTRY, **kwargs)  # type: ignore[arg-type]


def _task_run_id(result: RunResult, node: str) -> int:
    return next(tr.id for tr in result.view.task_runs if tr.node_id == node)


def test_a_forced_run_replaces_what_the_cache_gives(services: Services, settings: Settings) -> None:
    assert _run(services, settings, counting).output == 1
    assert _run(services, settings, counting, force=True).output == 2
    assert _run(services, settings, counting).output == 2  # the newest, not the first

    STATE["write_file"] = True  # a forced run that writes files: the store has the newest
    assert _run(services, settings, counting, force=True).output == 3
    STATE["write_file"] = False
    again = _run(services, settings, counting)
    assert (again.output, again.task_states["counted"]) == (3, "cached")
    assert STATE["calls"] == 3


def test_the_api_shows_a_task_runs_own_outputs_not_the_stores(
    services: Services, settings: Settings
) -> None:
    STATE["write_file"] = True
    with_file = _run(services, settings, counting, force=True)
    STATE["write_file"] = False
    without = _run(services, settings, counting, force=True)  # same key, no files, 2
    with TestClient(create_app(services)) as client:
        listed = client.get(f"/api/v1/task-runs/{_task_run_id(without, 'counted')}/artifacts")
        assert sorted(a["path"] for a in listed.json()) == ["output.json", "params.json"]
        own = client.get(
            f"/api/v1/task-runs/{_task_run_id(without, 'counted')}/artifacts/output.json"
        )
        assert own.text == "2"
        older = client.get(f"/api/v1/task-runs/{_task_run_id(with_file, 'counted')}/artifacts")
        assert sorted(a["path"] for a in older.json()) == ["f.txt", "output.json", "params.json"]


def test_a_resumed_run_keeps_outputs_that_wrote_files_in_the_store(
    services: Services, settings: Settings
) -> None:
    STATE.update(write_file=True, fail_down=True)
    failed = _run(services, settings, counting_then_down)
    assert failed.task_states == {"counted": "succeeded", "down": "failed"}
    STATE.update(write_file=False, fail_down=False)
    resumed = _run(services, settings, counting_then_down, resume_from=failed.run_id)
    assert resumed.output == 101
    assert resumed.task_states["counted"] == "cached"

    # The files are gone (a wiped disk, a moved store): the database's copy of the output
    # does not stand in for them, so the task runs again.
    shutil.rmtree(Path(settings.artifacts) / "counting_then_down")
    later = _run(services, settings, counting_then_down)
    assert later.task_states["counted"] == "succeeded"
    assert STATE["calls"] == 2

"""What the web UI reads, on both backends: why task runs wait, live run events (only
what changed), queue depths, pipelines with their last run, and the pages themselves."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headwater import pipeline, task
from headwater.api.app import create_app
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.states import AttemptState
from headwater.services.attempts import Failure, Success, claim_work, record_failure, record_success
from headwater.services.context import Services
from headwater.services.limits import set_limit
from headwater.services.runs import register_pipeline, start_run
from headwater.services.views import (
    get_task_run_detail,
    list_pipeline_overviews,
    list_queue_depths,
    list_task_run_progress,
)
from headwater.services.workers import register_worker

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task(retries=2, backoff={"base_seconds": 600, "jitter": False})
    def first(n: int = 1) -> int:
        return n

    @task(queue="gpu")
    def second(x: int) -> int:
        return x

    @pipeline
    def chain(n: int = 1):
        return second(first(n))


def _claim(svc: Services, queues: list[str] | None = None) -> Any:
    claims = claim_work(svc, worker_id="w1", limit=1, lease_seconds=30, queues=queues)
    assert len(claims) == 1
    return claims[0]


def _task_run_ids(svc: Services, run_id: str) -> dict[str, int]:
    _, rows = list_task_run_progress(svc, run_id)
    return {r.node: r.id for r in rows}


def _waiting(svc: Services, run_id: str, node: str) -> list[str]:
    return get_task_run_detail(svc, run_id, _task_run_ids(svc, run_id)[node]).waiting


@pytest.fixture
def run_id(services: Services) -> str:
    register_pipeline(services, chain.spec)
    return start_run(services, "chain")


def test_a_pending_task_run_waits_for_its_upstream(services: Services, run_id: str) -> None:
    assert _waiting(services, run_id, "second") == ["waiting for upstream task runs: first (ready)"]


def test_a_ready_task_run_waits_for_a_live_worker_on_its_queue(
    services: Services, run_id: str
) -> None:
    assert _waiting(services, run_id, "first") == ["no live worker takes work from queue 'default'"]
    register_worker(services, worker_id="w-gpu", host="h", pid=1, queues=["gpu"], concurrency=1)
    assert _waiting(services, run_id, "first") == ["no live worker takes work from queue 'default'"]
    register_worker(services, worker_id="w-all", host="h", pid=2, queues=[], concurrency=2)
    assert _waiting(services, run_id, "first") == [
        "waiting for a free worker slot on queue 'default': 0 claimable task run(s) ahead of it"
    ]


def test_a_ready_task_run_waits_for_a_concurrency_slot(services: Services) -> None:
    register_pipeline(services, chain.spec)
    register_worker(services, worker_id="w-all", host="h", pid=2, queues=[], concurrency=8)
    set_limit(services, "task:" + chain.spec.node_map["first"].task, 1)
    holder = start_run(services, "chain")
    _claim(services, ["default"])  # takes the one slot
    waiting = start_run(services, "chain")
    assert _waiting(services, waiting, "first") == [
        f"concurrency limit task:{chain.spec.node_map['first'].task}: 1 of 1 slots taken"
    ]
    assert _waiting(services, holder, "first") == []  # running: not waiting


def test_a_task_run_in_retry_backoff_says_until_when(services: Services, run_id: str) -> None:
    register_worker(services, worker_id="w-all", host="h", pid=2, queues=[], concurrency=2)
    claim = _claim(services)
    record_failure(services, claim, Failure(AttemptState.FAILED, "OSError", "disk full"))
    (reason,) = _waiting(services, run_id, "first")
    assert reason.startswith("not claimable before ")
    # The backoff (600 s) is capped by the default max_seconds (300 s).
    assert re.search(r"\(in (299|300) s\): a retry backoff", reason), reason


def test_progress_depths_and_last_runs(services: Services, run_id: str) -> None:
    state, rows = list_task_run_progress(services, run_id)
    assert state == "running"
    assert {(r.node, r.state, r.attempts) for r in rows} == {
        ("first", "ready", 0),
        ("second", "pending", 0),
    }
    depths = list_queue_depths(services)
    assert [(d.queue, d.ready, d.running) for d in depths] == [("default", 1, 0)]
    _claim(services)
    depths = list_queue_depths(services)
    assert [(d.queue, d.ready, d.running) for d in depths] == [("default", 0, 1)]
    (overview,) = list_pipeline_overviews(services)
    assert overview.name == "chain"
    assert overview.nodes == 2
    assert overview.last_run is not None
    assert (overview.last_run.id, overview.last_run.state) == (run_id, "running")


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    with TestClient(create_app(services)) as found:
        yield found


def _events(lines: Iterator[str]) -> Iterator[tuple[str, Any]]:
    name = None
    for line in lines:
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            yield str(name), json.loads(line[len("data: ") :])


def test_run_events_send_a_snapshot_then_only_changes_then_end(
    services: Services, client: TestClient, run_id: str
) -> None:
    with client.stream("GET", f"/api/v1/runs/{run_id}/events") as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events = _events(response.iter_lines())
        name, snapshot = next(events)
        assert name == "snapshot"
        assert snapshot["run"]["state"] == "running"
        assert {t["node"]: t["state"] for t in snapshot["task_runs"]} == {
            "first": "ready",
            "second": "pending",
        }

        claim = _claim(services)
        name, changed = next(events)
        assert name == "task_runs"
        assert [(t["node"], t["state"], t["attempts"]) for t in changed] == [
            ("first", "running", 1)
        ]  # the pending one did not change, so it is not sent again

        record_success(services, claim, Success("1", "a" * 64, "{}"))
        name, changed = next(events)
        assert {t["node"]: t["state"] for t in changed} == {
            "first": "succeeded",
            "second": "ready",
        }
        record_success(services, _claim(services, ["gpu"]), Success("1", "b" * 64, "{}"))
        seen = list(events)
    assert ("run", {"id": run_id, "state": "succeeded"}) in seen
    assert seen[-1] == ("end", {"id": run_id, "state": "succeeded"})


def test_events_of_an_unknown_run_are_a_404_problem(client: TestClient) -> None:
    response = client.get("/api/v1/runs/nope/events")
    assert response.status_code == 404
    assert response.json()["type"] == "urn:headwater:problem:not-found"


def test_pages_render_from_the_store(client: TestClient, run_id: str) -> None:
    assert "chain" in client.get("/").text
    page = client.get(f"/runs/{run_id}")
    assert page.status_code == 200
    assert 'data-state="running"' in page.text
    ids = _task_run_ids(client.app.state.svc, run_id)  # type: ignore[attr-defined]
    panel = client.get(f"/runs/{run_id}/task-runs/{ids['second']}").text
    assert "Why is this waiting?" in panel
    assert "waiting for upstream task runs: first (ready)" in panel
    runs = client.get("/runs", params={"pipeline": "chain", "state": "running"}).text
    assert run_id in runs
    assert run_id not in client.get("/runs", params={"state": "failed"}).text
    bad = client.get("/runs", params={"since": "last tuesday"}).text
    assert "not a date and time" in bad
    for path in ("/pipelines/chain", "/workers", "/queues", "/schedules"):
        assert client.get(path).status_code == 200, path


def test_a_browser_layout_is_checked_then_served_to_later_pages(
    client: TestClient, run_id: str
) -> None:
    version = chain.spec.content_hash
    url = f"/ui/pipelines/chain/layout?version={version}"
    wrong = {"width": 10, "height": 10, "nodes": [[1, 1]], "edges": [[0, 0, 1, 1]]}
    response = client.put(url, json=wrong)
    assert response.status_code == 422
    assert "1 positions for 2 nodes" in response.json()["detail"]
    layout = {
        "width": 300,
        "height": 50,
        "nodes": [[40, 20], [200, 20]],
        "edges": [[80, 20, 160, 20]],
    }
    assert client.put(url, json=layout).status_code == 204
    assert client.put("/ui/pipelines/chain/layout?version=old", json=layout).status_code == 409
    page = client.get(f"/runs/{run_id}").text
    embedded = page.split('id="graph-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded)["layout"]["nodes"] == [[40.0, 20.0], [200.0, 20.0]]


def test_an_unknown_run_or_pipeline_is_a_404_page(client: TestClient) -> None:
    for path in ("/runs/nope", "/pipelines/nope", "/runs/nope/task-runs/1"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text

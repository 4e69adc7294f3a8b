"""Resume and re-run over HTTP; workers, queues, /metrics and CORS — against a real
`headwater serve` (SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .api_server import is_problem, serving, wait_for, wait_run

FLAKY = '''
"""A pipeline that fails until a file exists, counting the executions of its tasks."""

import time
from pathlib import Path

from headwater import pipeline, task


@task
def prepare(counter: str) -> int:
    with open(counter, "a") as f:
        f.write("prepare\\n")
    return 1


@task(retries=0)
def finish(ready: int, gate: str) -> int:
    if not Path(gate).exists():
        raise RuntimeError("not yet")
    while Path(gate).read_text() == "hold":
        time.sleep(0.05)
    return ready + 1


@pipeline
def flaky(counter: str, gate: str):
    return finish(prepare(counter), gate)
'''


@pytest.fixture
def project(examples: Path) -> Path:
    (examples / "pipelines" / "flaky.py").write_text(FLAKY)
    return examples


@pytest.fixture
def server(project: Path, database_url: str) -> Iterator[str]:
    with serving(project, database_url) as url:
        yield url


def _states(run: dict[str, Any]) -> dict[str, str]:
    return {t["node"]: t["state"] for t in run["task_runs"]}


def test_resume_a_failed_run_then_rerun_it_whole(server: str, tmp_path: Path) -> None:
    counter, gate = tmp_path / "counter", tmp_path / "gate"
    args = {"counter": str(counter), "gate": str(gate)}
    with httpx.Client(base_url=server) as client:
        first = client.post("/api/v1/pipelines/flaky/runs", json={"args": args, "tags": ["t"]})
        failed = wait_run(client, first.json()["status_url"])
        assert failed["state"] == "failed"

        gate.write_text("go")
        resumed = client.post(f"/api/v1/runs/{failed['id']}/resume")
        assert resumed.status_code == 202, resumed.text
        run = wait_run(client, resumed.json()["status_url"])
        assert run["state"] == "succeeded"
        assert run["resumed_from"] == failed["id"]
        assert run["args"] == args
        assert run["tags"] == ["t"]
        assert _states(run) == {"prepare": "cached", "finish": "succeeded"}
        assert counter.read_text() == "prepare\n"  # prepare was not run again

        again = client.post(f"/api/v1/runs/{run['id']}/rerun")
        assert again.status_code == 202, again.text
        rerun = wait_run(client, again.json()["status_url"])
        assert rerun["state"] == "succeeded"
        assert _states(rerun) == {"prepare": "succeeded", "finish": "succeeded"}
        assert counter.read_text() == "prepare\nprepare\n"

        body = is_problem(client.post(f"/api/v1/runs/{run['id']}/resume"), 409, "conflict")
        assert "succeeded" in body["detail"]
        is_problem(client.post("/api/v1/runs/nope/resume"), 404, "not-found")
        is_problem(client.post("/api/v1/runs/nope/rerun"), 404, "not-found")


def test_workers_queues_and_metrics(server: str, tmp_path: Path) -> None:
    counter, gate = tmp_path / "counter", tmp_path / "gate"
    gate.write_text("hold")  # `finish` spins until the gate says otherwise
    with httpx.Client(base_url=server) as client:
        workers = client.get("/api/v1/workers").json()
        assert len(workers) == 1
        assert workers[0]["state"] == "running"
        assert workers[0]["queues"] == []

        args = {"counter": str(counter), "gate": str(gate)}
        started = client.post("/api/v1/pipelines/flaky/runs", json={"args": args})
        status_url = started.json()["status_url"]
        try:

            def finish_running() -> bool:
                run = client.get(status_url).json()
                return _states(run).get("finish") == "running"

            wait_for(finish_running, "the second task to run")
            assert client.get("/api/v1/queues").json() == [
                {"queue": "default", "ready": 0, "running": 1, "oldest_ready_age_seconds": None}
            ]
            metrics = client.get("/metrics")
            assert metrics.status_code == 200
            assert 'headwater_runs{state="running"} 1.0' in metrics.text
            assert 'headwater_queue_running{queue="default"} 1.0' in metrics.text
            assert "headwater_lease_reaps_total 0.0" in metrics.text
            assert 'headwater_workers{state="running"} 1.0' in metrics.text
        finally:
            gate.write_text("go")
        wait_run(client, status_url)
        assert client.get("/api/v1/queues").json() == []
        metrics = client.get("/metrics").text
        assert 'headwater_runs{state="succeeded"} 1.0' in metrics
        assert 'headwater_attempt_duration_seconds_count{state="succeeded"} 2.0' in metrics
        assert 'headwater_attempt_duration_seconds_bucket{le="+Inf",state="succeeded"} 2.0' in (
            metrics
        )
        route = 'route="/api/v1/runs/{run_id}",status="200"'
        assert any(
            line.startswith("headwater_http_request_duration_seconds_count") and route in line
            for line in metrics.splitlines()
        )
        # CORS is off unless configured: no browser on another origin may call the API.
        preflight = client.options(
            "/api/v1/runs",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "GET"},
        )
        assert "access-control-allow-origin" not in preflight.headers


def test_cors_when_configured(examples: Path, database_url: str) -> None:
    with (
        serving(examples, database_url, HEADWATER_CORS_ORIGINS="https://ui.example") as url,
        httpx.Client(base_url=url) as client,
    ):
        allowed = client.get("/api/v1/pipelines", headers={"Origin": "https://ui.example"})
        assert allowed.headers["access-control-allow-origin"] == "https://ui.example"
        other = client.get("/api/v1/pipelines", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers
        preflight = client.options(
            "/api/v1/runs",
            headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert "POST" in preflight.headers["access-control-allow-methods"]

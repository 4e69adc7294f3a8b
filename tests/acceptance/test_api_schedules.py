"""Schedules and start controls through the HTTP API of a real `headwater serve`, whose
embedded scheduler fires the ticks (SQLite and PostgreSQL)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .api_server import PROBLEM, serving

API = "/api/v1"


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    """`headwater serve` (API, worker and scheduler) on the examples project."""
    with serving(examples, database_url) as url:
        yield url


def _wait_for_runs(client: httpx.Client, schedule: str, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        ticks = client.get(f"{API}/schedules/{schedule}/ticks").json()
        if len([t for t in ticks if t["run_id"]]) >= count:
            return ticks  # type: ignore[no-any-return]
        time.sleep(0.2)
    raise AssertionError(f"schedule {schedule} fired fewer than {count} runs in 30 s")


def test_schedule_lifecycle_through_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        created = client.post(
            f"{API}/schedules",
            json={
                "name": "counts",
                "pipeline": "word_count",
                "interval": "1s",
                "args": {"top": 3},
                "timezone": "Europe/London",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["state"] == "active"
        assert len(body["next_fire_times"]) == 5
        assert body["next_fire_times"][0].endswith(("+00:00", "+01:00"))

        ticks = _wait_for_runs(client, "counts", 2)  # the embedded scheduler fires them
        run = client.get(f"{API}/runs/{ticks[0]['run_id']}").json()
        assert run["schedule"] == "counts"
        assert run["args"] == {"top": 3}

        paused = client.post(f"{API}/schedules/counts/pause").json()
        assert paused["state"] == "paused"
        assert paused["next_fire_times"] == []
        assert client.post(f"{API}/schedules/counts/resume").json()["state"] == "active"
        listed = client.get(f"{API}/schedules").json()
        assert [s["name"] for s in listed] == ["counts"]

        assert client.delete(f"{API}/schedules/counts").status_code == 204
        missing = client.get(f"{API}/schedules/counts")
        assert missing.status_code == 404
        assert missing.headers["content-type"] == PROBLEM


def test_bad_schedules_are_422_naming_the_field(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        for body, field in [
            ({"cron": "61 * * * *"}, "cron"),
            ({"cron": "@hourly", "timezone": "Nowhere/City"}, "timezone"),
            ({"cron": "@hourly", "pipeline": "nope"}, "pipeline"),
            ({"cron": "@hourly", "args": {"top": "{{ when }}"}}, "args.top"),
            ({"cron": "@hourly", "catchup": "sometimes"}, "body.catchup"),
        ]:
            response = client.post(
                f"{API}/schedules", json={"name": "bad", "pipeline": "word_count", **body}
            )
            assert response.status_code == 422, response.text
            assert response.headers["content-type"] == PROBLEM
            assert field in [e["path"] for e in response.json()["errors"]]
        taken = {"name": "twice", "pipeline": "word_count", "cron": "@daily"}
        assert client.post(f"{API}/schedules", json=taken).status_code == 201
        assert client.post(f"{API}/schedules", json=taken).status_code == 409


def test_runs_with_start_controls(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        later = client.post(f"{API}/pipelines/word_count/runs", json={"start_in": "2h30m"})
        assert later.status_code == 202, later.text
        run = client.get(later.json()["status_url"]).json()
        assert run["start_at"] - run["created_at"] > 2.5 * 3600 - 5
        assert {tr["state"] for tr in run["task_runs"]} <= {"ready", "pending"}

        bad = client.post(f"{API}/pipelines/word_count/runs", json={"start_in": "soonish"})
        assert bad.status_code == 422
        assert "start_in" in [e["path"] for e in bad.json()["errors"]]

        expiring = client.post(
            f"{API}/pipelines/word_count/runs",
            json={"start_at": "2099-01-01T00:00:00Z", "expires_at": "2099-01-01T01:00:00+01:00"},
        )
        assert expiring.status_code == 422  # it would expire before it may start
        assert "expires_at" in [e["path"] for e in expiring.json()["errors"]]


def test_backfill_through_the_api(server: str) -> None:
    with httpx.Client(base_url=server, timeout=10) as client:
        created = client.post(
            f"{API}/backfills",
            json={
                "pipeline": "word_count",
                "start": "2026-01-01",
                "end": "2026-01-03",
                "every": "1d",
                "args": {"top": 2},
                "max_running": 1,
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert body["total"] == 3
        deadline = time.monotonic() + 60
        while body["state"] == "running" and time.monotonic() < deadline:
            time.sleep(0.3)
            body = client.get(body["status_url"]).json()
        assert body["state"] == "succeeded", body
        assert body["runs"] == {"succeeded": 3}
        runs = client.get(body["runs_url"]).json()["runs"]
        assert len(runs) == 3
        # Cancelling a finished backfill changes nothing.
        assert client.post(f"{API}/backfills/{body['id']}/cancel").json()["state"] == "succeeded"
        assert [b["id"] for b in client.get(f"{API}/backfills").json()] == [body["id"]]

        many = client.post(
            f"{API}/backfills",
            json={
                "pipeline": "word_count",
                "start": "2026-01-01",
                "end": "2026-12-31",
                "max_running": 1,
                "args": {"top": 1},
            },
        ).json()
        assert many["total"] == 365
        cancelled = client.post(f"{API}/backfills/{many['id']}/cancel").json()
        assert cancelled["state"] == "cancelled"
        assert cancelled["finished"] == 365

        bad = client.post(
            f"{API}/backfills",
            json={"pipeline": "word_count", "start": "2026-01-05", "end": "2026-01-01"},
        )
        assert bad.status_code == 422
        assert bad.headers["content-type"] == PROBLEM
        assert "end" in [e["path"] for e in bad.json()["errors"]]
        assert client.get(f"{API}/backfills/nope").status_code == 404

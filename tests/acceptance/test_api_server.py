"""The HTTP API against a real `headwater serve` process, on SQLite and PostgreSQL."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .api_server import is_problem as _is_problem
from .api_server import serving
from .api_server import wait_run as _wait_run


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    """`headwater serve --port 0` on the examples project; yields its base URL."""
    with serving(examples, database_url) as url:
        yield url


def test_pipelines_are_listed_with_their_graphs(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        listed = client.get("/api/v1/pipelines").json()
        assert {p["name"] for p in listed} == {"orders_etl", "orders_report", "word_count"}
        etl = next(p for p in listed if p["name"] == "orders_etl")
        assert set(etl["params_schema"]["properties"]) == {"source", "min_amount"}
        graph = client.get("/api/v1/pipelines/word_count").json()
        assert [n["id"] for n in graph["nodes"]] == ["split_text", "count_words", "merge_counts"]
        assert ["split_text", "count_words"] in graph["edges"]
        assert next(n for n in graph["nodes"] if n["id"] == "count_words")["map"] == "chunk"
        _is_problem(client.get("/api/v1/pipelines/nope"), 404, "not-found")


def test_trigger_then_poll_the_status_url_until_it_succeeds(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        accepted = client.post("/api/v1/pipelines/word_count/runs", json={"args": {"top": 2}})
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["status_url"].endswith(f"/api/v1/runs/{body['id']}")
        run = _wait_run(client, body["status_url"])
        assert run["state"] == "succeeded"
        merged = next(t for t in run["task_runs"] if t["node"] == "merge_counts")
        assert merged["output"][0][0] == "the"
        assert len(merged["output"]) == 2
        assert merged["attempts"][0]["state"] == "succeeded"


def test_simple_callers_pass_arguments_as_query_parameters(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        accepted = client.post("/api/v1/pipelines/word_count/runs?top=1")
        assert accepted.status_code == 202, accepted.text
        run = _wait_run(client, accepted.json()["status_url"])
        assert run["args"] == {"top": 1}
        assert run["state"] == "succeeded"


def test_bad_input_gets_a_problem_naming_the_field(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        body = _is_problem(
            client.post("/api/v1/pipelines/word_count/runs", json={"args": {"top": "many"}}),
            422,
            "invalid-arguments",
        )
        assert body["errors"][0]["path"] == "args.top"
        body = _is_problem(
            client.post("/api/v1/pipelines/word_count/runs", json={"args": {"colour": 1}}),
            422,
            "invalid-arguments",
        )
        assert body["errors"][0]["path"] == "args.colour"
        malformed = client.post(
            "/api/v1/pipelines/word_count/runs",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        _is_problem(malformed, 422, "invalid-request")
        _is_problem(client.post("/api/v1/pipelines/nope/runs", json={}), 404, "not-found")
        _is_problem(client.get("/api/v1/runs/0123"), 404, "not-found")
        # Values no database column can hold are refused before they reach one.
        _is_problem(client.get("/api/v1/runs/01%0023"), 422, "invalid-request")
        huge = "/api/v1/attempts/99999999999999999999999/logs/stdout"
        _is_problem(client.get(huge), 422, "invalid-request")
        body = _is_problem(
            client.post("/api/v1/pipelines/word_count/runs", json={"priority": 2**40}),
            422,
            "invalid-request",
        )
        assert body["errors"][0]["path"] == "body.priority"
        body = _is_problem(
            client.post("/api/v1/pipelines/word_count/runs", json={"idempotency_key": "a\u0000"}),
            422,
            "invalid-request",
        )
        assert body["errors"][0]["path"] == "body.idempotency_key"


def test_bodies_over_the_limit_are_refused(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        huge = b'{"args": {"x": "' + b"a" * (10 * 1024 * 1024) + b'"}}'
        response = client.post(
            "/api/v1/pipelines/word_count/runs",
            content=huge,
            headers={"content-type": "application/json"},
        )
        _is_problem(response, 413, "too-large")


def test_cancel_health_and_openapi(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready"}
        paths = client.get("/api/v1/openapi.json").json()["paths"]
        assert "/api/v1/pipelines/{name}/runs" in paths
        run_id = client.post("/api/v1/pipelines/orders_etl/runs", json={}).json()["id"]
        cancelled = client.post(f"/api/v1/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        first = cancelled.json()
        run = _wait_run(client, f"/api/v1/runs/{run_id}")
        # Cancelled before it ended, or it finished first: either way it is over.
        assert run["state"] in ("cancelled", "succeeded")
        assert first["cancelled"] == (run["state"] == "cancelled")
        assert client.post(f"/api/v1/runs/{run_id}/cancel").json() == {"cancelled": False}


@pytest.mark.skipif(os.name != "posix", reason="signals")
def test_serve_stops_cleanly_on_sigint(server: str) -> None:
    assert httpx.get(f"{server}/healthz").status_code == 200  # teardown asserts exit 0


def test_runs_are_listed_newest_first_with_filters_and_cursor_pages(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        made = []
        for tags in (["nightly"], ["adhoc"], ["nightly", "eu"]):
            response = client.post(
                "/api/v1/pipelines/word_count/runs", json={"args": {"top": 1}, "tags": tags}
            )
            made.append(response.json()["id"])
        for run_id in made:
            _wait_run(client, f"/api/v1/runs/{run_id}")
        first = client.get("/api/v1/runs", params={"limit": 2}).json()
        second = client.get(
            "/api/v1/runs", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        listed = [r["id"] for r in first["runs"] + second["runs"]]
        assert listed == list(reversed(made))
        assert second["next_cursor"] is None
        nightly = client.get("/api/v1/runs", params={"tag": "nightly"}).json()["runs"]
        assert {r["id"] for r in nightly} == {made[0], made[2]}
        assert client.get("/api/v1/runs", params={"pipeline": "orders_etl"}).json()["runs"] == []
        done = client.get("/api/v1/runs", params={"state": "succeeded"}).json()["runs"]
        assert len(done) == 3
        body = _is_problem(
            client.get("/api/v1/runs", params={"state": "sleeping"}), 422, "invalid-request"
        )
        assert body["errors"][0]["path"] == "query.state"
        _is_problem(client.get("/api/v1/runs", params={"limit": 0}), 422, "invalid-request")


def test_an_idempotency_key_starts_one_run_and_conflicts_on_another_request(
    server: str,
) -> None:
    with httpx.Client(base_url=server) as client:
        body = {"args": {"top": 2}, "idempotency_key": "nightly-2026-11-22"}
        first = client.post("/api/v1/pipelines/word_count/runs", json=body)
        again = client.post("/api/v1/pipelines/word_count/runs", json=body)
        assert first.status_code == again.status_code == 202, again.text
        assert again.json()["id"] == first.json()["id"]
        by_header = client.post(
            "/api/v1/pipelines/word_count/runs",
            json={"args": {"top": 2}},
            headers={"Idempotency-Key": "nightly-2026-11-22"},
        )
        assert by_header.json()["id"] == first.json()["id"]
        other = client.post(
            "/api/v1/pipelines/word_count/runs",
            json={"args": {"top": 3}, "idempotency_key": "nightly-2026-11-22"},
        )
        body409 = _is_problem(other, 409, "conflict")
        assert "nightly-2026-11-22" in body409["detail"]
        listed = client.get("/api/v1/runs", params={"pipeline": "word_count"}).json()["runs"]
        assert [r["id"] for r in listed] == [first.json()["id"]]


def test_concurrent_triggers_each_get_their_run_readable_at_once(server: str) -> None:
    """Triggers arriving together are written in one batch; each still gets its own
    answer (a bad one its own 422) and its run is stored before the 202."""
    gate = threading.Barrier(10)
    results: dict[int, tuple[int, dict[str, Any]]] = {}

    def trigger(i: int) -> None:
        with httpx.Client(base_url=server) as client:
            gate.wait()
            top: Any = "many" if i == 4 else i + 1
            accepted = client.post("/api/v1/pipelines/word_count/runs", json={"args": {"top": top}})
            if accepted.status_code != 202:
                results[i] = (accepted.status_code, accepted.json())
                return
            read = client.get(accepted.json()["status_url"])
            results[i] = (read.status_code, read.json())

    threads = [threading.Thread(target=trigger, args=(i,)) for i in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results[4][0] == 422
    assert results[4][1]["errors"][0]["path"] == "args.top"
    good = [results[i] for i in range(10) if i != 4]
    assert [status for status, _ in good] == [200] * 9
    assert [run["args"] for _, run in good] == [{"top": i + 1} for i in range(10) if i != 4]
    assert len({run["id"] for _, run in good}) == 9

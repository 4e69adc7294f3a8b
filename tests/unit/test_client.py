"""headwater.client against a fake transport: requests it sends, answers it parses,
problems raised as headwater errors, and Server-Sent Events framing. (The real server
is exercised in tests/acceptance/test_client_cli.py.)"""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

import headwater
from headwater.client import (
    ApiConflict,
    ApiDefinitionError,
    ApiError,
    ApiNotFound,
    ApiPipelineDisabled,
    ApiValidationError,
    Client,
    RunTimeout,
    ServerUnavailable,
)
from headwater.errors import Conflict, PipelineDisabled

Handler = Callable[[httpx.Request], httpx.Response]
RUN = {
    "id": "r1",
    "pipeline": "p",
    "version_id": 3,
    "state": "running",
    "args": {"n": 1},
    "task_args": {},
    "priority": 0,
    "tags": [],
    "created_at": 1.0,
    "ended_at": None,
    "resumed_from": None,
    "a_field_from_a_newer_server": True,
    "task_runs": [
        {
            "id": 7,
            "node": "a",
            "map_index": -1,
            "label": "a",
            "task": "t",
            "state": "running",
            "cache_key": None,
            "args": None,
            "output": None,
            "error": None,
            "started_at": 1.0,
            "ended_at": None,
            "attempts": [
                {
                    "id": 12,
                    "number": 2,
                    "state": "running",
                    "worker_id": "w",
                    "started_at": 3.0,
                    "ended_at": None,
                    "error_type": None,
                    "error_message": None,
                    "traceback": None,
                },
                {
                    "id": 11,
                    "number": 1,
                    "state": "failed",
                    "worker_id": "w",
                    "started_at": 2.0,
                    "ended_at": 2.5,
                    "error_type": "E",
                    "error_message": "boom",
                    "traceback": None,
                },
            ],
        }
    ],
}


def _client(handler: Handler) -> Client:
    return Client("http://hw.test/", transport=httpx.MockTransport(handler))


def _problem(status: int, slug: str, **extra: object) -> httpx.Response:
    body = {
        "type": f"urn:headwater:problem:{slug}",
        "title": slug,
        "status": status,
        "detail": f"{slug} happened",
        **extra,
    }
    return httpx.Response(status, json=body, headers={"content-type": "application/problem+json"})


def test_trigger_sends_the_whole_request_and_returns_the_accepted_run() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(
            202,
            json={
                "id": "r1",
                "pipeline": "p",
                "state": "running",
                "status_url": "http://hw.test/api/v1/runs/r1",
                "web_url": "http://hw.test/runs/r1",
            },
        )

    with _client(handler) as client:
        accepted = client.trigger(
            "p",
            {"n": 1},
            task_args={"a": {"x": 2}},
            priority=5,
            tags=["nightly"],
            idempotency_key="k1",
        )
    assert accepted.id == "r1"
    assert accepted.status_url.endswith("/runs/r1")
    assert seen[0].url.path == "/api/v1/pipelines/p/runs"
    assert json.loads(seen[0].content) == {
        "args": {"n": 1},
        "task_args": {"a": {"x": 2}},
        "priority": 5,
        "tags": ["nightly"],
        "force": False,
        "idempotency_key": "k1",
    }


def test_runs_are_parsed_ignoring_fields_the_client_does_not_know() -> None:
    with _client(lambda _r: httpx.Response(200, json=RUN)) as client:
        run = client.get_run("r1")
    assert run.state == "running"
    assert not run.done
    assert [a.id for a in run.attempts()] == [11, 12]  # in the order they started
    assert run.task_runs[0].attempts[1].error_message == "boom"
    assert run.raw["a_field_from_a_newer_server"] is True


@pytest.mark.parametrize(
    ("status", "slug", "kind", "also"),
    [
        (404, "not-found", ApiNotFound, headwater.NotFound),
        (409, "conflict", ApiConflict, Conflict),
        (409, "pipeline-disabled", ApiPipelineDisabled, PipelineDisabled),
        (422, "invalid-arguments", ApiValidationError, headwater.ValidationError),
        (422, "invalid-definition", ApiDefinitionError, headwater.DefinitionError),
        (503, "database-unavailable", ServerUnavailable, ApiError),
        (413, "too-large", ApiError, headwater.HeadwaterError),
    ],
)
def test_problems_are_raised_as_the_matching_headwater_errors(
    status: int, slug: str, kind: type[ApiError], also: type[Exception]
) -> None:
    errors = [{"path": "args.n", "message": "'x' is not of type 'integer'"}]
    with (
        _client(lambda _r: _problem(status, slug, errors=errors)) as client,
        pytest.raises(kind) as raised,
    ):
        client.trigger("p", {"n": "x"})
    error = raised.value
    assert isinstance(error, also)
    assert error.status == status
    assert error.type == f"urn:headwater:problem:{slug}"
    assert error.problem["detail"] == f"{slug} happened"
    assert [(p.path, p.message) for p in error.problems] == [
        ("args.n", "'x' is not of type 'integer'")
    ]
    assert str(error).startswith(f"{slug} happened")


def test_an_answer_that_is_not_a_problem_still_raises_with_the_status() -> None:
    with (
        _client(lambda _r: httpx.Response(502, text="<html>bad gateway</html>")) as client,
        pytest.raises(ServerUnavailable, match="HTTP 502"),
    ):
        client.list_pipelines()


def test_an_unreachable_server_is_server_unavailable() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    with (
        _client(refuse) as client,
        pytest.raises(ServerUnavailable, match=r"cannot reach http://hw\.test"),
    ):
        client.get_run("r1")


def test_no_server_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HEADWATER_SERVER", raising=False)
    with pytest.raises(headwater.HeadwaterError, match="HEADWATER_SERVER"):
        Client()
    monkeypatch.setenv("HEADWATER_SERVER", "http://from-env.test")
    with Client() as client:
        assert client.base_url == "http://from-env.test"


def test_wait_polls_until_the_run_ends_and_times_out_otherwise() -> None:
    states = iter(["running", "running", "succeeded"])

    def handler(_request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={**RUN, "state": next(states)})

    with _client(handler) as client:
        run = client.wait("r1", poll_seconds=0)
        assert run.ok
    with (
        _client(lambda _r: httpx.Response(200, json=RUN)) as client,
        pytest.raises(RunTimeout, match="still running"),
    ):
        client.wait("r1", timeout=0, poll_seconds=0)


def test_follow_logs_yields_log_events_until_the_end_event() -> None:
    stream = (
        ": keep-alive\n\n"
        "event: log\nid: 6\ndata: hello\ndata: \n\n"
        "event: log\nid: 12\ndata: world\n\n"
        'event: end\ndata: {"state": "succeeded"}\n\n'
        "event: log\ndata: never read\n\n"
    )
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, text=stream, headers={"content-type": "text/event-stream"})

    with _client(handler) as client:
        chunks = list(client.follow_logs(11, "stdout"))
    assert chunks == ["hello\n", "world"]
    assert seen[0].url.path == "/api/v1/attempts/11/logs/stdout"
    assert seen[0].url.params["follow"] == "true"


def test_follow_logs_of_an_unknown_attempt_raises_not_found() -> None:
    with _client(lambda _r: _problem(404, "not-found")) as client, pytest.raises(ApiNotFound):
        list(client.follow_logs(99))


def test_recipes_are_sent_as_yaml_text_or_json() -> None:
    seen: list[httpx.Request] = []
    pipeline = {
        "name": "p",
        "description": "",
        "version": "h",
        "version_id": 1,
        "params_schema": {},
        "origin": "api",
        "enabled": True,
        "nodes": [],
        "edges": [],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(201, json=pipeline)

    with _client(handler) as client:
        assert client.create_pipeline("name: p\ntasks: []\n").origin == "api"
        client.replace_pipeline("p", {"name": "p", "tasks": []})
    assert seen[0].headers["content-type"] == "application/yaml"
    assert seen[1].method == "PUT"
    assert json.loads(seen[1].content) == {"name": "p", "tasks": []}

"""Attempt logs over HTTP, against a real `headwater serve` (SQLite and PostgreSQL):
whole, tail, byte ranges, and followed live while the attempt runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .api_server import is_problem, serving, wait_for, wait_run

CHATTY = '''
"""Tasks that talk, for the log tests."""

import logging
import sys
import time
from pathlib import Path

from headwater import pipeline, task


@task
def talk(gate: str = "", lines: int = 3) -> int:
    """Print numbered lines; wait for the file `gate` (if given) before the last one."""
    for i in range(lines - 1):
        print(f"line {i}")
    print("to stderr", file=sys.stderr)
    logging.getLogger("chatty").warning("a warning")
    while gate and not Path(gate).exists():
        time.sleep(0.05)
    print(f"line {lines - 1}")
    return lines


@task(retries=0)
def fail_loudly() -> int:
    print("about to fail")
    raise RuntimeError("boom")


@pipeline
def chatty(gate: str = "", lines: int = 3):
    return talk(gate, lines)


@pipeline
def failing():
    return fail_loudly()
'''


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    (examples / "pipelines" / "chatty.py").write_text(CHATTY)
    with serving(examples, database_url) as url:
        yield url


def _start(client: httpx.Client, pipeline: str, args: dict[str, Any]) -> str:
    accepted = client.post(f"/api/v1/pipelines/{pipeline}/runs", json={"args": args})
    assert accepted.status_code == 202, accepted.text
    return str(accepted.json()["id"])


def _attempt(client: httpx.Client, run_id: str) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        run = client.get(f"/api/v1/runs/{run_id}").json()
        attempts = run["task_runs"][0]["attempts"]
        return attempts[0] if attempts else None

    return wait_for(running, "the first attempt")  # type: ignore[no-any-return]


def _events(response: httpx.Response) -> Iterator[tuple[str, str]]:
    kind, data = "", []
    for line in response.iter_lines():
        if line.startswith("event: "):
            kind = line[len("event: ") :]
        elif line.startswith("data: "):
            data.append(line[len("data: ") :])
        elif line == "" and kind:
            yield kind, "\n".join(data)
            kind, data = "", []


def test_logs_are_readable_while_the_attempt_runs_and_followed_to_its_end(
    server: str, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    with httpx.Client(base_url=server, timeout=30) as client:
        run_id = _start(client, "chatty", {"gate": str(gate), "lines": 3})
        attempt = _attempt(client, run_id)
        url = f"/api/v1/attempts/{attempt['id']}/logs"

        def printed_so_far() -> str:
            return client.get(f"{url}/stdout").text

        assert wait_for(lambda: "line 1" in printed_so_far(), "output while running")
        assert client.get(f"/api/v1/runs/{run_id}").json()["state"] == "running"

        received: list[tuple[str, str]] = []
        with client.stream("GET", f"{url}/stdout", params={"follow": "true"}) as response:
            assert response.headers["content-type"].startswith("text/event-stream")
            events = _events(response)
            received.append(next(events))  # what was written before the follow began
            gate.touch()  # now the task prints its last line and ends
            received.extend(events)

        assert received[0] == ("log", "line 0\nline 1\n")
        text = "".join(data for kind, data in received if kind == "log")
        assert text == "line 0\nline 1\nline 2\n"
        assert received[-1] == ("end", json.dumps({"state": "succeeded"}))
        wait_run(client, f"/api/v1/runs/{run_id}")

        stderr = client.get(f"{url}/stderr").text
        assert "to stderr" in stderr
        assert "a warning" in stderr
        combined = client.get(f"{url}/combined").text
        assert combined.index("line 1") < combined.index("to stderr") < combined.index("line 2")


def test_tail_and_byte_ranges(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        run_id = _start(client, "chatty", {"lines": 6})
        wait_run(client, f"/api/v1/runs/{run_id}")
        attempt = _attempt(client, run_id)
        url = f"/api/v1/attempts/{attempt['id']}/logs/stdout"
        whole = client.get(url)
        assert whole.status_code == 200
        assert whole.headers["accept-ranges"] == "bytes"
        assert whole.text == "".join(f"line {i}\n" for i in range(6))

        assert client.get(url, params={"tail": 2}).text == "line 4\nline 5\n"
        assert client.get(url, params={"tail": 100}).text == whole.text
        assert client.get(url, params={"tail": 0}).text == ""

        part = client.get(url, headers={"Range": "bytes=7-13"})
        assert part.status_code == 206
        assert part.text == "line 1\n"
        assert part.headers["content-range"] == f"bytes 7-13/{len(whole.content)}"
        last = client.get(url, headers={"Range": "bytes=-7"})
        assert (last.status_code, last.text) == (206, "line 5\n")
        rest = client.get(url, headers={"Range": "bytes=35-"})
        assert (rest.status_code, rest.text) == (206, "line 5\n")
        refused = client.get(url, headers={"Range": f"bytes={len(whole.content)}-"})
        is_problem(refused, 416, "range-not-satisfiable")
        assert refused.headers["content-range"] == f"bytes */{len(whole.content)}"

        # A follower that connects after the end gets everything, then the end.
        with client.stream("GET", url, headers={"Accept": "text/event-stream"}) as response:
            events = list(_events(response))
        assert "".join(d for k, d in events if k == "log") == whole.text
        assert events[-1][0] == "end"
        # ... and one that resumes from an event id gets only what came after it.
        with client.stream(
            "GET", url, params={"follow": "true"}, headers={"Last-Event-ID": "35"}
        ) as response:
            events = list(_events(response))
        assert events[0] == ("log", "line 5\n")


def test_a_failed_attempt_keeps_its_logs_and_bad_requests_are_problems(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as client:
        run_id = _start(client, "failing", {})
        assert wait_run(client, f"/api/v1/runs/{run_id}")["state"] == "failed"
        attempt = _attempt(client, run_id)
        url = f"/api/v1/attempts/{attempt['id']}/logs"
        assert client.get(f"{url}/stdout").text == "about to fail\n"
        assert "RuntimeError: boom" in client.get(f"{url}/stderr").text

        is_problem(client.get("/api/v1/attempts/999999/logs/stdout"), 404, "not-found")
        body = is_problem(client.get(f"{url}/everything"), 422, "invalid-request")
        assert body["errors"][0]["path"] == "path.stream"
        is_problem(client.get(f"{url}/stdout", params={"tail": -1}), 422, "invalid-request")
        is_problem(client.get("/api/v1/attempts/0/logs/stdout"), 422, "invalid-request")

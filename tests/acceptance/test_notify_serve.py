"""Run-end notifications from a real `headwater serve` (API, worker and scheduler in one
process): a local HTTP receiver that fails the first two calls gets the third, signed,
and the delivery log says so through the API; a webhook trigger starts the run."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from headwater.domain.signatures import sign, signature_matches

from .conftest import HEADWATER, clean_env

PROJECT = """\
from headwater import hook, notification, pipeline, task


@task(cache=False)
def check(n: int) -> int:
    if n < 0:
        raise ValueError(f"negative: {{n}}")
    return n


@pipeline
def checked(n: int):
    return check(n)


hook("check_hook", pipeline=checked, secret_env="CHECK_HOOK_SECRET", mapping={{"n": "/n"}})
notification(
    "receiver",
    url={url!r},
    events=["failed"],
    secret_env="RECEIVER_SECRET",
    headers={{"X-Team": "data"}},
    backoff_seconds=0.2,
)
"""


class Receiver:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls: list[tuple[dict[str, str], bytes]] = []


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append((dict(self.headers.items()), body))
            self.send_response(500 if len(state.calls) <= state.failures else 204)
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield state, f"http://127.0.0.1:{server.server_address[1]}/notify"
    server.shutdown()
    server.server_close()


def _serve(project: Path, database_url: str, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = clean_env(
        HEADWATER_DATABASE_URL=database_url,
        HEADWATER_POLL_SECONDS="0.1",
        CHECK_HOOK_SECRET="hook-secret",
        RECEIVER_SECRET="receiver-secret",
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), "serve", "--port", "0", "-C", str(project)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "serving at " in line:
                return proc, line.split("serving at ", 1)[1].split()[0]
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    proc.kill()
    raise AssertionError(f"serve did not start:\n{log.read_text()}")


@pytest.mark.slow
def test_a_failed_run_is_notified_on_the_third_try_signed(
    tmp_path: Path, database_url: str, receiver: tuple[Receiver, str]
) -> None:
    state, url = receiver
    package = tmp_path / "project" / "pipelines"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "checks.py").write_text(PROJECT.format(url=url))
    log = tmp_path / "serve.log"
    proc, base = _serve(tmp_path / "project", database_url, log)
    try:
        with httpx.Client(base_url=base, timeout=10) as client:
            body = json.dumps({"n": -3}).encode()
            started = client.post(
                "/api/v1/hooks/check_hook",
                content=body,
                headers={"X-Headwater-Signature": sign("hook-secret", body)},
            )
            assert started.status_code == 202, started.text
            run_id = started.json()["run_id"]

            deadline = time.monotonic() + 60
            while len(state.calls) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert len(state.calls) == 3, log.read_text()
            headers, sent = state.calls[2]
            assert signature_matches("receiver-secret", sent, headers["X-Headwater-Signature"])
            assert headers["X-Team"] == "data"
            payload = json.loads(sent)
            assert payload["run"]["id"] == run_id
            assert payload["run"]["state"] == "failed"
            assert "negative: -3" in payload["failed_task_runs"][0]["error"]

            (notification,) = client.get("/api/v1/notifications").json()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                page = client.get(f"/api/v1/notifications/{notification['id']}/deliveries")
                (delivery,) = page.json()["deliveries"]
                if delivery["state"] == "delivered":
                    break
                time.sleep(0.1)
            assert delivery["state"] == "delivered"
            assert [t.get("status") for t in delivery["log"]] == [500, 500, 204]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        finally:
            if proc.poll() is None:
                proc.kill()

"""Helpers for tests of the HTTP API against a real `headwater serve` process."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

from .conftest import clean_env

HEADWATER = Path(sys.executable).with_name("headwater")
PROBLEM = "application/problem+json"


@contextmanager
def serving(project: Path, database_url: str, *args: str, **env: str) -> Iterator[str]:
    """`headwater serve --port 0` on `project` (extra CLI args, HEADWATER_* settings in
    `env`); yields its base URL and asserts a clean exit on SIGINT."""
    settings = {
        "HEADWATER_DATABASE_URL": database_url,
        "HEADWATER_POLL_SECONDS": "0.1",
        "HEADWATER_LEASE_SECONDS": "5",
        "HEADWATER_HEARTBEAT_SECONDS": "1",
        **env,
    }
    log = project / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), "serve", "--port", "0", "-C", str(project), *args],
            env=clean_env(**settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_for_url(log, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()


def _wait_for_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "serving at " in line:
                return line.split("serving at ", 1)[1].split()[0]
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"serve did not start:\n{log.read_text()}")


def wait_run(client: httpx.Client, status_url: str) -> dict[str, Any]:
    """The run once it is no longer running."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run = client.get(status_url).json()
        if run["state"] != "running":
            return run  # type: ignore[no-any-return]
        time.sleep(0.05)
    raise AssertionError(f"run did not end: {run}")


def wait_for(check: Any, what: str, timeout: float = 30) -> Any:
    """Poll `check()` until it returns something truthy; that value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def is_problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["type"] == f"urn:headwater:problem:{slug}"
    assert body["status"] == status
    assert body["detail"]
    return body

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


FAST = {
    "HEADWATER_POLL_SECONDS": "0.1",
    "HEADWATER_LEASE_SECONDS": "5",
    "HEADWATER_HEARTBEAT_SECONDS": "1",
}


@contextmanager
def headwater_process(
    project: Path, database_url: str, *args: str, log_name: str = "serve.log", **env: str
) -> Iterator[subprocess.Popen[bytes]]:
    """`headwater ARGS -C project` on `database_url` (HEADWATER_* settings in `env`),
    stopped with SIGINT at the end, which it must answer with a clean exit."""
    settings = {"HEADWATER_DATABASE_URL": database_url, **FAST, **env}
    log = project / log_name
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), *args, "-C", str(project)],
            env=clean_env(**settings),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            assert proc.wait(20) == 0, log.read_text()
        finally:
            if proc.poll() is None:
                proc.kill()


@contextmanager
def serving(
    project: Path, database_url: str, *args: str, command: str = "serve", **env: str
) -> Iterator[str]:
    """`headwater serve --port 0` (or `api`) on `project` (extra CLI args, HEADWATER_*
    settings in `env`); yields its base URL and asserts a clean exit on SIGINT."""
    log_name = f"{command}.log"
    with headwater_process(
        project, database_url, command, "--port", "0", *args, log_name=log_name, **env
    ) as proc:
        yield wait_for_url(project / log_name, proc)


def wait_for_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "serving at " in line:
                return line.split("serving at ", 1)[1].split()[0]
        if proc.poll() is not None:
            raise AssertionError(f"headwater exited {proc.returncode}:\n{log.read_text()}")
        time.sleep(0.05)
    raise AssertionError(f"headwater did not start:\n{log.read_text()}")


def wait_run(client: httpx.Client, status_url: str, timeout: float = 30) -> dict[str, Any]:
    """The run once it is no longer running."""
    deadline = time.monotonic() + timeout
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

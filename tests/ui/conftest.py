"""Playwright (Python) driving Debian's Chromium against a real `headwater serve`.

The browser is /usr/bin/chromium (never a downloaded build); without it, or without the
built UI bundle, the tests skip, or fail under CI=true. Every test saves screenshots of
the pages it visits under tests/ui/screenshots/ (gitignored) for a person to look at.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from .project import UI_PIPELINES

HEADWATER = Path(sys.executable).with_name("headwater")
CHROMIUM = Path("/usr/bin/chromium")
BUNDLE = Path(__file__).resolve().parents[2] / "src/headwater/web/static/dist/app.js"
SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CI = os.environ.get("CI") == "true"


def need(reason: str) -> None:
    if CI:
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        need("Debian's chromium is not installed (apt-get install chromium)")
    if not BUNDLE.exists():
        need("the UI bundle is not built (make .venv/.installed)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        need("the playwright package is not installed")
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield found
        found.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900}, color_scheme="light", accept_downloads=True
    )
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors on the page: {errors}"


def shot(page: Any, name: str) -> None:
    """Screenshots of the page as it is, in the light and the dark theme."""
    SCREENSHOTS.mkdir(exist_ok=True)
    page.evaluate("window.scrollTo(0, 0)")  # else the sticky top bar lands mid-page
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        page.screenshot(path=str(SCREENSHOTS / f"{name}-{scheme}.png"), full_page=True)
    page.emulate_media(color_scheme="light")


@pytest.fixture(scope="module")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`headwater serve --port 0` on the UI test project; yields its base URL."""
    root = tmp_path_factory.mktemp("ui-project")
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "ui.py").write_text(UI_PIPELINES)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HEADWATER_", "PYTEST_"))} | {
        "HEADWATER_POLL_SECONDS": "0.1",
        "HEADWATER_LEASE_SECONDS": "5",
        "HEADWATER_HEARTBEAT_SECONDS": "1",
    }
    log = root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), "serve", "--port", "0", "-C", str(root), "-j", "4"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield _wait_for_url(log, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
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


def start_run(base: str, pipeline: str, **args: Any) -> str:
    response = httpx.post(f"{base}/api/v1/pipelines/{pipeline}/runs", json={"args": args})
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


def wait_run(base: str, run_id: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run: dict[str, Any] = httpx.get(f"{base}/api/v1/runs/{run_id}").json()
        if run["state"] != "running":
            return run
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} did not end: {json.dumps(run)[:500]}")

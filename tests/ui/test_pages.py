"""The web UI as a person uses it, in Chromium, against a real `headwater serve`."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from .conftest import shot, start_run, wait_run

pytestmark = pytest.mark.slow


def test_trigger_form_shows_errors_by_field_then_starts_a_run_that_turns_green_live(
    page: Any, ui_server: str
) -> None:
    page.goto(f"{ui_server}/pipelines/hello")
    form = page.locator("#trigger-form")
    # The form follows the schema: an enum as a select, a nested object as a fieldset.
    expect(form.locator("select[name=mode]")).to_have_value("0")
    expect(form.locator("fieldset legend")).to_contain_text("Options")
    expect(form.locator("input[name='options.repeat']")).to_have_value("1")
    expect(page.locator("#graph g.node")).to_have_count(2)
    shot(page, "pipeline")

    # In the browser: the required name is missing.
    form.locator("button[type=submit]").click()
    name_error = page.locator("#f-name-error")
    expect(name_error).to_have_text("required")
    expect(form.locator("input[name=name]")).to_have_attribute("aria-invalid", "true")

    # From the API: 7 is not a multiple of 5 (the browser does not check multipleOf).
    form.locator("input[name=name]").fill("Ada")
    form.locator("input[name=batch]").fill("7")
    form.locator("button[type=submit]").click()
    expect(page.locator("#f-batch-error")).to_contain_text("multiple of 5")
    expect(name_error).to_be_hidden()
    expect(page.locator("#trigger-error")).to_contain_text("invalid arguments")
    shot(page, "pipeline-form-errors")

    form.locator("input[name=batch]").fill("15")
    form.locator("select[name=mode]").select_option(label="loud")
    form.locator("button[type=submit]").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f]{32}$"))
    page.evaluate("window.__sameDocument = true")
    run_id = page.url.rsplit("/", 1)[1]

    nodes = page.locator("#graph g.node")
    expect(nodes).to_have_count(2)
    expect(page.locator("#graph g.node.s-succeeded")).to_have_count(2, timeout=30_000)
    expect(page.locator("#run-state")).to_have_attribute("data-state", "succeeded")
    assert page.evaluate("window.__sameDocument") is True  # no reload happened
    run = httpx.get(f"{ui_server}/api/v1/runs/{run_id}").json()
    assert run["args"] == {"name": "Ada", "batch": 15, "mode": "loud"}
    shot(page, "run-succeeded")


def test_a_failed_task_shows_its_exception_and_traceback(page: Any, ui_server: str) -> None:
    run_id = start_run(ui_server, "broken", path="rows.csv")
    wait_run(ui_server, run_id)
    page.goto(f"{ui_server}/runs/{run_id}")
    expect(page.locator("#run-state")).to_have_attribute("data-state", "failed")
    expect(page.locator("#graph g.node.s-failed")).to_have_count(1)
    expect(page.locator("#graph g.node.s-upstream_failed")).to_have_count(1)
    page.locator("#graph g.node.s-failed").click()
    panel = page.locator("#task-run-panel")
    expect(panel.locator(".exception")).to_contain_text(
        "ValueError: cannot parse row 3 of rows.csv"
    )
    traceback = panel.locator(".traceback pre")
    expect(traceback).to_be_visible()
    expect(traceback).to_contain_text("Traceback")
    expect(traceback).to_contain_text("in load_rows")
    expect(panel.locator(".json")).to_contain_text('"path": "rows.csv"')
    shot(page, "run-failed")


def test_cancel_a_running_run_from_its_page(page: Any, ui_server: str) -> None:
    run_id = start_run(ui_server, "ticker", seconds=120)
    page.goto(f"{ui_server}/runs/{run_id}")
    expect(page.locator("#graph g.node.s-running")).to_have_count(1, timeout=15_000)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Cancel run").click()
    expect(page.locator("#run-state")).to_have_attribute("data-state", "cancelled")
    expect(page.locator("#graph g.node.s-cancelled")).to_have_count(1)
    expect(page.get_by_role("button", name="Cancel run")).to_be_hidden()
    expect(page.get_by_role("button", name="Rerun")).to_be_visible()
    assert wait_run(ui_server, run_id)["state"] == "cancelled"
    shot(page, "run-cancelled")


def test_follow_the_log_of_a_running_task(page: Any, ui_server: str) -> None:
    run_id = start_run(ui_server, "ticker", seconds=4)
    page.goto(f"{ui_server}/runs/{run_id}")
    expect(page.locator("#graph g.node.s-running")).to_have_count(1, timeout=15_000)
    page.locator("#graph g.node").first.click()
    page.get_by_role("button", name="Follow log").click()
    log = page.locator(".log pre")
    expect(log).to_contain_text("tick 3", timeout=15_000)
    shot(page, "run-log-tail")
    # The tail keeps growing while the task runs, then says the log has ended.
    expect(log).to_contain_text("tick 12", timeout=15_000)
    expect(page.locator(".log-status")).to_contain_text("End of log", timeout=30_000)
    expect(log).to_contain_text("tick 20")


def test_download_an_artifact_of_a_task_run(page: Any, ui_server: str) -> None:
    run_id = start_run(ui_server, "hello", name="Grace", options={"repeat": 2})
    assert wait_run(ui_server, run_id)["state"] == "succeeded"
    page.goto(f"{ui_server}/runs/{run_id}")
    page.locator("#graph g.node", has_text="greet").click()
    link = page.locator("#task-run-panel .artifacts a", has_text="greeting.txt")
    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename == "greeting.txt"
    with open(download.path(), encoding="utf-8") as handle:
        assert handle.read() == "hello Grace! hello Grace!\n"
    expect(page.locator("#task-run-panel")).to_contain_text(
        '"greeting": "hello Grace! hello Grace!"'
    )
    shot(page, "run-artifacts")


def test_resume_and_rerun_buttons_start_new_runs(page: Any, ui_server: str) -> None:
    failed = start_run(ui_server, "broken")
    wait_run(ui_server, failed)
    page.goto(f"{ui_server}/runs/{failed}")
    page.get_by_role("button", name="Resume from failure").click()
    page.wait_for_url(re.compile(r"/runs/(?!" + failed + r")[0-9a-f]{32}$"))
    resumed = page.url.rsplit("/", 1)[1]
    expect(page.locator(".facts")).to_contain_text("Resumed from")
    assert httpx.get(f"{ui_server}/api/v1/runs/{resumed}").json()["resumed_from"] == failed
    expect(page.locator("#run-state")).to_have_attribute("data-state", "failed")
    page.get_by_role("button", name="Rerun").click()
    page.wait_for_url(re.compile(r"/runs/(?!" + resumed + r")[0-9a-f]{32}$"))
    rerun = page.url.rsplit("/", 1)[1]
    assert httpx.get(f"{ui_server}/api/v1/runs/{rerun}").json()["args"] == {}


def test_a_waiting_task_run_says_why_and_the_runs_list_follows_states(
    page: Any, ui_server: str
) -> None:
    run_id = start_run(ui_server, "waits", seconds=120)
    page.goto(f"{ui_server}/runs/{run_id}")
    expect(page.locator("#graph g.node.s-running")).to_have_count(1, timeout=15_000)
    page.locator("#graph g.node", has_text="count").click()
    why = page.locator("#task-run-panel .waiting")
    expect(why).to_contain_text("Why is this waiting?")
    expect(why).to_contain_text("waiting for upstream task runs: tick (running)")
    shot(page, "run-waiting")

    page.goto(f"{ui_server}/runs?pipeline=waits")
    row = page.locator(f"#runs tr[data-run='{run_id}']")
    expect(row.locator(".run-state")).to_have_text("running")
    page.evaluate("window.__sameDocument = true")
    assert httpx.post(f"{ui_server}/api/v1/runs/{run_id}/cancel").json() == {"cancelled": True}
    expect(row.locator(".run-state")).to_have_text("cancelled", timeout=15_000)
    assert page.evaluate("window.__sameDocument") is True


def test_timeline_and_task_run_list_of_a_run(page: Any, ui_server: str) -> None:
    run_id = start_run(ui_server, "hello", name="Lin")
    wait_run(ui_server, run_id)
    page.goto(f"{ui_server}/runs/{run_id}")
    page.get_by_role("tab", name="Timeline").click()
    expect(page.locator("#gantt rect.attempt")).to_have_count(2)
    shot(page, "run-timeline")
    page.get_by_role("tab", name="Task runs").click()
    rows = page.locator("#task-runs tbody tr")
    expect(rows).to_have_count(2)
    rows.first.get_by_role("link").click()
    expect(page.locator("#task-run-panel h2")).to_have_text("greet")


def test_keyboard_reaches_a_task_of_the_graph(page: Any, ui_server: str) -> None:
    page.goto(f"{ui_server}/pipelines/hello")
    expect(page.locator("#graph g.node")).to_have_count(2)
    page.locator("#graph").focus()
    page.keyboard.press("Tab")  # into the graph's first task
    page.keyboard.press("Enter")
    expect(page.locator("#task-panel h2")).to_have_text("greet")
    expect(page.locator("#task-panel")).to_contain_text("Retries")


def test_lists_and_operations_pages(page: Any, ui_server: str) -> None:
    done = start_run(ui_server, "hello", name="Kim")
    wait_run(ui_server, done)
    page.goto(f"{ui_server}/")
    expect(page.locator("#pipelines tbody tr")).to_have_count(4)
    page.locator("#pipeline-search").fill("tick")
    expect(page.locator("#pipelines tbody tr:visible")).to_have_count(1)
    page.locator("#pipeline-search").fill("")
    shot(page, "pipelines")

    page.goto(f"{ui_server}/runs?pipeline=hello&state=succeeded")
    expect(page.locator(f"#runs tr[data-run='{done}']")).to_be_visible()
    expect(page.locator("#runs .run-state", has_text="failed")).to_have_count(0)
    shot(page, "runs")
    page.goto(f"{ui_server}/runs?since=yesterday")
    expect(page.locator(".filters .error")).to_contain_text("not a date")

    page.goto(f"{ui_server}/workers")
    expect(page.locator("table.grid tbody tr").first).to_contain_text("alive")
    shot(page, "workers")
    page.goto(f"{ui_server}/queues")
    shot(page, "queues")
    created = httpx.post(
        f"{ui_server}/api/v1/schedules",
        json={
            "name": "nightly_hello",
            "pipeline": "hello",
            "cron": "0 2 * * *",
            "args": {"name": "Ada"},
        },
    )
    assert created.status_code == 201, created.text
    page.goto(f"{ui_server}/schedules")
    row = page.locator("#schedules tbody tr", has_text="nightly_hello")
    expect(row).to_contain_text("0 2 * * *")
    expect(row).to_contain_text("active")
    shot(page, "schedules")
    row.get_by_role("button", name="Pause").click()
    expect(row.locator(".tag")).to_have_text("paused")
    assert httpx.get(f"{ui_server}/api/v1/schedules/nightly_hello").json()["state"] == "paused"
    page.goto(f"{ui_server}/")
    expect(page.locator("#pipelines tr[data-pipeline='hello'] .schedule")).to_contain_text(
        "0 2 * * *"
    )

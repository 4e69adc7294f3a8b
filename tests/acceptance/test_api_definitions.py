"""Pipelines defined through the API from recipes, against real server processes on
SQLite and PostgreSQL: the tasks come from the registry code locations fill; workers run
them from their own code."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .api_server import headwater_process, is_problem, serving, wait_run
from .conftest import explain, hw

YAML = {"content-type": "application/yaml"}
REPORT = """\
name: clean_orders
description: Extract and validate orders, then count the clean lines.
params:
  min_amount: {type: number, default: 10}
tasks:
  - id: extract
    task: pipelines.etl.extract
    args: {source: data/orders.csv}
  - id: validate
    task: pipelines.etl.validate
    args: {rows: {$output: extract}, min_amount: {$param: min_amount}}
  - id: count
    command: 'echo "::output:: {\\"valid\\": $HW_ARG_ROWS}"'
    params: {rows: {type: array}}
    args: {rows: {$output: validate, path: [valid]}}
output: {$output: count}
"""
BROKEN = """\
name: broken
params:
  day: {type: string}
tasks:
  - id: extract
    task: pipelines.etl.extract
    args: {source: 3, colour: red}
  - id: load
    task: pipelines.etl.no_such_task
    args: {x: {$param: month}}
    after: [nowhere]
"""


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    with serving(examples, database_url) as url:
        yield url


def _define(client: httpx.Client, recipe: str = REPORT) -> dict[str, object]:
    response = client.post("/api/v1/pipelines", content=recipe, headers=YAML)
    assert response.status_code == 201, response.text
    return response.json()  # type: ignore[no-any-return]


def test_tasks_of_the_code_location_are_registered_with_their_schemas(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        names = [t["name"] for t in client.get("/api/v1/tasks").json()]
        assert "pipelines.etl.extract" in names
        extract = client.get("/api/v1/tasks/pipelines.etl.extract").json()
        assert extract["params_schema"]["required"] == ["source"]
        assert extract["retries"] == 2
        assert extract["location"].endswith("examples")
        is_problem(client.get("/api/v1/tasks/pipelines.etl.nope"), 404, "not-found")


def test_a_recipe_posted_as_yaml_runs_on_the_embedded_worker(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        created = _define(client)
        assert created["origin"] == "api"
        assert [n["id"] for n in created["nodes"]] == ["extract", "validate", "count"]  # type: ignore[index]
        listed = {p["name"]: p for p in client.get("/api/v1/pipelines").json()}
        assert listed["clean_orders"]["enabled"] is True
        accepted = client.post("/api/v1/pipelines/clean_orders/runs", json={"args": {}})
        assert accepted.status_code == 202, accepted.text
        run = wait_run(client, accepted.json()["status_url"])
        assert run["state"] == "succeeded", run
        count = next(t for t in run["task_runs"] if t["node"] == "count")
        validate = next(t for t in run["task_runs"] if t["node"] == "validate")
        assert count["output"] == {"valid": validate["output"]["valid"]}
        assert len(validate["output"]["valid"]) > 0


def test_invalid_recipes_get_the_same_problems_as_headwater_validate(
    server: str, examples: Path
) -> None:
    (examples / "broken.yaml").write_text(BROKEN)
    cli = hw("validate", "broken.yaml", cwd=examples)
    assert cli.returncode == 2, explain(cli)
    with httpx.Client(base_url=server) as client:
        body = is_problem(
            client.post("/api/v1/pipelines", content=BROKEN, headers=YAML),
            422,
            "invalid-definition",
        )
        as_json = client.post("/api/v1/pipelines", json={"name": "x y", "tasks": "none"})
        pydantic_problems = is_problem(as_json, 422, "invalid-definition")["errors"]
    # The CLI prints "  <file>: <path>: <message>" per problem; the API gives path+message.
    cli_problems = sorted(
        line.strip().split(": ", 1)[1] for line in cli.stderr.splitlines() if line.startswith("  ")
    )
    api_problems = sorted(f"{e['path']}: {e['message']}" for e in body["errors"])
    assert api_problems == cli_problems
    assert "$.tasks[1].task: unknown task 'pipelines.etl.no_such_task'" in api_problems
    assert {e["path"] for e in pydantic_problems} == {"$.name", "$.tasks"}


def test_unparsable_bodies_are_problems_not_crashes(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        bad_yaml = client.post("/api/v1/pipelines", content="name: [unclosed", headers=YAML)
        assert is_problem(bad_yaml, 422, "invalid-definition")["errors"][0]["path"] == "$"
        not_a_mapping = client.post("/api/v1/pipelines", json=[1, 2])
        assert (
            "mapping"
            in is_problem(not_a_mapping, 422, "invalid-definition")["errors"][0]["message"]
        )
        text = client.post(
            "/api/v1/pipelines", content="hi", headers={"content-type": "text/plain"}
        )
        is_problem(text, 415, "unsupported-media-type")


def test_put_makes_a_new_version_and_runs_keep_the_one_they_started_with(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        first = _define(client)
        earlier = client.post(
            "/api/v1/pipelines/clean_orders/runs", json={"args": {"min_amount": 1000}}
        ).json()
        changed = REPORT.replace("default: 10", "default: 50")
        replaced = client.put("/api/v1/pipelines/clean_orders", content=changed, headers=YAML)
        assert replaced.status_code == 200, replaced.text
        second = replaced.json()
        assert second["version_id"] != first["version_id"]
        assert second["params_schema"]["properties"]["min_amount"]["default"] == 50
        versions = client.get("/api/v1/pipelines/clean_orders/versions").json()["versions"]
        assert [(v["version_id"], v["current"]) for v in versions] == [
            (second["version_id"], True),
            (first["version_id"], False),
        ]
        old_run = wait_run(client, earlier["status_url"])
        assert old_run["version_id"] == first["version_id"]
        new_run = client.post("/api/v1/pipelines/clean_orders/runs", json={}).json()
        assert wait_run(client, new_run["status_url"])["version_id"] == second["version_id"]
        old = client.get(f"/api/v1/pipelines/clean_orders/versions/{first['version_id']}")
        assert old.json()["spec"]["params"]["properties"]["min_amount"]["default"] == 10
        mismatch = client.put("/api/v1/pipelines/other_name", content=changed, headers=YAML)
        assert is_problem(mismatch, 422, "invalid-definition")["errors"][0]["path"] == "$.name"
        code = client.put("/api/v1/pipelines/word_count", json={"name": "word_count", "tasks": []})
        is_problem(code, 409, "conflict")
        is_problem(client.post("/api/v1/pipelines", content=REPORT, headers=YAML), 409, "conflict")


def test_a_disabled_pipeline_refuses_new_runs_until_enabled(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        disabled = client.post("/api/v1/pipelines/word_count/disable")
        assert disabled.json()["enabled"] is False
        refused = client.post("/api/v1/pipelines/word_count/runs", json={"args": {"top": 1}})
        assert "disabled" in is_problem(refused, 409, "pipeline-disabled")["detail"]
        assert client.get("/api/v1/pipelines/word_count").json()["enabled"] is False
        assert client.post("/api/v1/pipelines/word_count/enable").json()["enabled"] is True
        accepted = client.post("/api/v1/pipelines/word_count/runs", json={"args": {"top": 1}})
        assert accepted.status_code == 202, accepted.text
        is_problem(client.post("/api/v1/pipelines/nope/disable"), 404, "not-found")


def test_delete_hides_an_api_pipeline_but_keeps_its_runs(server: str) -> None:
    with httpx.Client(base_url=server) as client:
        _define(client)
        run = client.post("/api/v1/pipelines/clean_orders/runs", json={}).json()
        wait_run(client, run["status_url"])
        assert client.delete("/api/v1/pipelines/clean_orders").status_code == 204
        assert "clean_orders" not in {p["name"] for p in client.get("/api/v1/pipelines").json()}
        is_problem(client.get("/api/v1/pipelines/clean_orders"), 404, "not-found")
        is_problem(client.post("/api/v1/pipelines/clean_orders/runs", json={}), 404, "not-found")
        kept = client.get(run["status_url"])
        assert kept.status_code == 200
        assert kept.json()["state"] == "succeeded"
        history = client.get("/api/v1/pipelines/clean_orders/versions").json()
        assert history["deleted"] is True
        assert len(history["versions"]) == 1
        is_problem(client.delete("/api/v1/pipelines/clean_orders"), 404, "not-found")
        is_problem(client.delete("/api/v1/pipelines/word_count"), 409, "conflict")
        _define(client)  # the name can be used again
        assert client.get("/api/v1/pipelines/clean_orders").status_code == 200


def test_a_separate_worker_runs_recipes_defined_through_the_api(
    examples: Path, database_url: str
) -> None:
    """`headwater api` has no worker and never imports the project's tasks; a worker of
    the code location starting later registers them, and then runs the API's recipe."""
    empty = examples.parent / "api-only"
    empty.mkdir()
    with serving(empty, database_url, command="api") as url, httpx.Client(base_url=url) as client:
        unknown = client.post("/api/v1/pipelines", content=REPORT, headers=YAML)
        assert is_problem(unknown, 422, "invalid-definition")
        with headwater_process(examples, database_url, "worker", log_name="worker.log"):
            _wait_registered(client, "pipelines.etl.validate")
            _define(client)
            accepted = client.post("/api/v1/pipelines/clean_orders/runs", json={}).json()
            run = wait_run(client, accepted["status_url"])
        assert run["state"] == "succeeded", run
        assert {a["worker_id"] for t in run["task_runs"] for a in t["attempts"]} != {None}


def _wait_registered(client: httpx.Client, task: str) -> None:
    deadline = time.monotonic() + 30
    while client.get(f"/api/v1/tasks/{task}").status_code != 200:
        assert time.monotonic() < deadline, "the worker did not register its tasks"
        time.sleep(0.1)

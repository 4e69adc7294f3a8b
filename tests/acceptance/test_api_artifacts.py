"""Artifacts by task run over HTTP, against a real `headwater serve` (SQLite and
PostgreSQL): list, download, ranges, signed and presigned links, no path traversal."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from headwater.api.signing import sign

from .api_server import is_problem, serving, wait_run


@pytest.fixture
def project(examples: Path) -> Path:
    return examples


@pytest.fixture
def server(project: Path, database_url: str) -> Iterator[str]:
    with serving(project, database_url) as url:
        yield url


def _finished_etl(client: httpx.Client) -> dict[str, dict[str, Any]]:
    """A succeeded orders_etl run's task runs, by node."""
    accepted = client.post("/api/v1/pipelines/orders_etl/runs", json={})
    run = wait_run(client, accepted.json()["status_url"])
    assert run["state"] == "succeeded", run
    return {t["node"]: t for t in run["task_runs"]}


def test_list_and_download_outputs_params_and_logs(server: str, project: Path) -> None:
    with httpx.Client(base_url=server) as client:
        task_runs = _finished_etl(client)
        clean = task_runs["write_clean"]
        listed = client.get(f"/api/v1/task-runs/{clean['id']}/artifacts").json()
        assert [a["path"] for a in listed] == ["clean.csv", "output.json", "params.json"]
        by_path = {a["path"]: a for a in listed}
        csv = client.get(by_path["clean.csv"]["url"])
        assert csv.status_code == 200
        assert csv.headers["content-type"].startswith("text/csv")
        assert csv.headers["content-disposition"].startswith("attachment")
        assert csv.text.startswith("amount,currency,customer,date,order_id\r\n")
        assert len(csv.content) == by_path["clean.csv"]["size"]
        assert json.loads(client.get(by_path["output.json"]["url"]).text) == clean["output"]
        assert json.loads(client.get(by_path["params.json"]["url"]).text) == clean["args"]
        head = client.get(by_path["clean.csv"]["url"], headers={"Range": "bytes=0-5"})
        assert (head.status_code, head.text) == (206, "amount")

        validate = task_runs["validate"]
        listed = client.get(f"/api/v1/task-runs/{validate['id']}/artifacts").json()
        logs = [a for a in listed if a["path"].startswith("attempts/")]
        assert sorted(a["path"].rsplit("/", 1)[1] for a in logs) == ["combined.log", "stdout.log"]
        stdout = next(a for a in logs if a["path"].endswith("stdout.log"))
        assert "valid rows" in client.get(stdout["url"]).text

        is_problem(client.get("/api/v1/task-runs/999999/artifacts"), 404, "not-found")
        missing = client.get(f"/api/v1/task-runs/{clean['id']}/artifacts/nothing.csv")
        is_problem(missing, 404, "not-found")


def test_a_small_output_is_served_from_the_database(server: str, project: Path) -> None:
    """validate returns small JSON and writes no file: the store holds only its logs, and
    the API still shows its output.json and params.json, whole, by range and by link."""
    with httpx.Client(base_url=server) as client:
        validate = _finished_etl(client)["validate"]
        folders = list((project / ".headwater" / "artifacts").glob("*/pipelines.etl.validate/*"))
        assert folders  # its logs
        assert not [f for f in folders if (f / "output.json").exists()]
        listed = client.get(f"/api/v1/task-runs/{validate['id']}/artifacts").json()
        by_path = {a["path"]: a for a in listed}
        assert {"output.json", "params.json"} <= set(by_path)
        output = client.get(by_path["output.json"]["url"])
        assert output.headers["content-type"].startswith("application/json")
        assert json.loads(output.text) == validate["output"]
        assert len(output.content) == by_path["output.json"]["size"]
        params = client.get(by_path["params.json"]["url"]).text
        assert json.loads(params) == validate["args"]
        assert params.startswith("{\n  ")  # indented for a person
        head = client.get(by_path["output.json"]["url"], headers={"Range": "bytes=0-0"})
        assert (head.status_code, head.content) == (206, output.content[:1])

        made = client.post(f"/api/v1/task-runs/{validate['id']}/artifacts/output.json/link")
        assert made.status_code == 200, made.text
        assert httpx.get(made.json()["url"]).content == output.content


@pytest.mark.parametrize(
    "path",
    [
        "..%2F..%2F..%2F..%2Fapi-secret",
        "..%2Foutput.json",
        "attempts%2F..%2F..%2Foutput.json",
        "%2Fetc%2Fpasswd",
        "..%5C..%5Capi-secret",
        "clean.csv%00.txt",
        "_COMPLETE",
    ],
)
def test_no_path_reaches_outside_the_task_runs_listed_files(
    server: str, project: Path, path: str
) -> None:
    with httpx.Client(base_url=server) as client:
        clean = _finished_etl(client)["write_clean"]
        base = f"{server}/api/v1/task-runs/{clean['id']}/artifacts/"
        # Sent as written: httpx would otherwise resolve the dots before sending.
        response = client.send(client.build_request("GET", httpx.URL(base + path)))
        assert response.status_code in (404, 422), response.text
        assert b"amount," not in response.content
        assert (project / ".headwater" / "api-secret").read_bytes() not in response.content
        linked = client.post(httpx.URL(base + path + "/link"), json={"expires_in": 60})
        assert linked.status_code in (404, 422), linked.text


def test_signed_links_work_until_they_expire(server: str, project: Path) -> None:
    with httpx.Client(base_url=server) as client:
        clean = _finished_etl(client)["write_clean"]
        made = client.post(
            f"/api/v1/task-runs/{clean['id']}/artifacts/clean.csv/link", json={"expires_in": 600}
        )
        assert made.status_code == 200, made.text
        link = made.json()
        assert abs(link["expires_at"] - (time.time() + 600)) < 60
        shared = httpx.get(link["url"])
        assert shared.status_code == 200
        assert shared.text.startswith("amount,")

        query = parse_qs(urlsplit(link["url"]).query)
        tampered = link["url"].replace(query["signature"][0], "0" * 64)
        is_problem(httpx.get(tampered), 403, "bad-signature")
        other_file = link["url"].replace("clean.csv", "output.json")
        is_problem(httpx.get(other_file), 403, "bad-signature")
        longer = link["url"].replace(f"expires={link['expires_at']}", "expires=99999999999")
        is_problem(httpx.get(longer), 403, "bad-signature")

        # A link this server signed (its secret is kept in the project) whose time is up.
        secret = (project / ".headwater" / "api-secret").read_bytes().strip()
        past = int(time.time()) - 10
        signature = sign(secret, f"{clean['id']}/clean.csv", past)
        expired = (
            f"{server}/api/v1/shared/task-runs/{clean['id']}/artifacts/clean.csv"
            f"?expires={past}&signature={signature}"
        )
        is_problem(httpx.get(expired), 403, "link-expired")
        body = is_problem(
            client.post(
                f"/api/v1/task-runs/{clean['id']}/artifacts/clean.csv/link",
                json={"expires_in": 0},
            ),
            422,
            "invalid-request",
        )
        assert body["errors"][0]["path"] == "body.expires_in"


def test_an_s3_store_gives_presigned_urls(
    examples: Path, database_url: str, s3_bucket: str
) -> None:
    with (
        serving(examples, database_url, HEADWATER_ARTIFACTS=f"{s3_bucket}/artifacts") as url,
        httpx.Client(base_url=url) as client,
    ):
        clean = _finished_etl(client)["write_clean"]
        link = client.post(
            f"/api/v1/task-runs/{clean['id']}/artifacts/clean.csv/link", json={"expires_in": 60}
        ).json()
        assert "X-Amz-Signature=" in link["url"] or "Signature=" in link["url"]
        assert not link["url"].startswith(url)
        assert httpx.get(link["url"]).text.startswith("amount,")
        listed = client.get(f"/api/v1/task-runs/{clean['id']}/artifacts").json()
        assert [a["path"] for a in listed] == ["clean.csv", "output.json", "params.json"]

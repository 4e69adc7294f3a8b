"""Webhook triggers and the sensors and notifications endpoints, through the HTTP API on
both backends: signatures checked (401/403 problem+json), payloads mapped to run
arguments, retried deliveries starting one run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headwater import pipeline, task
from headwater.api.app import create_app
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.signatures import sign
from headwater.domain.triggers import FileSensorDef, HookDef
from headwater.services.context import Services
from headwater.services.runs import get_run_view, register_pipeline
from headwater.services.sensors import save_sensors

REGISTRY = Registry()
PROBLEM = "application/problem+json"
SECRET = "hook-secret"

with use_registry(REGISTRY):

    @task(cache=False)
    def export(day: str, ids: list, source: str) -> int:
        return len(ids)

    @pipeline
    def crm_export(day: str, ids: list, source: str = "crm"):
        return export(day, ids, source)


@pytest.fixture
def client(services: Services) -> Iterator[TestClient]:
    register_pipeline(services, crm_export.spec)
    hook = HookDef(
        name="crm",
        pipeline="crm_export",
        args={"source": "crm-webhook"},
        mapping={"day": "/data/date", "ids": "/data/items"},
    )
    save_sensors(services, [hook], {"crm": SECRET})
    with TestClient(create_app(services)) as test_client:
        yield test_client


def _post(client: TestClient, payload: Any, secret: str | None = SECRET, **headers: str) -> Any:
    body = json.dumps(payload).encode()
    if secret is not None:
        headers["X-Headwater-Signature"] = sign(secret, body)
    return client.post("/api/v1/hooks/crm", content=body, headers=headers)


PAYLOAD = {"data": {"date": "2026-11-22", "items": [1, 2, 3]}}


def test_a_signed_call_starts_a_run_with_mapped_arguments(
    client: TestClient, services: Services
) -> None:
    response = _post(client, PAYLOAD)
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["pipeline"] == "crm_export"
    assert body["created"] is True
    run = get_run_view(services, body["run_id"]).run
    assert run.args == {"day": "2026-11-22", "ids": [1, 2, 3], "source": "crm-webhook"}
    assert "hook:crm" in run.tags
    assert client.get(body["status_url"].replace("http://testserver", "")).status_code == 200


def test_unsigned_and_badly_signed_calls_are_refused(client: TestClient) -> None:
    missing = _post(client, PAYLOAD, secret=None)
    assert missing.status_code == 401
    assert missing.headers["content-type"] == PROBLEM
    assert "X-Headwater-Signature" in missing.json()["detail"]
    wrong = _post(client, PAYLOAD, secret="guess")
    assert wrong.status_code == 403
    assert wrong.headers["content-type"] == PROBLEM
    tampered = client.post(
        "/api/v1/hooks/crm",
        content=b'{"data": {"date": "1999-01-01", "items": []}}',
        headers={"X-Headwater-Signature": sign(SECRET, json.dumps(PAYLOAD).encode())},
    )
    assert tampered.status_code == 403


def test_unknown_hooks_are_404_and_file_sensors_are_not_hooks(
    client: TestClient, services: Services
) -> None:
    save_sensors(services, [FileSensorDef(name="files", pipeline="crm_export", url="/x/*")])
    for name in ("nope", "files"):
        response = client.post(f"/api/v1/hooks/{name}", content=b"{}")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


def test_a_payload_missing_a_mapped_field_is_422_naming_it(client: TestClient) -> None:
    response = _post(client, {"data": {"date": "2026-11-22"}})
    assert response.status_code == 422
    assert response.json()["errors"][0]["path"] == "ids"
    not_json = client.post(
        "/api/v1/hooks/crm",
        content=b"not json",
        headers={"X-Headwater-Signature": sign(SECRET, b"not json")},
    )
    assert not_json.status_code == 422


def test_a_retried_delivery_starts_one_run(client: TestClient) -> None:
    first = _post(client, PAYLOAD, **{"X-Headwater-Delivery": "d-1"})
    again = _post(client, PAYLOAD, **{"X-Headwater-Delivery": "d-1"})
    other = _post(client, PAYLOAD, **{"X-Headwater-Delivery": "d-2"})
    assert first.status_code == again.status_code == other.status_code == 202
    assert again.json()["run_id"] == first.json()["run_id"]
    assert again.json()["created"] is False
    assert other.json()["run_id"] != first.json()["run_id"]


def test_sensors_are_listed_paused_and_resumed(client: TestClient) -> None:
    (listed,) = client.get("/api/v1/sensors").json()
    assert listed["name"] == "crm"
    assert listed["kind"] == "hook"
    assert listed["has_secret"] is True
    assert "secret" not in json.dumps(listed["config"])
    assert listed["hook_url"].endswith("/api/v1/hooks/crm")
    assert client.post("/api/v1/sensors/crm/pause").json()["paused"] is True
    paused = _post(client, PAYLOAD)
    assert paused.status_code == 409
    assert paused.headers["content-type"] == PROBLEM
    assert client.post("/api/v1/sensors/crm/resume").json()["paused"] is False
    assert _post(client, PAYLOAD).status_code == 202
    assert client.get("/api/v1/sensors/crm").json()["last_run_id"] is not None
    assert client.post("/api/v1/sensors/nope/pause").status_code == 404


def test_notifications_are_created_read_and_their_deliveries_listed(client: TestClient) -> None:
    created = client.post(
        "/api/v1/notifications",
        json={
            "name": "ops",
            "url": "http://127.0.0.1:9/hook",
            "events": ["failed", "succeeded"],
            "secret": "s",
            "headers": {"X-Team": "data"},
        },
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "webhook"
    assert body["has_secret"] is True
    assert "secret" not in body
    assert (
        client.post("/api/v1/notifications", json={"name": "ops", "url": "http://x"}).status_code
        == 409
    )
    notification_id = body["id"]
    assert client.get(f"/api/v1/notifications/{notification_id}").json()["name"] == "ops"
    assert client.get("/api/v1/notifications").json()[0]["id"] == notification_id
    disabled = client.post(f"/api/v1/notifications/{notification_id}/disable").json()
    assert disabled["enabled"] is False
    page = client.get(f"/api/v1/notifications/{notification_id}/deliveries").json()
    assert page == {"deliveries": [], "next_cursor": None}
    assert client.delete(f"/api/v1/notifications/{notification_id}").status_code == 204
    assert client.get(f"/api/v1/notifications/{notification_id}").status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x"}, "body"),  # neither url nor email_to
        ({"name": "x", "url": "ftp://host/"}, "body.url"),
        ({"name": "x", "email_to": ["not an address"]}, "body.email_to"),
        ({"name": "x", "url": "http://h/", "events": ["exploded"]}, "body.events.0"),
        ({"name": "x", "url": "http://h/", "max_attempts": 0}, "body.max_attempts"),
    ],
)
def test_bad_notifications_are_422_naming_the_field(
    client: TestClient, body: dict[str, Any], field: str
) -> None:
    response = client.post("/api/v1/notifications", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert field in [e["path"] for e in response.json()["errors"]]

"""Run-end notifications on both backends: the outbox row is written with the run's end,
webhooks are retried with backoff until a real HTTP receiver accepts one (signed), and
email reaches a real SMTP server."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.signatures import signature_matches
from headwater.domain.triggers import NotificationDef
from headwater.local import run_pipeline
from headwater.services.context import Services
from headwater.services.notifications import (
    deliver_due_notifications,
    list_deliveries,
    save_notification,
    set_notification_enabled,
)
from headwater.services.runs import cancel_run, register_pipeline, start_run

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task(cache=False)
    def check(n: int) -> int:
        if n < 0:
            raise ValueError(f"negative: {n}")
        return n

    @pipeline
    def checked(n: int = 1):
        return check(n)


@dataclass
class Receiver:
    """A real HTTP server on port 0 that answers 500 to its first `failures` calls."""

    failures: int
    calls: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    state = Receiver(failures=2)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.calls.append((dict(self.headers.items()), body))
            failing = len(state.calls) <= state.failures
            self.send_response(500 if failing else 200)
            self.end_headers()
            self.wfile.write(b"try later" if failing else b"ok")

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield state
    server.shutdown()
    server.server_close()


def _deliver_until_done(svc: Services, settings: Settings, passes: int) -> None:
    for _ in range(passes):
        if deliver_due_notifications(svc, settings) == 0:
            return


def test_failed_webhook_is_retried_until_the_third_call_succeeds_signed(
    services: Services, settings: Settings, receiver: Receiver
) -> None:
    notification_id = save_notification(
        services,
        NotificationDef(
            name="ops",
            url=receiver.url,
            events=["failed"],
            headers={"X-Team": "data"},
            secret="s3cret",
            backoff_seconds=0,
        ),
        "api",
    )
    result = run_pipeline(services, settings, checked, args={"n": -1}, registry=REGISTRY)
    assert result.state == "failed"
    _deliver_until_done(services, settings, passes=5)

    assert len(receiver.calls) == 3
    headers, body = receiver.calls[-1]
    assert signature_matches("s3cret", body, headers["X-Headwater-Signature"])
    assert headers["X-Team"] == "data"
    assert headers["X-Headwater-Event"] == "run.failed"
    payload = json.loads(body)
    assert payload["run"]["id"] == result.run_id
    assert payload["run"]["state"] == "failed"
    assert payload["run"]["status_url"].endswith(f"/api/v1/runs/{result.run_id}")
    assert payload["run"]["ended_at"] >= payload["run"]["created_at"]
    (failed,) = payload["failed_task_runs"]
    assert failed["node"] == "check"
    assert "negative: -1" in failed["error"]

    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.state == "delivered"
    assert delivery.attempts == 3
    assert [entry.get("status") for entry in delivery.log] == [500, 500, 200]
    assert "try later" in delivery.log[0]["error"]


def test_a_webhook_that_keeps_failing_gives_up_after_max_attempts(
    services: Services, settings: Settings, receiver: Receiver
) -> None:
    receiver.failures = 100
    notification_id = save_notification(
        services,
        NotificationDef(name="ops", url=receiver.url, max_attempts=2, backoff_seconds=0),
        "api",
    )
    run_pipeline(services, settings, checked, args={"n": -1}, registry=REGISTRY)
    _deliver_until_done(services, settings, passes=5)
    assert len(receiver.calls) == 2
    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.state == "failed"
    assert delivery.attempts == 2


def test_a_retry_waits_for_its_backoff(
    services: Services, settings: Settings, receiver: Receiver
) -> None:
    notification_id = save_notification(
        services, NotificationDef(name="ops", url=receiver.url, backoff_seconds=600), "api"
    )
    run_pipeline(services, settings, checked, args={"n": -1}, registry=REGISTRY)
    _deliver_until_done(services, settings, passes=3)
    assert len(receiver.calls) == 1  # the retry is due in 10 minutes, not now
    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.state == "pending"
    assert delivery.next_attempt_at - delivery.log[0]["at"] == pytest.approx(600, abs=1)


def test_events_and_pipelines_choose_which_runs_are_told(
    services: Services, settings: Settings, receiver: Receiver
) -> None:
    receiver.failures = 0
    on_failure = save_notification(
        services, NotificationDef(name="failures", url=receiver.url, events=["failed"]), "api"
    )
    on_any = save_notification(
        services,
        NotificationDef(name="all", url=receiver.url, events=["finished"], pipeline="checked"),
        "api",
    )
    other = save_notification(
        services,
        NotificationDef(name="other", url=receiver.url, events=["finished"], pipeline="nope"),
        "api",
    )
    run_pipeline(services, settings, checked, args={"n": 2}, registry=REGISTRY)
    assert list_deliveries(services, on_failure) == []
    assert len(list_deliveries(services, on_any)) == 1
    assert list_deliveries(services, other) == []

    set_notification_enabled(services, on_any, False)
    run_pipeline(services, settings, checked, args={"n": 3}, registry=REGISTRY)
    assert len(list_deliveries(services, on_any)) == 1


def test_a_cancelled_run_is_told_only_once_it_is_cancelled(
    services: Services, settings: Settings, receiver: Receiver
) -> None:
    receiver.failures = 0
    notification_id = save_notification(
        services, NotificationDef(name="c", url=receiver.url, events=["cancelled"]), "api"
    )
    register_pipeline(services, checked.spec)
    run_id = start_run(services, "checked", {"n": 1})
    assert deliver_due_notifications(services, settings) == 0  # still running: nothing
    assert cancel_run(services, run_id)
    _deliver_until_done(services, settings, passes=2)
    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.event == "cancelled"
    assert delivery.state == "delivered"
    assert json.loads(receiver.calls[0][1])["run"]["state"] == "cancelled"


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)


@pytest.fixture
def smtp_server() -> Iterator[Mailbox]:
    """aiosmtpd on its own event loop thread, listening on an ephemeral port."""
    from aiosmtpd.smtp import SMTP, Envelope, Session

    loop = asyncio.new_event_loop()
    box = Mailbox(port=0)

    class Handler:
        async def handle_DATA(self, _server: SMTP, _session: Session, envelope: Envelope) -> str:
            message = message_from_bytes(envelope.original_content or b"")
            message["X-Rcpt-To"] = ", ".join(envelope.rcpt_tos)
            box.messages.append(message)
            return "250 OK"

    server = loop.run_until_complete(loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0))
    box.port = server.sockets[0].getsockname()[1]
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield box
    loop.call_soon_threadsafe(server.close)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


def test_an_email_arrives_at_the_smtp_server(
    services: Services, settings: Settings, smtp_server: Mailbox
) -> None:
    settings = settings.with_(
        smtp_host="127.0.0.1",
        smtp_port=smtp_server.port,
        smtp_from="headwater@example.com",
        public_url="http://hw.example.com",
    )
    notification_id = save_notification(
        services,
        NotificationDef(name="mail", email_to=["ops@example.com"], events=["failed"]),
        "api",
    )
    result = run_pipeline(services, settings, checked, args={"n": -5}, registry=REGISTRY)
    _deliver_until_done(services, settings, passes=2)

    (message,) = smtp_server.messages
    assert message["X-Rcpt-To"] == "ops@example.com"
    assert message["From"] == "headwater@example.com"
    assert "checked failed" in message["Subject"]
    text = message.get_payload(decode=True).decode()
    assert f"http://hw.example.com/api/v1/runs/{result.run_id}" in text
    assert "negative: -5" in text
    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.state == "delivered"


def test_email_without_smtp_settings_fails_visibly(services: Services, settings: Settings) -> None:
    notification_id = save_notification(
        services,
        NotificationDef(name="mail", email_to=["ops@example.com"], max_attempts=1),
        "api",
    )
    run_pipeline(services, settings, checked, args={"n": -1}, registry=REGISTRY)
    _deliver_until_done(services, settings, passes=2)
    (delivery,) = list_deliveries(services, notification_id)
    assert delivery.state == "failed"
    assert "smtp_host" in delivery.log[0]["error"]

"""Sending one notification: the JSON payload of an ended run, POSTed to a webhook
(signed with HMAC-SHA256) or written as an email over SMTP. No database here: the
delivery loop in `services.notifications` reads, sends through this, then records."""

from __future__ import annotations

import json
import smtplib
import ssl
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from headwater.config import Settings
from headwater.domain.signatures import SIGNATURE_HEADER, sign
from headwater.domain.states import TaskRunState
from headwater.services.runs import RunView
from headwater.store.notifications import NotificationRow

WEBHOOK_TIMEOUT_SECONDS = 10.0
SMTP_TIMEOUT_SECONDS = 20.0
MAX_RESPONSE_EXCERPT = 500  # bytes of a failed response body kept in the delivery log
API = "/api/v1"


@dataclass(frozen=True)
class Outcome:
    """One try: delivered or not, with what a person debugging it needs."""

    delivered: bool
    status: int | None = None  # the HTTP status, for webhooks that answered
    error: str | None = None


def run_payload(view: RunView, settings: Settings, delivery_id: int, name: str) -> dict[str, Any]:
    run = view.run
    base = settings.public_url.rstrip("/")
    errors: dict[int, str] = {}
    for attempt in view.attempts:  # attempts come in order: the last one's error wins
        if attempt.error_type or attempt.error_message:
            errors[attempt.task_run_id] = f"{attempt.error_type}: {attempt.error_message}"
    failed = [
        {
            "id": tr.id,
            "node": tr.node_id,
            "map_index": tr.map_index,
            "label": tr.label,
            "task": tr.task,
            "state": tr.state.value,
            "attempts": tr.attempts,
            "error": tr.error or errors.get(tr.id),
        }
        for tr in view.task_runs
        if tr.state == TaskRunState.FAILED
    ]
    return {
        "event": f"run.{run.state.value}",
        "notification": name,
        "delivery_id": delivery_id,
        "run": {
            "id": run.id,
            "pipeline": run.pipeline,
            "state": run.state.value,
            "args": run.args,
            "tags": run.tags,
            "created_at": run.created_at,
            "ended_at": run.ended_at,
            "duration_seconds": (run.ended_at - run.created_at) if run.ended_at else None,
            "status_url": f"{base}{API}/runs/{run.id}",
            "web_url": f"{base}/runs/{run.id}",
        },
        "failed_task_runs": failed,
    }


def post_webhook(
    notification: NotificationRow, payload: dict[str, Any], delivery_id: int
) -> Outcome:
    assert notification.url is not None
    body = json.dumps(payload, sort_keys=True).encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "headwater-notifications",
        "X-Headwater-Event": payload["event"],
        "X-Headwater-Delivery": str(delivery_id),
        **notification.headers,
    }
    if notification.secret:
        headers[SIGNATURE_HEADER] = sign(notification.secret, body)
    request = urllib.request.Request(notification.url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as response:
            return Outcome(True, status=response.status)
    except urllib.error.HTTPError as exc:
        excerpt = exc.read()[:MAX_RESPONSE_EXCERPT].decode("utf-8", "replace")
        return Outcome(False, status=exc.code, error=f"HTTP {exc.code}: {excerpt}".strip())
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")


def send_email(
    notification: NotificationRow, payload: dict[str, Any], settings: Settings
) -> Outcome:
    if not settings.smtp_host:
        return Outcome(False, error="SMTP is not configured (set smtp_host)")
    message = EmailMessage()
    run = payload["run"]
    message["Subject"] = f"[headwater] {run['pipeline']} {run['state']} (run {run['id']})"
    message["From"] = settings.smtp_from
    message["To"] = ", ".join(notification.email_to)
    message.set_content(_email_text(payload))
    try:
        with _smtp(settings) as smtp:
            if settings.smtp_username:
                smtp.login(settings.smtp_username, settings.smtp_password)
            smtp.send_message(message)
    except (smtplib.SMTPException, OSError) as exc:
        return Outcome(False, error=f"{type(exc).__name__}: {exc}")
    return Outcome(True)


def _smtp(settings: Settings) -> smtplib.SMTP:
    if settings.smtp_security == "ssl":
        return smtplib.SMTP_SSL(
            settings.smtp_host,
            settings.smtp_port,
            timeout=SMTP_TIMEOUT_SECONDS,
            context=ssl.create_default_context(),
        )
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=SMTP_TIMEOUT_SECONDS)
    if settings.smtp_security == "starttls":
        smtp.starttls(context=ssl.create_default_context())
    return smtp


def _email_text(payload: dict[str, Any]) -> str:
    run = payload["run"]
    lines = [
        f"Run {run['id']} of pipeline {run['pipeline']} ended: {run['state']}.",
        "",
        f"Arguments: {json.dumps(run['args'], sort_keys=True)}",
    ]
    if run["duration_seconds"] is not None:
        lines.append(f"Duration: {run['duration_seconds']:.1f} s")
    if payload["failed_task_runs"]:
        lines += ["", "Failed task runs:"]
        lines += [
            f"  {tr['label']} ({tr['state']}): {tr['error'] or 'no error recorded'}"
            for tr in payload["failed_task_runs"]
        ]
    lines += ["", f"Status: {run['status_url']}", ""]
    return "\n".join(lines)

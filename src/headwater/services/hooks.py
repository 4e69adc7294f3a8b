"""Webhook triggers: `POST /api/v1/hooks/{name}` starts a run of the hook's pipeline.

The caller signs the raw body with the hook's secret (HMAC-SHA256, header
``X-Headwater-Signature: sha256=<hex>``). Run arguments are the hook's fixed `args`
plus values taken from the JSON payload by its `mapping` (argument → JSON pointer).
A caller's delivery id (``X-Headwater-Delivery``) makes retries safe: the same id
starts one run, and asking again gives that run back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from headwater.domain.pointers import map_payload
from headwater.domain.problems import Problem
from headwater.domain.signatures import SIGNATURE_HEADER, signature_matches
from headwater.errors import Conflict, Forbidden, NotFound, Unauthenticated, ValidationError
from headwater.services.context import Services
from headwater.services.runs import create_run, run_request
from headwater.store import sensors as sensor_store
from headwater.store.sensors import SensorRow


@dataclass(frozen=True)
class HookRun:
    run_id: str
    pipeline: str
    created: bool  # False: the delivery id had already started this run


def trigger_hook(
    svc: Services, name: str, body: bytes, signature: str | None, delivery_id: str | None = None
) -> HookRun:
    with svc.db.read() as conn:
        hook = sensor_store.find_sensor(conn, name)
    if hook is None or hook.kind != "hook":
        raise NotFound(f"no webhook trigger named {name!r}")
    _check_signature(hook, body, signature)
    if hook.paused:
        raise Conflict(f"webhook trigger {name!r} is paused")
    args = {**hook.config["args"], **_mapped_args(hook, body)}
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        if delivery_id is not None:
            key = f"delivery:{delivery_id}"
            if not sensor_store.claim_key(conn, name, key, now):
                found = sensor_store.find_key_run(conn, name, key)
                if found is None:
                    raise Conflict(f"delivery {delivery_id!r} did not start a run")
                return HookRun(found, hook.pipeline, created=False)
        request = run_request(hook.pipeline, args, tags=[f"hook:{name}"])
        run_id = create_run(svc, conn, request)
        if delivery_id is not None:
            sensor_store.set_key_run(conn, name, f"delivery:{delivery_id}", run_id)
        sensor_store.record_tick(conn, name, now, None, run_id)
    svc.notify()
    return HookRun(run_id, hook.pipeline, created=True)


def _check_signature(hook: SensorRow, body: bytes, signature: str | None) -> None:
    if not signature:
        raise Unauthenticated(f"the {SIGNATURE_HEADER} header is missing")
    if not hook.secret:
        raise Forbidden(f"webhook trigger {hook.name!r} has no secret configured")
    if not signature_matches(hook.secret, body, signature):
        raise Forbidden(f"the {SIGNATURE_HEADER} header does not match the body")


def _mapped_args(hook: SensorRow, body: bytes) -> dict[str, Any]:
    mapping: dict[str, str] = hook.config["mapping"]
    if not mapping:
        return {}
    try:
        payload = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationError(
            [Problem("", "body", f"not JSON: {exc}")], "invalid payload"
        ) from None
    args, problems = map_payload(payload, mapping)
    if problems:
        raise ValidationError(problems, f"the payload does not fit hook {hook.name!r}")
    return args

"""Sensors, webhook triggers and notifications defined in Python.

    from headwater import file_sensor, hook, notification, sensor, RunRequest, SensorResult

    file_sensor("incoming_orders", pipeline="orders_etl", url="s3://bucket/in/*.csv")
    hook("crm_export", pipeline="orders_etl", secret_env="CRM_HOOK_SECRET",
         mapping={"day": "/data/date"})
    notification("ops", url="https://ops.example.com/hooks/headwater", events=["failed"])

    @sensor(pipeline="orders_etl", interval_seconds=60)
    def new_orders(cursor: str | None) -> SensorResult:
        ...

Each call registers a definition in the current registry; a code location stores them
when it starts (`headwater serve`, `headwater worker`, `headwater scheduler`).
Secrets are read from environment variables then, never written in code.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import ValidationError as PydanticValidationError

from headwater.authoring.registry import current_registry
from headwater.authoring.tracing import caller_source
from headwater.domain.problems import Problem
from headwater.domain.triggers import (
    CustomSensorDef,
    FileSensorDef,
    HookDef,
    NotificationDef,
    SensorResult,
)
from headwater.errors import DefinitionError

log = logging.getLogger("headwater.authoring")

SensorFunction = Callable[[str | None], SensorResult]


def _pipeline_name(pipeline: Any) -> str:
    return pipeline if isinstance(pipeline, str) else str(pipeline.name)


def _build(model: Any, where: str, **values: Any) -> Any:
    try:
        return model(**values)
    except PydanticValidationError as exc:
        problems = [
            Problem(where, ".".join(str(p) for p in err["loc"]), err["msg"]) for err in exc.errors()
        ]
        raise DefinitionError(problems, f"invalid {model.__name__}") from None


def _secret(env: str | None, what: str) -> str | None:
    if env is None:
        return None
    value = os.environ.get(env)
    if not value:
        log.warning("%s: environment variable %s is not set; it has no secret", what, env)
    return value or None


def file_sensor(
    name: str,
    *,
    pipeline: Any,
    url: str,
    arg: str = "path",
    args: dict[str, Any] | None = None,
    interval_seconds: float = 30.0,
    min_age_seconds: float = 0.0,
) -> FileSensorDef:
    """Start one run of `pipeline` per new file matching the glob `url` (a local path or
    an fsspec URL such as ``s3://bucket/in/*.csv``), with its path as the argument `arg`."""
    definition: FileSensorDef = _build(
        FileSensorDef,
        str(caller_source()),
        name=name,
        pipeline=_pipeline_name(pipeline),
        url=url,
        arg=arg,
        args=args or {},
        interval_seconds=interval_seconds,
        min_age_seconds=min_age_seconds,
    )
    current_registry().add_sensor(definition)
    return definition


def hook(
    name: str,
    *,
    pipeline: Any,
    secret_env: str | None = None,
    args: dict[str, Any] | None = None,
    mapping: dict[str, str] | None = None,
) -> HookDef:
    """Start a run of `pipeline` on ``POST /api/v1/hooks/{name}`` signed with the secret
    in the environment variable `secret_env`; `mapping` takes run arguments from the
    JSON payload (argument → JSON pointer), `args` are fixed."""
    definition: HookDef = _build(
        HookDef,
        str(caller_source()),
        name=name,
        pipeline=_pipeline_name(pipeline),
        args=args or {},
        mapping=mapping or {},
    )
    current_registry().add_sensor(definition, secret=_secret(secret_env, f"hook {name}"))
    return definition


def sensor(
    *, pipeline: Any, interval_seconds: float = 30.0, name: str | None = None
) -> Callable[[SensorFunction], SensorFunction]:
    """A custom sensor: the function gets its last cursor (None the first time) and
    returns a `SensorResult` (run requests and the next cursor). It runs in the
    `headwater scheduler` (or `headwater serve`) of the project that defines it."""

    def register(fn: SensorFunction) -> SensorFunction:
        definition: CustomSensorDef = _build(
            CustomSensorDef,
            str(caller_source()),
            name=name or fn.__name__,
            pipeline=_pipeline_name(pipeline),
            interval_seconds=interval_seconds,
            function=f"{fn.__module__}:{fn.__qualname__}",
        )
        current_registry().add_sensor(definition, function=fn)
        return fn

    return register


def notification(
    name: str,
    *,
    url: str | None = None,
    email_to: Sequence[str] = (),
    events: Sequence[str] = ("failed",),
    pipeline: Any = None,
    headers: dict[str, str] | None = None,
    secret_env: str | None = None,
    max_attempts: int = 5,
    backoff_seconds: float = 5.0,
) -> NotificationDef:
    """Tell a webhook (`url`, a signed JSON POST) or people (`email_to`) when runs end:
    `events` among succeeded, failed, cancelled, expired and finished (any end)."""
    definition: NotificationDef = _build(
        NotificationDef,
        str(caller_source()),
        name=name,
        url=url,
        email_to=list(email_to),
        events=list(events),
        pipeline=_pipeline_name(pipeline) if pipeline is not None else None,
        headers=headers or {},
        secret=_secret(secret_env, f"notification {name}"),
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
    )
    current_registry().add_notification(definition)
    return definition

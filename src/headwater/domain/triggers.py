"""Definitions of what starts runs by event (sensors, webhook triggers) and of what is
told when runs end (notifications). Pure data with validation: the same models serve
Python definitions, recipes and the HTTP API.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from headwater.domain.pointers import pointer_problem
from headwater.domain.spec import NAME_PATTERN

RUN_END_EVENTS = ("succeeded", "failed", "cancelled", "expired", "finished")
RunEndEvent = Literal["succeeded", "failed", "cancelled", "expired", "finished"]
MAX_NOTIFICATION_ATTEMPTS = 20
MAX_BACKOFF_SECONDS = 3600.0


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FileSensorDef(_Model):
    """Start one run per new file matching a glob, in a local folder or any fsspec URL
    (``s3://bucket/in/*.csv``). A file is new when its path and its mtime (or etag) have
    not been seen by this sensor; the path goes to the run argument `arg`."""

    kind: Literal["file"] = "file"
    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    pipeline: str = Field(pattern=NAME_PATTERN, max_length=200)
    url: str = Field(min_length=1, description="A glob: a local path or an fsspec URL.")
    arg: str = Field("path", min_length=1, description="The run argument given the path.")
    args: dict[str, Any] = Field(default_factory=dict, description="Fixed run arguments.")
    interval_seconds: float = Field(30.0, ge=0.1, description="How often to list the files.")
    min_age_seconds: float = Field(
        0.0, ge=0, description="Only files unchanged this long (still being written else)."
    )


class CustomSensorDef(_Model):
    """Start runs from what a Python function returns (run requests and a cursor it gets
    back next time). Evaluated only by scheduler processes that loaded its code."""

    kind: Literal["custom"] = "custom"
    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    pipeline: str = Field(pattern=NAME_PATTERN, max_length=200)
    interval_seconds: float = Field(30.0, ge=0.1)
    function: str = Field("", description="module:qualname of the function (informative).")


class HookDef(_Model):
    """Start a run when `POST /api/v1/hooks/{name}` arrives signed with the secret.
    `args` are fixed run arguments; `mapping` takes more from the JSON payload (run
    argument → JSON pointer)."""

    kind: Literal["hook"] = "hook"
    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    pipeline: str = Field(pattern=NAME_PATTERN, max_length=200)
    args: dict[str, Any] = Field(default_factory=dict)
    mapping: dict[str, str] = Field(default_factory=dict)

    @field_validator("mapping")
    @classmethod
    def _pointers(cls, mapping: dict[str, str]) -> dict[str, str]:
        for pointer in mapping.values():
            problem = pointer_problem(pointer)
            if problem is not None:
                raise ValueError(problem)
        return mapping


SensorDef = FileSensorDef | CustomSensorDef | HookDef
SENSOR_KINDS = ("file", "custom", "hook")


def sensor_config(definition: SensorDef) -> dict[str, Any]:
    """What is stored as the sensor's `config`: the definition less name, kind, pipeline."""
    return definition.model_dump(exclude={"name", "kind", "pipeline"})


def _failed_only() -> list[RunEndEvent]:
    return ["failed"]


class NotificationDef(_Model):
    """Tell a webhook (`url`) or email addresses (`email_to`) when runs end."""

    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    url: str | None = Field(None, description="http(s) URL to POST the JSON payload to.")
    email_to: list[str] = Field(default_factory=list, description="Addresses to email.")
    events: list[RunEndEvent] = Field(
        default_factory=_failed_only,
        min_length=1,
        description="succeeded, failed, cancelled, expired, or finished (any end).",
    )
    pipeline: str | None = Field(None, description="Only this pipeline's runs (default: all).")
    headers: dict[str, str] = Field(default_factory=dict, description="Extra HTTP headers.")
    secret: str | None = Field(None, description="HMAC key for the signature header.")
    max_attempts: int = Field(5, ge=1, le=MAX_NOTIFICATION_ATTEMPTS)
    backoff_seconds: float = Field(
        5.0, ge=0, le=MAX_BACKOFF_SECONDS, description="First retry delay; doubles each try."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("http://", "https://")):
            raise ValueError("url must start with http:// or https://")
        return url

    @field_validator("email_to")
    @classmethod
    def _addresses(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if "@" not in address or any(c.isspace() for c in address):
                raise ValueError(f"{address!r} is not an email address")
        return addresses

    @model_validator(mode="after")
    def _one_target(self) -> NotificationDef:
        if (self.url is None) == (not self.email_to):
            raise ValueError("give exactly one of url (a webhook) or email_to (email)")
        return self

    @property
    def kind(self) -> str:
        return "webhook" if self.url is not None else "email"


class RunRequest(_Model):
    """A run a custom sensor asks for. With a `run_key`, the sensor starts at most one
    run per key, ever (a file name, an order id): asking again is a no-op."""

    args: dict[str, Any] = Field(default_factory=dict)
    run_key: str | None = Field(None, min_length=1, max_length=1000)
    tags: list[str] = Field(default_factory=list)


class SensorResult(_Model):
    """What a custom sensor returns: runs to start and the cursor it is given next time
    (None keeps no cursor). The runs and the new cursor are committed together."""

    run_requests: list[RunRequest] = Field(default_factory=list)
    cursor: str | None = None

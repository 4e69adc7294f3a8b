"""A schedule's definition: which pipeline, when (a Timetable), with which arguments,
and what to do about ticks missed while no scheduler ran (catch-up)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic import ValidationError as PydanticValidationError

from headwater.domain.durations import parse_duration
from headwater.domain.problems import Problem
from headwater.domain.spec import NAME_PATTERN
from headwater.domain.templates import template_problems
from headwater.domain.timetable import Timetable
from headwater.errors import ValidationError

Catchup = Literal["skip", "latest", "all"]
# A tick fired later than this after its time counts as missed (catch-up decides).
LATE_TICK_SECONDS = 60.0
# The scheduler works to the second; finer intervals would flood the database.
MIN_INTERVAL_SECONDS = 1.0
MAX_CATCHUP_LIMIT = 10_000


class ScheduleSpec(BaseModel):
    """One schedule. `cron` or `interval` (a duration: 90, 15m, 1h); `args` are fixed
    values or ``{{ ds }}``-style templates rendered from each tick."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, max_length=200)
    pipeline: str = Field(pattern=NAME_PATTERN, max_length=200)
    cron: str | None = Field(None, description="5 or 6 fields (seconds first) or @alias")
    interval: str | float | None = Field(None, description="seconds or a duration like 15m")
    timezone: str = Field("UTC", description="IANA name the cron fields are read in")
    args: dict[str, Any] = Field(default_factory=dict)
    catchup: Catchup = Field(
        "skip",
        description="after downtime: skip missed ticks, fire only the latest, or all (bounded)",
    )
    max_catchup: int = Field(100, ge=1, le=MAX_CATCHUP_LIMIT)
    start_at: float | None = Field(None, description="no tick before (epoch seconds)")
    end_at: float | None = Field(None, description="no tick at or after (epoch seconds)")
    description: str = ""

    @property
    def interval_seconds(self) -> float | None:
        return parse_duration(self.interval, "interval") if self.interval is not None else None

    @property
    def timetable(self) -> Timetable:
        return Timetable(
            cron=self.cron,
            interval_seconds=self.interval_seconds,
            timezone=self.timezone,
            start_at=self.start_at,
            end_at=self.end_at,
        )

    def problems(self) -> list[Problem]:
        try:
            seconds = self.interval_seconds
        except ValidationError as exc:
            return exc.problems
        if seconds is not None and seconds < MIN_INTERVAL_SECONDS:
            return [Problem("", "interval", "must be at least 1 second")]
        table = Timetable(self.cron, seconds, self.timezone, self.start_at, self.end_at)
        return table.problems() + template_problems(self.args)

    @classmethod
    def from_values(cls, values: dict[str, Any]) -> ScheduleSpec:
        """A checked spec; a ValidationError naming each bad field otherwise."""
        try:
            spec = cls(**values)
        except PydanticValidationError as exc:
            raise ValidationError(
                [
                    Problem("", ".".join(str(p) for p in err["loc"]), err["msg"])
                    for err in exc.errors()
                ],
                "invalid schedule",
            ) from None
        spec.check()
        return spec

    def check(self) -> None:
        """Raise ValidationError listing every problem."""
        problems = self.problems()
        if problems:
            raise ValidationError(problems, f"schedule {self.name} is invalid")

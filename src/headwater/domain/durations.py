"""Durations written as text: ``90`` (seconds), ``45s``, ``30m``, ``2h30m``, ``1d``, ``1w``."""

from __future__ import annotations

import math
import re

from headwater.domain.problems import Problem
from headwater.errors import ValidationError

# Longer than anyone means (and than datetime arithmetic survives near year 9999).
MAX_DURATION_SECONDS = 100 * 365 * 86400
UNIT_SECONDS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([wdhms])")
_WHOLE = re.compile(r"(?:\d+(?:\.\d+)?[wdhms])+")


def parse_duration(text: str | float, field: str = "duration") -> float:
    """Seconds in `text`; a ValidationError naming `field` if it is not a duration."""
    if isinstance(text, int | float):
        seconds = float(text)
    else:
        cleaned = text.strip().replace(" ", "").lower()
        try:
            seconds = float(cleaned)
        except ValueError:
            if not _WHOLE.fullmatch(cleaned):
                raise ValidationError(
                    [Problem("", field, f"expected a duration like 90, 30m or 2h30m, got {text!r}")]
                ) from None
            seconds = sum(float(n) * UNIT_SECONDS[unit] for n, unit in _PART.findall(cleaned))
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValidationError([Problem("", field, "must be a positive duration")])
    if seconds > MAX_DURATION_SECONDS:
        raise ValidationError([Problem("", field, "must be at most 100 years")])
    return seconds


def calendar_step(text: str, field: str = "every") -> tuple[int, float]:
    """A step as (days, seconds): days and weeks move the wall clock (a day is always
    midnight to midnight, 23 or 25 hours across a DST change); h/m/s are real time."""
    seconds = parse_duration(text, field)
    if isinstance(text, str) and re.search(r"[wd]", text.lower()):
        cleaned = text.strip().replace(" ", "").lower()
        days = sum(
            int(float(n)) * (7 if unit == "w" else 1)
            for n, unit in _PART.findall(cleaned)
            if unit in "wd"
        )
        rest = sum(
            float(n) * UNIT_SECONDS[unit] for n, unit in _PART.findall(cleaned) if unit in "hms"
        )
        return days, rest
    return 0, seconds

"""Times in API bodies: ISO 8601 (or epoch seconds) in, epoch seconds and ISO 8601 out."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo


def epoch(moment: datetime | None) -> float | None:
    """Seconds since the epoch; a time without an offset is read as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def iso(instant: float, timezone: str = "UTC") -> str:
    return datetime.fromtimestamp(instant, ZoneInfo(timezone)).isoformat()

"""Retry delays: exponential with a cap and full jitter."""

from __future__ import annotations

from typing import TYPE_CHECKING

from headwater.domain.spec import Backoff

if TYPE_CHECKING:
    import random


def retry_delay_seconds(
    backoff: Backoff, retry_number: int, rng: random.Random | None = None
) -> float:
    """Seconds to wait before retry `retry_number` (1 for the first retry)."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    # Cap the exponent so a large retry count cannot overflow the float.
    exponent = min(retry_number - 1, 64)
    delay = min(backoff.max_seconds, backoff.base_seconds * backoff.factor**exponent)
    if backoff.jitter:
        if rng is None:
            import random  # only when a task is retried: not on every run's path

            return random.uniform(0, delay)
        delay = rng.uniform(0, delay)
    return delay

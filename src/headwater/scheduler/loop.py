"""The scheduler loop and the tick functions it calls.

A tick function is a plain function taking the Services, called once per pass; what
it returns is ignored. Each must be safe to run in several scheduler processes at once
(schedules lock their rows and record ticks uniquely; expiry uses guarded updates).
Add one with `Scheduler(svc, [*default_tick_functions(), ("sensors", check_sensors)])`
or by appending to `default_tick_functions`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from headwater.errors import StoreUnavailable
from headwater.services.context import Services
from headwater.services.expiry import expire_runs
from headwater.services.schedules import fire_due_schedules, seconds_until_next_tick

log = logging.getLogger("headwater.scheduler")

TickFunction = Callable[[Services], object]
# A pass runs at least this often, so new schedules, expiries and anything plugged in
# are seen within a second without being told.
MAX_SLEEP_SECONDS = 1.0
# And sleeps at least this long: a due schedule another scheduler holds right now, or
# one whose tick keeps failing, must not make this loop spin.
MIN_SLEEP_SECONDS = 0.05


def default_tick_functions() -> list[tuple[str, TickFunction]]:
    """(name, function) pairs every scheduler calls each pass, in this order."""
    return [("schedules", fire_due_schedules), ("expiry", expire_runs)]


class Scheduler:
    def __init__(
        self,
        svc: Services,
        tick_functions: Sequence[tuple[str, TickFunction]] | None = None,
        *,
        max_sleep_seconds: float = MAX_SLEEP_SECONDS,
    ) -> None:
        self.svc = svc
        self.tick_functions = list(
            tick_functions if tick_functions is not None else default_tick_functions()
        )
        self.max_sleep_seconds = max_sleep_seconds
        self._stop = threading.Event()

    def run_once(self) -> None:
        """One pass: every tick function once. A failing one is logged, and the others
        still run (a broken sensor must not stop schedules)."""
        for name, function in self.tick_functions:
            if self._stop.is_set():
                return
            try:
                function(self.svc)
            except StoreUnavailable as exc:
                log.warning("scheduler %s: database unavailable, retrying: %s", name, exc)
            except Exception:  # the loop's boundary: log and carry on
                log.exception("scheduler %s failed", name)

    def run(self) -> None:
        """Pass after pass until `stop()`; between passes, sleep until the next tick is
        due (at most MAX_SLEEP_SECONDS)."""
        while not self._stop.is_set():
            self.run_once()
            self._stop.wait(self._sleep_seconds())

    def stop(self) -> None:
        self._stop.set()

    def _sleep_seconds(self) -> float:
        try:
            until = seconds_until_next_tick(self.svc)
        except StoreUnavailable:
            return self.max_sleep_seconds
        if until is None:
            return self.max_sleep_seconds
        return max(MIN_SLEEP_SECONDS, min(self.max_sleep_seconds, until))

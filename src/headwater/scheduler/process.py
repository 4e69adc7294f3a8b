"""`headwater scheduler`: the loop in a process of its own, stopped by SIGTERM/SIGINT."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from headwater.scheduler.loop import Scheduler, TickFunction
from headwater.services.context import Services

log = logging.getLogger("headwater.scheduler")


def serve_scheduler(
    svc: Services, tick_functions: list[tuple[str, TickFunction]] | None = None
) -> int:
    """Run until SIGTERM or SIGINT, then finish the current pass and return 0. Stopping
    at any moment is safe: a tick is fired in one transaction, all or nothing."""
    scheduler = Scheduler(svc, tick_functions)

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.warning("%s: stopping the scheduler", signal.Signals(signum).name)
        scheduler.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    scheduler.run()
    return 0


def start_embedded(
    svc: Services, tick_functions: list[tuple[str, TickFunction]] | None = None
) -> tuple[Scheduler, threading.Thread]:
    """The scheduler in a thread of this process (`headwater serve`)."""
    scheduler = Scheduler(svc, tick_functions)
    thread = threading.Thread(target=scheduler.run, name="hw-scheduler", daemon=True)
    thread.start()
    return scheduler, thread

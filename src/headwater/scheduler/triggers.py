"""Sensors and run-end notifications as scheduler work.

Sensors are tick functions of the scheduler loop: file sensors need no user code, so
every scheduler evaluates them; custom sensors only where their code was loaded (the
project given to `headwater scheduler -C` or `headwater serve`). Notifications are sent
by a loop of their own, in a thread beside the scheduler's: a slow or unreachable
receiver (up to the webhook timeout per try) never delays a schedule's tick.
"""

from __future__ import annotations

import threading

from headwater.authoring.registry import Registry
from headwater.config import Settings
from headwater.scheduler.loop import Scheduler, TickFunction
from headwater.services.context import Services
from headwater.services.notifications import deliver_due_notifications
from headwater.services.sensors import tick_custom_sensors, tick_file_sensors


def sensor_tick_functions(registry: Registry) -> list[tuple[str, TickFunction]]:
    """The sensors' tick functions; custom sensors are those of `registry` (the loaded
    project's), which this process can call."""
    functions = dict(registry.sensor_functions)

    def custom(svc: Services) -> object:
        return tick_custom_sensors(svc, functions)

    return [("file sensors", tick_file_sensors), ("custom sensors", custom)]


def start_delivery_loop(svc: Services, settings: Settings) -> tuple[Scheduler, threading.Thread]:
    """Send due notifications in a thread until the returned loop is stopped."""

    def deliver(svc: Services) -> object:
        return deliver_due_notifications(svc, settings)

    loop = Scheduler(svc, [("notifications", deliver)])
    thread = threading.Thread(target=loop.run, name="hw-notifications", daemon=True)
    thread.start()
    return loop, thread

"""Sensors: starting runs from files that appear, from custom Python functions, and
from signed webhook calls, each event at most once.

Exactly once across restarts and concurrent schedulers: what made a run (a file's path
and mtime or etag, a custom sensor's run key and cursor, a hook's delivery id) is
written in the same transaction that creates the run, under a unique key.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from headwater.domain.triggers import (
    HookDef,
    SensorDef,
    SensorResult,
    sensor_config,
)
from headwater.errors import StoreUnavailable
from headwater.services.context import Services
from headwater.services.file_listing import FileSeen, list_matching_files
from headwater.services.runs import create_run, run_request
from headwater.store import sensors as sensor_store
from headwater.store.sensors import SensorRow

log = logging.getLogger("headwater.sensors")

CustomSensor = Callable[[str | None], SensorResult]
# New files are turned into runs this many per transaction: few commits for a large
# drop, and short enough transactions that schedules and workers are not held up.
FILES_PER_TRANSACTION = 50


def save_sensors(
    svc: Services,
    definitions: Sequence[SensorDef],
    secrets: Mapping[str, str | None] | None = None,
    origin: str = "code",
) -> None:
    """Create or redefine sensors (by name); `secrets` gives hooks their HMAC keys."""
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        for definition in definitions:
            secret = (
                (secrets or {}).get(definition.name) if isinstance(definition, HookDef) else None
            )
            sensor_store.save_sensor(
                conn,
                name=definition.name,
                kind=definition.kind,
                pipeline=definition.pipeline,
                config=sensor_config(definition),
                secret=secret,
                origin=origin,
                now=now,
            )


def list_sensors(svc: Services) -> list[SensorRow]:
    with svc.db.read() as conn:
        return sensor_store.list_sensors(conn)


def get_sensor(svc: Services, name: str) -> SensorRow:
    with svc.db.read() as conn:
        return sensor_store.get_sensor(conn, name)


def set_sensor_paused(svc: Services, name: str, paused: bool) -> SensorRow:
    with svc.db.write() as conn:
        sensor_store.set_paused(conn, name, paused, svc.db.clock(conn))
        return sensor_store.get_sensor(conn, name)


@dataclass(frozen=True)
class TickReport:
    sensors: int = 0  # evaluated this pass
    runs: int = 0  # started


def tick_file_sensors(svc: Services) -> TickReport:
    """Evaluate the file sensors that are due: one run per new file."""
    evaluated = started = 0
    for sensor in _claim_due(svc, ("file",), lambda _s: True):
        evaluated += 1
        try:
            files = list_matching_files(sensor.config["url"], sensor.config["min_age_seconds"])
            started += _start_file_runs(svc, sensor, files)
        except StoreUnavailable:
            raise  # the loop waits for the database; the claim lapses, the files wait
        except Exception as exc:  # noqa: BLE001 - any store's listing error is the sensor's
            _record_error(svc, sensor, exc)
    return TickReport(evaluated, started)


def _claim_due(
    svc: Services, kinds: tuple[str, ...], evaluable: Callable[[SensorRow], bool]
) -> list[SensorRow]:
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        due = [s for s in sensor_store.due_sensors(conn, kinds, now) if evaluable(s)]
        return [
            s
            for s in due
            if sensor_store.claim_tick(conn, s, now + float(s.config["interval_seconds"]))
        ]


def _start_file_runs(svc: Services, sensor: SensorRow, files: list[FileSeen]) -> int:
    with svc.db.read() as conn:
        seen = sensor_store.seen_keys(conn, sensor.name, [f.key for f in files])
    new = [found for found in files if found.key not in seen]
    started = 0
    for start in range(0, len(new), FILES_PER_TRANSACTION):
        started += _start_batch(svc, sensor, new[start : start + FILES_PER_TRANSACTION])
        svc.notify()
    if not new:
        with svc.db.write() as conn:
            sensor_store.record_tick(conn, sensor.name, svc.db.clock(conn), None)
    return started


def _start_batch(svc: Services, sensor: SensorRow, files: list[FileSeen]) -> int:
    """One run per file, each with its key, in one transaction: all or none of them."""
    started, last_run = 0, None
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        for found in files:
            # Claiming the key first: a concurrent scheduler holding it makes this wait,
            # then find it taken, so a file never starts two runs.
            if not sensor_store.claim_key(conn, sensor.name, found.key, now):
                continue
            args = {**sensor.config["args"], sensor.config["arg"]: found.path}
            request = run_request(sensor.pipeline, args, tags=[f"sensor:{sensor.name}"])
            last_run = create_run(svc, conn, request)
            sensor_store.set_key_run(conn, sensor.name, found.key, last_run)
            started += 1
        sensor_store.record_tick(conn, sensor.name, now, None, last_run)
    return started


def _record_error(svc: Services, sensor: SensorRow, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}"
    log.warning("sensor %s: %s", sensor.name, message, exc_info=exc)
    with svc.db.write() as conn:
        sensor_store.record_tick(conn, sensor.name, svc.db.clock(conn), message)


def tick_custom_sensors(svc: Services, functions: Mapping[str, CustomSensor]) -> TickReport:
    """Evaluate the due custom sensors whose functions this process has (the scheduler
    of their code location): call each with its cursor, then start the runs it asked
    for and store its new cursor in one transaction."""
    evaluated = started = 0
    for sensor in _claim_due(svc, ("custom",), lambda s: s.name in functions):
        evaluated += 1
        try:
            result = SensorResult.model_validate(functions[sensor.name](sensor.cursor))
            started += _start_requested_runs(svc, sensor, result)
        except StoreUnavailable:
            raise
        except Exception as exc:
            log.exception("custom sensor %s failed", sensor.name)
            _record_error(svc, sensor, exc)
    return TickReport(evaluated, started)


def _start_requested_runs(svc: Services, sensor: SensorRow, result: SensorResult) -> int:
    started = 0
    with svc.db.write() as conn:
        now = svc.db.clock(conn)
        if not sensor_store.swap_cursor(conn, sensor.name, sensor.cursor, result.cursor):
            log.warning("sensor %s: cursor moved meanwhile; dropping this evaluation", sensor.name)
            return 0
        last_run = None
        for request in result.run_requests:
            key = request.run_key
            if key is not None and not sensor_store.claim_key(conn, sensor.name, key, now):
                continue
            tags = [f"sensor:{sensor.name}", *request.tags]
            last_run = create_run(svc, conn, run_request(sensor.pipeline, request.args, tags=tags))
            if key is not None:
                sensor_store.set_key_run(conn, sensor.name, key, last_run)
            started += 1
        sensor_store.record_tick(conn, sensor.name, now, None, last_run)
    if started:
        svc.notify()
    return started

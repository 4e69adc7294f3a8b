"""Sensors on both backends: file sensors on a local folder and on S3 (a local S3 API),
custom sensors with cursors and run keys, and what concurrent schedulers do."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest

from headwater import RunRequest, SensorResult, pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.triggers import CustomSensorDef, FileSensorDef
from headwater.services.context import Services, open_services
from headwater.services.runs import register_pipeline
from headwater.services.sensors import (
    TickReport,
    get_sensor,
    save_sensors,
    set_sensor_paused,
    tick_custom_sensors,
    tick_file_sensors,
)
from headwater.store import runs as run_store
from headwater.store.tables import sensors as sensors_table

T = TypeVar("T")
REGISTRY = Registry()

with use_registry(REGISTRY):

    @task(cache=False)
    def load(path: str, table: str) -> str:
        return f"{table} <- {path}"

    @pipeline
    def ingest(path: str, table: str = "raw"):
        return load(path, table)


def _runs(svc: Services) -> list[run_store.RunRow]:
    with svc.db.read() as conn:
        return run_store.list_runs(conn, "ingest", 10_000)


def _paths(svc: Services) -> list[str]:
    return sorted(r.args["path"] for r in _runs(svc))


def _next_tick(tick: Callable[[], TickReport]) -> TickReport:
    """Tick until the sensor is due again (its interval is short) and evaluated."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        report = tick()
        if report.sensors:
            return report
        time.sleep(0.02)
    raise AssertionError("the sensor was never due")


@pytest.fixture
def ingest_registered(services: Services) -> Services:
    register_pipeline(services, ingest.spec)
    return services


def _file_sensor(svc: Services, url: str, **extra: object) -> None:
    definition = FileSensorDef(
        name="incoming", pipeline="ingest", url=url, interval_seconds=0.1, **extra
    )
    save_sensors(svc, [definition])


def test_each_new_file_starts_one_run_with_its_path(
    ingest_registered: Services, tmp_path: Path
) -> None:
    svc = ingest_registered
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    for name in ("a.csv", "b.csv", "notes.txt"):
        (inbox / name).write_text(name)
    _file_sensor(svc, f"{inbox}/*.csv", args={"table": "orders"})

    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 2
    assert _paths(svc) == [str(inbox / "a.csv"), str(inbox / "b.csv")]
    assert {r.args["table"] for r in _runs(svc)} == {"orders"}
    assert all("sensor:incoming" in r.tags for r in _runs(svc))

    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 0  # nothing new
    (inbox / "c.csv").write_text("c")
    stamp = (inbox / "a.csv").stat().st_mtime + 10
    os.utime(inbox / "a.csv", (stamp, stamp))  # rewritten: a new version of a.csv
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 2
    assert _paths(svc).count(str(inbox / "a.csv")) == 2
    sensor = get_sensor(svc, "incoming")
    assert sensor.last_error is None
    assert sensor.last_run_id in {r.id for r in _runs(svc)}


def test_a_paused_sensor_starts_nothing_until_resumed(
    ingest_registered: Services, tmp_path: Path
) -> None:
    svc = ingest_registered
    (tmp_path / "a.csv").write_text("a")
    _file_sensor(svc, f"{tmp_path}/*.csv")
    set_sensor_paused(svc, "incoming", True)
    assert tick_file_sensors(svc) == TickReport(0, 0)
    set_sensor_paused(svc, "incoming", False)
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 1


def test_files_younger_than_min_age_wait(ingest_registered: Services, tmp_path: Path) -> None:
    svc = ingest_registered
    (tmp_path / "old.csv").write_text("old")
    old = time.time() - 120
    os.utime(tmp_path / "old.csv", (old, old))
    (tmp_path / "new.csv").write_text("still being written")
    _file_sensor(svc, f"{tmp_path}/*.csv", min_age_seconds=60)
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 1
    assert _paths(svc) == [str(tmp_path / "old.csv")]


def test_bad_arguments_are_reported_on_the_sensor(
    ingest_registered: Services, tmp_path: Path
) -> None:
    svc = ingest_registered
    (tmp_path / "a.csv").write_text("a")
    _file_sensor(svc, f"{tmp_path}/*.csv", args={"table": 5})  # table must be a string
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 0
    error = get_sensor(svc, "incoming").last_error
    assert error is not None
    assert "table" in error
    assert _runs(svc) == []


def test_files_in_s3_start_runs_with_their_urls(
    ingest_registered: Services, s3_bucket: str
) -> None:
    import fsspec

    svc = ingest_registered
    fs = fsspec.filesystem("s3", skip_instance_cache=True)
    bucket = s3_bucket.removeprefix("s3://")
    fs.pipe({f"{bucket}/in/a.csv": b"a", f"{bucket}/in/b.csv": b"b", f"{bucket}/out/c.csv": b"c"})
    _file_sensor(svc, f"{s3_bucket}/in/*.csv")
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 2
    assert _paths(svc) == [f"{s3_bucket}/in/a.csv", f"{s3_bucket}/in/b.csv"]

    fs.pipe({f"{bucket}/in/d.csv": b"d"})
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 1
    fs.pipe({f"{bucket}/in/a.csv": b"a, changed"})  # a new etag
    assert _next_tick(lambda: tick_file_sensors(svc)).runs == 1
    assert len(_runs(svc)) == 4


def test_schedulers_racing_on_one_folder_start_one_run_per_file(
    ingest_registered: Services, settings: Settings, tmp_path: Path
) -> None:
    for i in range(40):
        (tmp_path / f"f{i:02d}.csv").write_text(str(i))
    _file_sensor(ingest_registered, f"{tmp_path}/*.csv")
    gate = threading.Barrier(4)
    errors: list[BaseException] = []

    def scheduler() -> None:
        svc = open_services(settings)
        try:
            gate.wait()
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and len(_runs(svc)) < 40:
                tick_file_sensors(svc)
                # Every scheduler lists the folder as if the claim had lapsed.
                with svc.db.write() as conn:
                    conn.execute(sensors_table.update().values(next_tick_at=0))
        except BaseException as exc:  # noqa: BLE001 - asserted below
            errors.append(exc)
        finally:
            svc.close()

    threads = [threading.Thread(target=scheduler) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    paths = _paths(ingest_registered)
    assert len(paths) == 40
    assert len(set(paths)) == 40


def test_a_custom_sensor_gets_its_cursor_back_and_run_keys_start_once(
    ingest_registered: Services,
) -> None:
    svc = ingest_registered
    cursors: list[str | None] = []

    def new_orders(cursor: str | None) -> SensorResult:
        cursors.append(cursor)
        n = int(cursor or 0)
        return SensorResult(
            run_requests=[
                RunRequest(args={"path": f"order-{i}"}, run_key=f"order-{i}")
                for i in range(max(0, n - 1), n + 2)  # overlaps the previous batch
            ],
            cursor=str(n + 2),
        )

    save_sensors(svc, [CustomSensorDef(name="orders", pipeline="ingest", interval_seconds=0.1)])
    functions = {"orders": new_orders}
    assert _next_tick(lambda: tick_custom_sensors(svc, functions)).runs == 2
    assert _next_tick(lambda: tick_custom_sensors(svc, functions)).runs == 2
    assert cursors == [None, "2"]
    assert _paths(svc) == [f"order-{i}" for i in range(4)]
    assert get_sensor(svc, "orders").cursor == "4"

    # A process without the sensor's code leaves it alone.
    assert tick_custom_sensors(svc, {}) == TickReport(0, 0)


def test_a_failing_custom_sensor_keeps_its_cursor_and_reports_the_error(
    ingest_registered: Services,
) -> None:
    svc = ingest_registered

    def broken(cursor: str | None) -> SensorResult:
        raise RuntimeError("the orders API is down")

    save_sensors(svc, [CustomSensorDef(name="orders", pipeline="ingest", interval_seconds=0.1)])
    assert _next_tick(lambda: tick_custom_sensors(svc, {"orders": broken})).runs == 0
    sensor = get_sensor(svc, "orders")
    assert sensor.cursor is None
    assert sensor.last_error == "RuntimeError: the orders API is down"


def test_a_custom_sensor_asking_for_a_bad_run_starts_none_of_its_batch(
    ingest_registered: Services,
) -> None:
    svc = ingest_registered

    def half_bad(cursor: str | None) -> SensorResult:
        return SensorResult(
            run_requests=[RunRequest(args={"path": "ok"}), RunRequest(args={"nope": 1})],
            cursor="next",
        )

    save_sensors(svc, [CustomSensorDef(name="orders", pipeline="ingest", interval_seconds=0.1)])
    assert _next_tick(lambda: tick_custom_sensors(svc, {"orders": half_bad})).runs == 0
    assert _runs(svc) == []
    sensor = get_sensor(svc, "orders")
    assert sensor.cursor is None
    assert sensor.last_error is not None


def test_the_cli_lists_pauses_and_resumes_sensors(
    ingest_registered: Services, settings: Settings, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from headwater.cli.main import app

    _file_sensor(ingest_registered, f"{tmp_path}/*.csv")
    runner = CliRunner()
    env = {"HEADWATER_DATABASE_URL": settings.database_url}
    listed = runner.invoke(app, ["sensors", "-C", str(tmp_path)], env=env)
    assert listed.exit_code == 0, listed.output
    assert "incoming" in listed.output
    assert "active" in listed.output
    paused = runner.invoke(app, ["sensors", "pause", "incoming", "-C", str(tmp_path)], env=env)
    assert paused.exit_code == 0
    assert "incoming: paused" in paused.output
    assert get_sensor(ingest_registered, "incoming").paused
    runner.invoke(app, ["sensors", "resume", "incoming", "-C", str(tmp_path)], env=env)
    assert not get_sensor(ingest_registered, "incoming").paused
    missing = runner.invoke(app, ["sensors", "pause", "nope", "-C", str(tmp_path)], env=env)
    assert missing.exit_code == 2

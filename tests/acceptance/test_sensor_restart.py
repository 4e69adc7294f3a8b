"""A file sensor in a real `headwater scheduler` process, killed (kill -9) half-way
through 100 files dropped into its folder and started again: exactly 100 runs, one per
file. On SQLite and PostgreSQL."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from headwater.config import Settings
from headwater.services.context import open_services
from headwater.store import runs as run_store

from .conftest import HEADWATER, clean_env

FILES = 100
PROJECT = """\
from headwater import file_sensor, pipeline, task


@task(cache=False)
def measure(path: str) -> int:
    with open(path, encoding="utf-8") as handle:
        return len(handle.read())


@pipeline
def ingest(path: str):
    return measure(path)


file_sensor("drops", pipeline=ingest, url={url!r}, interval_seconds=0.2)
"""


def _project(root: Path, drop: Path) -> Path:
    package = root / "pipelines"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "drops.py").write_text(PROJECT.format(url=f"{drop}/*.csv"))
    return root


def _start_scheduler(project: Path, database_url: str, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [str(HEADWATER), "scheduler", "-C", str(project)],
            env=clean_env(HEADWATER_DATABASE_URL=database_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait(condition: object, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}\n{log.read_text()}")
        time.sleep(0.05)


@pytest.mark.slow
def test_100_files_with_a_scheduler_killed_half_way_start_exactly_100_runs(
    tmp_path: Path, database_url: str
) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    project = _project(tmp_path / "project", drop)
    log = tmp_path / "scheduler.log"
    svc = open_services(Settings(project_dir=project, database_url=database_url))

    def runs() -> list[run_store.RunRow]:
        with svc.db.read() as conn:
            return run_store.list_runs(conn, "ingest", 10 * FILES)

    def drop_files() -> None:
        for i in range(FILES):
            # Written under another name and renamed, as producers should: never half-seen.
            part = drop / f"f{i:03d}.part"
            part.write_text(f"file {i}\n")
            part.rename(drop / f"f{i:03d}.csv")
            time.sleep(0.02)

    try:
        first = _start_scheduler(project, database_url, log)
        dropper = threading.Thread(target=drop_files)
        dropper.start()
        _wait(lambda: len(runs()) >= 30, 60, "30 runs before the kill", log)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        killed_at = len(runs())
        assert killed_at < FILES, "the kill came too late to test anything"
        dropper.join()

        second = _start_scheduler(project, database_url, log)
        try:
            _wait(lambda: len(runs()) >= FILES, 60, f"{FILES} runs", log)
            time.sleep(1.0)  # several more listings of the same 100 files
            assert second.poll() is None, log.read_text()
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
        found = runs()
        paths = sorted(r.args["path"] for r in found)
        assert len(found) == FILES
        assert paths == [str(drop / f"f{i:03d}.csv") for i in range(FILES)]
    finally:
        svc.close()


CUSTOM = """\
from headwater import RunRequest, SensorResult, pipeline, sensor, task


@task(cache=False)
def note(n: int) -> int:
    return n


@pipeline
def numbered(n: int):
    return note(n)


@sensor(pipeline=numbered, interval_seconds=0.2)
def counter(cursor):
    n = int(cursor or 0)
    if n >= 5:
        return SensorResult(cursor=cursor)
    return SensorResult(run_requests=[RunRequest(args={"n": n}, run_key=str(n))], cursor=str(n + 1))
"""


@pytest.mark.slow
def test_a_custom_sensor_runs_in_the_scheduler_of_its_project(
    tmp_path: Path, database_url: str
) -> None:
    project = tmp_path / "project"
    (project / "pipelines").mkdir(parents=True)
    (project / "pipelines" / "__init__.py").write_text("")
    (project / "pipelines" / "custom.py").write_text(CUSTOM)
    log = tmp_path / "scheduler.log"
    svc = open_services(Settings(project_dir=project, database_url=database_url))

    def numbers() -> list[int]:
        with svc.db.read() as conn:
            return sorted(r.args["n"] for r in run_store.list_runs(conn, "numbered", 100))

    proc = _start_scheduler(project, database_url, log)
    try:
        _wait(lambda: len(numbers()) >= 5, 60, "5 runs from the custom sensor", log)
        time.sleep(1.0)  # more evaluations, which start nothing new
        assert numbers() == [0, 1, 2, 3, 4]
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0, log.read_text()
        svc.close()

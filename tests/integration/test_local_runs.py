"""Local runs end to end on both backends: DAG order, fan-out, caching, resume, retries."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.local import run_pipeline
from headwater.services.context import Services
from headwater.services.outputs import OutputReader
from headwater.store import runs as run_store
from headwater.worker import worker as worker_module

CALLS: list[str] = []
REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def numbers(n: int) -> list[int]:
        CALLS.append("numbers")
        return list(range(n))

    @task
    def square(x: int) -> int:
        CALLS.append(f"square({x})")
        return x * x

    @task
    def total(xs: list[int], offset: int = 0) -> int:
        CALLS.append("total")
        return sum(xs) + offset

    @pipeline
    def squares(n: int = 4):
        return total(square.map(numbers(n)))

    @pipeline
    def listing(n: int = 4):
        return numbers(n)

    @task
    def pause(seconds: float) -> float:
        time.sleep(seconds)
        return seconds

    @pipeline
    def pausing(seconds: float = 0.7):
        return pause(seconds)


def _run(svc: Services, settings: Settings, **kwargs: object):
    return run_pipeline(svc, settings, squares, registry=REGISTRY, **kwargs)  # type: ignore[arg-type]


def test_fan_out_fan_in_gives_the_sum_of_squares(services: Services, settings: Settings) -> None:
    result = _run(services, settings, args={"n": 5})
    assert result.state == "succeeded"
    assert result.output == 0 + 1 + 4 + 9 + 16
    assert result.task_states["square[4]"] == "succeeded"


def test_second_run_is_cached_and_force_reruns(services: Services, settings: Settings) -> None:
    _run(services, settings, args={"n": 3})
    CALLS.clear()
    again = _run(services, settings, args={"n": 3})
    assert again.output == 5
    assert CALLS == []
    assert set(again.task_states.values()) == {"cached"}
    forced = _run(services, settings, args={"n": 3}, force=True)
    assert forced.output == 5
    assert sorted(CALLS) == sorted(["numbers", "square(0)", "square(1)", "square(2)", "total"])


def test_small_outputs_stay_in_the_database_large_ones_in_files(
    services: Services, settings: Settings
) -> None:
    small = _run(services, settings, args={"n": 2}, task_args={"total": {"offset": 10}})
    large = run_pipeline(services, settings, listing, registry=REGISTRY, args={"n": 20_000})

    root = Path(settings.artifacts)
    with services.db.read() as conn:
        total = next(
            r for r in run_store.list_task_runs(conn, small.run_id) if r.node_id == "total"
        )
    assert total.output == "11"
    assert json.loads(total.args or "{}")["offset"] == 10
    assert not list((root / "squares").glob("**/output.json"))  # no file for small outputs
    (output,) = (root / "listing").glob("*/*/output.json")  # 20,000 numbers: over 64 KiB
    assert json.loads(output.read_text()) == list(range(20_000))
    assert large.output == list(range(20_000))
    assert '"n": 20000' in (output.parent / "params.json").read_text()


def test_a_small_output_in_the_database_is_a_cache_hit(
    services: Services, settings: Settings
) -> None:
    _run(services, settings, args={"n": 2})
    CALLS.clear()
    again = _run(services, settings, args={"n": 2}, task_args={"total": {"offset": 1}})
    assert again.output == 2
    assert CALLS == ["total"]  # numbers and the squares came from the database
    assert again.task_states["numbers"] == "cached"


def test_upstream_rows_read_without_their_output_still_give_it(
    services: Services, settings: Settings
) -> None:
    """Resolving a mapped element reads its upstream row without the (possibly large)
    output; the output reader fetches it once when it needs it."""
    result = _run(services, settings, args={"n": 3})
    reader = OutputReader(services.artifacts)
    with services.db.read() as conn:
        (light,) = run_store.node_task_runs(conn, result.run_id, ["numbers"], outputs=False)
        (whole,) = run_store.node_task_runs(conn, result.run_id, ["numbers"])
        assert light.output == run_store.OUTPUT_NOT_READ
        assert whole.output == "[0,1,2]"
        assert reader.value(conn, "squares", light) == [0, 1, 2]
        (parent,) = run_store.node_task_runs(conn, result.run_id, ["square"], outputs=False)
        assert parent.output == run_store.OUTPUT_NOT_READ  # the elements' outputs, as a list
        assert reader.value(conn, "squares", parent) == [0, 1, 4]


def test_a_run_returns_only_once_its_heartbeat_under_way_has_ended(
    services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller closes the database next: on SQLite, closing a connection while the
    heartbeat thread runs a statement on it crashed the process (seen in CI)."""
    beats: list[str] = []
    real = worker_module.heartbeat

    def slow_heartbeat(*args: object, **kwargs: object) -> object:
        beats.append("started")
        try:
            return real(*args, **kwargs)  # type: ignore[arg-type]
        finally:
            time.sleep(0.4)  # still beating when the run ends (heartbeat every 0.5 s)
            beats.append("ended")

    monkeypatch.setattr(worker_module, "heartbeat", slow_heartbeat)

    result = run_pipeline(services, settings, pausing, registry=REGISTRY)  # type: ignore[arg-type]

    assert result.output == 0.7
    assert beats.count("started") >= 1
    assert beats.count("ended") == beats.count("started")

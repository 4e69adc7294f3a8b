"""Local runs end to end on both backends: DAG order, fan-out, caching, resume, retries."""

from __future__ import annotations

from pathlib import Path

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.local import run_pipeline
from headwater.services.context import Services

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


def test_artifacts_hold_output_and_params(services: Services, settings: Settings) -> None:
    _run(services, settings, args={"n": 2}, task_args={"total": {"offset": 10}})
    root = Path(settings.artifacts) / "squares"
    params = sorted(root.glob("*.total/*/params.json"))
    assert len(params) == 1
    assert '"offset": 10' in params[0].read_text()
    assert (params[0].parent / "output.json").read_text() == "11"

"""Schedules defined in code (`@schedule`, `@pipeline(schedule=...)`) and in recipes;
templates and durations they use."""

from __future__ import annotations

from pathlib import Path

import pytest

from headwater import pipeline, schedule, task
from headwater.authoring.recipes import load_recipe
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.durations import calendar_step, parse_duration
from headwater.domain.templates import render, template_problems, tick_variables
from headwater.errors import DefinitionError, DuplicateNameError, ValidationError


def test_the_decorator_registers_a_schedule_for_the_pipeline() -> None:
    with use_registry(Registry()) as registry:

        @task
        def load(day: str) -> str:
            return day

        @schedule("30 2 * * *", timezone="Europe/London", args={"day": "{{ ds }}"})
        @schedule(every="15m", name="often", args={"day": "x"}, catchup="latest")
        @pipeline
        def nightly(day: str):
            return load(day)

        @pipeline(schedule="@hourly")
        def hourly():
            return load("x")

    assert set(registry.schedules) == {"nightly", "often", "hourly"}
    nightly_spec = registry.schedules["nightly"]
    assert (nightly_spec.pipeline, nightly_spec.cron, nightly_spec.timezone) == (
        "nightly",
        "30 2 * * *",
        "Europe/London",
    )
    assert registry.schedules["often"].interval_seconds == 900
    assert registry.schedules["hourly"].cron == "@hourly"


def test_a_bad_schedule_in_code_names_its_line_and_field() -> None:
    with use_registry(Registry()), pytest.raises(DefinitionError) as caught:

        @schedule("0 25 * * *")
        @pipeline
        def broken():
            return None

    (problem,) = caught.value.problems
    assert problem.path == "cron"
    assert "test_schedule_authoring.py:" in problem.location


def test_two_different_schedules_with_one_name_are_an_error() -> None:
    with use_registry(Registry()), pytest.raises(DuplicateNameError):

        @schedule("@daily", name="same")
        @schedule("@hourly", name="same")
        @pipeline
        def twice():
            return None


RECIPE = """
name: from_recipe
params: {day: {type: string}}
tasks:
  - id: echo
    command: "echo $HW_ARG_DAY"
    params: {day: {type: string}}
    args: {day: {$param: day}}
schedules:
  - cron: "0 6 * * 1-5"
    timezone: America/New_York
    args: {day: "{{ ds }}"}
  - name: every_ten
    every: 10m
    args: {day: "{{ ds_nodash }}"}
    catchup: all
"""


def test_recipes_define_schedules(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE)
    with use_registry(Registry()) as registry:
        load_recipe(path)
    assert set(registry.schedules) == {"from_recipe", "every_ten"}
    assert registry.schedules["every_ten"].interval_seconds == 600
    assert registry.schedules["from_recipe"].pipeline == "from_recipe"


def test_a_bad_recipe_schedule_names_the_json_path(tmp_path: Path) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(RECIPE.replace("timezone: America/New_York", "timezone: Nowhere/Town"))
    with use_registry(Registry()), pytest.raises(DefinitionError) as caught:
        load_recipe(path)
    assert [p.path for p in caught.value.problems] == ["$.schedules[0].timezone"]


def test_templates_render_and_unknown_names_are_reported() -> None:
    variables = tick_variables(1767225600.0, 1767312000.0, "Europe/London", schedule="s")
    assert render({"day": "{{ds}}", "files": ["in/{{ ds_nodash }}.csv"], "n": 3}, variables) == {
        "day": "2026-01-01",
        "files": ["in/20260101.csv"],
        "n": 3,
    }
    assert variables["data_interval_end"] == "2026-01-02T00:00:00+00:00"
    assert [p.path for p in template_problems({"a": ["{{ nope }}"]})] == ["args.a[0]"]


def test_durations() -> None:
    assert parse_duration("2h30m") == 9000
    assert parse_duration("90") == 90
    assert parse_duration(1.5) == 1.5
    assert calendar_step("1d") == (1, 0)
    assert calendar_step("1w12h") == (7, 43200)
    assert calendar_step("6h") == (0, 21600)
    for bad in ("soon", "-5", "0", "1y"):
        with pytest.raises(ValidationError):
            parse_duration(bad, "start_in")

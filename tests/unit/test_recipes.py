"""Recipes (headwater.authoring.recipes): pipelines written as JSON or YAML documents."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from headwater import pipeline, task
from headwater.authoring.recipes import Backoff as RecipeBackoff
from headwater.authoring.recipes import compile_recipe, load_recipe, recipe_json_schema
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.spec import Backoff, PipelineSpec
from headwater.errors import DefinitionError

EXAMPLE_RECIPE = Path(__file__).resolve().parents[2] / "examples/pipelines/orders_report.yaml"

YAML_RECIPE = """\
name: totals
description: Load numbers and add them up.
params:
  path: {type: string}
  scale: {type: number, default: 2.0}
tasks:
  - id: load
    task: rt.load
    args: {path: {$param: path}, limit: 5}
  - id: total
    task: rt.total
    args: {values: {$output: load, path: [values]}, scale: {$param: scale}}
    after: [load]
output: {sum: {$output: total}}
"""


@pytest.fixture
def registry() -> Iterator[Registry]:
    """A fresh registry holding the tasks the recipes below reference."""
    with use_registry(Registry()) as fresh:

        @task(name="rt.load")
        def load(path: str, limit: int = 10) -> dict[str, list[int]]:
            return {"values": []}

        @task(name="rt.total")
        def total(values: list[int], scale: float = 1.0) -> float:
            return sum(values) * scale

        @task(name="rt.ident")
        def ident(x: int) -> int:
            return x

        yield fresh


def _problems(error: DefinitionError) -> list[tuple[str, str, str]]:
    return [(p.location, p.path, p.message) for p in error.problems]


# --- compiling -------------------------------------------------------------------------


def _check_totals(spec: PipelineSpec) -> None:
    assert spec.name == "totals"
    assert spec.description == "Load numbers and add them up."
    assert [n.id for n in spec.nodes] == ["load", "total"]
    assert set(spec.tasks) == {"rt.load", "rt.total"}
    load, total = spec.nodes
    assert load.task == "rt.load"
    assert load.args == {"path": {"$param": "path"}, "limit": 5}
    assert total.args == {
        "values": {"$output": "load", "path": ["values"]},
        "scale": {"$param": "scale"},
    }
    assert total.after == ("load",)
    assert spec.params["required"] == ["path"]
    assert spec.params["properties"]["scale"]["default"] == 2.0
    assert spec.output == {"sum": {"$output": "total"}}


def test_yaml_recipe_compiles_to_a_pipeline_spec(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "totals.yaml"
    path.write_text(YAML_RECIPE, encoding="utf-8")
    made = load_recipe(path)
    assert registry.pipelines["totals"] is made
    spec = made.spec
    _check_totals(spec)
    assert spec.source is not None
    assert spec.source.file.endswith("totals.yaml")
    assert spec.nodes[1].source is not None
    assert spec.nodes[1].source.path == "$.tasks[1]"


def test_json_recipe_compiles_to_the_same_spec(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "totals.yaml").write_text(YAML_RECIPE, encoding="utf-8")
    (tmp_path / "totals.json").write_text(json.dumps(yaml.safe_load(YAML_RECIPE)), "utf-8")
    from_json = load_recipe(tmp_path / "totals.json", register=False).spec
    from_yaml = load_recipe(tmp_path / "totals.yaml", register=False).spec
    _check_totals(from_json)
    assert from_json.content_hash == from_yaml.content_hash
    assert registry.pipelines == {}


with use_registry(Registry()):

    @task(name="rt.by_path")
    def by_path(x: int) -> int:
        return x


def test_a_recipe_may_name_a_task_by_import_path(registry: Registry) -> None:
    assert "rt.by_path" not in registry.tasks
    spec = compile_recipe(
        {
            "name": "imported",
            "tasks": [{"id": "a", "task": f"{__name__}.by_path", "args": {"x": 1}}],
        },
        "imported.yaml",
    )
    assert spec.nodes[0].task == "rt.by_path"
    assert spec.tasks["rt.by_path"].callable == f"{__name__}:by_path"


def _python_totals(name: str = "totals") -> Any:
    @pipeline(name=name)
    def totals(path: str, scale: float = 2.0):  # type: ignore[no-untyped-def]
        """Load numbers and add them up."""
        loaded = task_named("rt.load")(path, limit=5)
        total = task_named("rt.total").options(after=[loaded])
        return {"sum": total(loaded["values"], scale=scale)}

    return totals


def task_named(name: str) -> Any:
    from headwater.authoring.registry import current_registry

    return current_registry().tasks[name]


def test_python_pipeline_and_equivalent_recipe_have_the_same_nodes_and_tasks(
    registry: Registry,
) -> None:
    from_python = _python_totals().spec
    from_recipe = compile_recipe(yaml.safe_load(YAML_RECIPE), "totals.yaml")

    def strip(spec: PipelineSpec) -> list[dict[str, Any]]:
        return [n.replace(source=None).to_json_dict() for n in spec.nodes]

    assert strip(from_python) == strip(from_recipe)
    assert from_python.tasks == from_recipe.tasks
    assert from_python.output == from_recipe.output
    assert from_python.description == from_recipe.description


def test_python_pipeline_and_recipe_with_identical_params_share_the_content_hash(
    registry: Registry,
) -> None:
    """The Python form derives each parameter's schema with pydantic (without its
    automatic titles), so the same pipeline as a recipe compiles to the very same spec."""
    from_python = _python_totals().spec
    data = yaml.safe_load(YAML_RECIPE)
    from_recipe = compile_recipe(data, "totals.yaml")
    assert from_recipe.params == from_python.params
    assert from_recipe.content_hash == from_python.content_hash


def test_python_pipeline_and_recipe_without_required_params_share_the_content_hash(
    registry: Registry,
) -> None:
    with use_registry(registry):

        @pipeline(name="fixed")
        def fixed(scale: float = 2.0):  # type: ignore[no-untyped-def]
            return task_named("rt.total")([1, 2], scale=scale)

    recipe = {
        "name": "fixed",
        "params": {"scale": {"default": 2.0, "type": "number"}},
        "tasks": [
            {
                "id": "total",
                "task": "rt.total",
                "args": {"values": [1, 2], "scale": {"$param": "scale"}},
            }
        ],
        "output": {"$output": "total"},
    }
    assert compile_recipe(recipe, "fixed.yaml").content_hash == fixed.spec.content_hash


def test_inline_command_nodes_become_command_tasks_named_after_pipeline_and_id(
    registry: Registry,
) -> None:
    spec = compile_recipe(
        {
            "name": "shell",
            "tasks": [
                {"id": "load", "task": "rt.load", "args": {"path": "p"}},
                {
                    "id": "count",
                    "command": "wc -l < $HW_ARG_PATH",
                    "params": {"path": {"type": "string"}, "n": {"type": "integer", "default": 1}},
                    "args": {"path": "p"},
                    "env": {"LC_ALL": "C"},
                    "retries": 2,
                    "timeout": 30,
                    "tags": ["shell"],
                },
            ],
        },
        "shell.yaml",
    )
    definition = spec.tasks["shell.count"]
    assert spec.node_map["count"].task == "shell.count"
    assert definition.kind == "command"
    assert definition.command == "wc -l < $HW_ARG_PATH"
    assert definition.env == {"LC_ALL": "C"}
    assert definition.retries == 2
    assert definition.timeout_seconds == 30
    assert definition.tags == ("shell",)
    assert definition.params_schema["required"] == ["path"]
    assert definition.params_schema["additionalProperties"] is False


def test_examples_recipe_compiles(registry: Registry) -> None:
    """The shipped example, with its Python tasks found by import path."""
    data = yaml.safe_load(EXAMPLE_RECIPE.read_text(encoding="utf-8"))
    project = str(EXAMPLE_RECIPE.parents[1])
    before = set(sys.modules)
    sys.path.insert(0, project)
    try:
        spec = compile_recipe(data, "orders_report.yaml")
    finally:
        sys.path.remove(project)
        for name in set(sys.modules) - before:  # the examples' `pipelines` package
            if name == "pipelines" or name.startswith("pipelines."):
                del sys.modules[name]
    assert [n.id for n in spec.nodes] == ["extract", "validate", "clean", "line_count"]
    assert spec.tasks["pipelines.etl.validate"].version == "2"
    assert spec.tasks["orders_report.line_count"].kind == "command"
    assert spec.tasks["orders_report.line_count"].timeout_seconds == 30


# --- problems --------------------------------------------------------------------------


def test_yaml_syntax_error_reports_file_and_line(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: broken\ntasks:\n  - id: a\n    args: {x: [1, 2}\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_recipe(path)
    (problem,) = info.value.problems
    assert problem.location.endswith("broken.yaml:4")
    assert "not YAML" in problem.message


def test_json_syntax_error_reports_file_and_line(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{\n  "name": "broken",\n  "tasks": [,]\n}\n', encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_recipe(path)
    (problem,) = info.value.problems
    assert problem.location.endswith("broken.json:3")


@pytest.mark.parametrize(
    ("data", "path", "fragment"),
    [
        ({"name": "x"}, "$.tasks", "required"),
        ({"name": "x", "tasks": [], "extra": 1}, "$.extra", "not permitted"),
        (
            {
                "name": "x",
                "tasks": [{"id": "ok", "task": "rt.ident"}, {"id": "9bad", "task": "rt.ident"}],
            },
            "$.tasks[1].id",
            "pattern",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "task": "rt.ident", "colour": 1}]},
            "$.tasks[0].colour",
            "not permitted",
        ),
        (
            {"name": "x", "tasks": [{"id": "a", "task": "rt.ident", "retries": -1}]},
            "$.tasks[0].retries",
            "",
        ),
        ({"name": "bad name", "tasks": []}, "$.name", "pattern"),
    ],
)
def test_structural_errors_report_json_paths(
    registry: Registry, data: dict[str, Any], path: str, fragment: str
) -> None:
    with pytest.raises(DefinitionError) as info:
        compile_recipe(data, "pipelines/r.yaml")
    problems = info.value.problems
    assert [p.path for p in problems] == [path], problems
    assert problems[0].location == "pipelines/r.yaml"
    assert fragment in problems[0].message


def test_cycle_unknown_task_and_mistyped_literal_are_reported_together(
    registry: Registry, tmp_path: Path
) -> None:
    path = tmp_path / "three.yaml"
    path.write_text(
        """\
name: three
tasks:
  - id: a
    task: rt.ident
    args: {x: {$output: b}}
  - id: b
    task: rt.ident
    args: {x: {$output: a}}
  - id: c
    task: rt.nope
  - id: d
    task: rt.load
    args: {path: p, limit: ten}
""",
        encoding="utf-8",
    )
    made = load_recipe(path)
    with pytest.raises(DefinitionError) as info:
        made.spec  # noqa: B018
    problems = info.value.problems
    assert len(problems) == 3, problems
    assert all(p.location.endswith("three.yaml") for p in problems)
    by_path = {p.path: p.message for p in problems}
    cycle_path = next(p for p in by_path if by_path[p].startswith("cycle: "))
    assert cycle_path in ("$.tasks[0]", "$.tasks[1]")
    assert "a" in by_path[cycle_path]
    assert "b" in by_path[cycle_path]
    assert by_path["$.tasks[2].task"] == "unknown task 'rt.nope'"
    assert "'ten' is not of type 'integer'" in by_path["$.tasks[3].args.limit"]
    message = str(info.value)
    assert "three.yaml" in message
    assert "$.tasks[3].args.limit" in message


def test_a_node_with_both_task_and_command_is_refused(registry: Registry) -> None:
    with pytest.raises(DefinitionError) as info:
        compile_recipe(
            {"name": "x", "tasks": [{"id": "a", "task": "rt.ident", "command": "true"}]},
            "r.yaml",
        )
    assert ("r.yaml", "$.tasks[0]", "give exactly one of 'task' and 'command'") in _problems(
        info.value
    )


def test_a_recipe_without_a_name_is_refused(registry: Registry, tmp_path: Path) -> None:
    path = tmp_path / "nameless.yaml"
    path.write_text("tasks: []\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        load_recipe(path)
    assert info.value.problems[0].path == "$.name"


# --- the published schema --------------------------------------------------------------


def test_recipe_json_schema_is_a_valid_draft_2020_12_schema() -> None:
    schema = recipe_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_recipe_json_schema_accepts_the_example_recipe() -> None:
    example = yaml.safe_load(EXAMPLE_RECIPE.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(recipe_json_schema()).iter_errors(example)) == []


def test_recipe_json_schema_accepts_the_documented_recipe_forms() -> None:
    validator = Draft202012Validator(recipe_json_schema())
    assert list(validator.iter_errors(yaml.safe_load(YAML_RECIPE))) == []


@pytest.mark.parametrize(
    "change",
    [
        {"bogus": 1},  # unknown top-level key
        {"tasks": [{"id": "a", "task": "t", "colour": "red"}]},  # unknown task key
        {"tasks": [{"id": "9a", "task": "t"}]},  # bad id
        {"name": None},
    ],
)
def test_recipe_json_schema_rejects_bad_documents(change: dict[str, Any]) -> None:
    example = yaml.safe_load(EXAMPLE_RECIPE.read_text(encoding="utf-8"))
    assert list(Draft202012Validator(recipe_json_schema()).iter_errors({**example, **change}))


def test_recipe_json_schema_requires_tasks() -> None:
    errors = list(Draft202012Validator(recipe_json_schema()).iter_errors({"name": "x"}))
    assert any("tasks" in e.message for e in errors)


@pytest.mark.parametrize(
    "values",
    [
        {},
        {"base_seconds": 0, "factor": 1, "max_seconds": 0, "jitter": False},
        {"factor": 0.5},
        {"base_seconds": -1},
        {"max_seconds": -0.5},
        {"jitter": None},
        {"factor": "x"},
        {"other": 1},
    ],
)
def test_a_recipe_backoff_is_checked_as_the_spec_checks_it(values: dict[str, Any]) -> None:
    """Recipes describe backoff with a pydantic model of their own (for the published
    JSON Schema): it must take and refuse what the spec's Backoff does."""
    try:
        expected: Any = Backoff(**values).to_json_dict()
    except ValueError:
        expected = "invalid"
    try:
        got: Any = RecipeBackoff(**values).model_dump()
    except ValueError:
        got = "invalid"
    assert got == expected

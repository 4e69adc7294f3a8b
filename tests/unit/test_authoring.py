"""Authoring in Python: `@task`, `@pipeline` tracing and command tasks.

Each test defines its tasks and pipelines inside `with use_registry(Registry()):` so
names never collide between tests. Tasks defined inside a test function get an explicit
`name=` (see test_task_defined_in_a_function_gets_a_usable_name for why).
"""

from __future__ import annotations

import enum
import re
from pathlib import Path
from typing import Any, Literal

import pytest
from jsonschema import Draft202012Validator
from pydantic import BaseModel

import headwater
from headwater import pipeline, task
from headwater.authoring.commands import CommandFailed
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.spec import NAME_PATTERN, Backoff, PipelineSpec
from headwater.errors import DefinitionError, DuplicateNameError, HeadwaterError

THIS_FILE = Path(__file__).name


def _line(marker: str) -> int:
    """The line of this file that ends with the comment `# <marker>`."""
    lines = Path(__file__).read_text(encoding="utf-8").splitlines()
    hits = [n for n, text in enumerate(lines, 1) if text.rstrip().endswith(f"# {marker}")]
    assert len(hits) == 1, marker
    return hits[0]


def _at(location: str, marker: str) -> bool:
    return location.endswith(f"{THIS_FILE}:{_line(marker)}")


# Module-level functions, so `@task` can name them `module.qualname`.


def plain_double(x: int) -> int:  # plain_double
    """Double a number.

    More words."""
    return 2 * x


def plain_undocumented(x: int):  # type: ignore[no-untyped-def]
    return x


# --- @task -----------------------------------------------------------------------------


def test_task_bare_uses_module_qualname_and_default_settings() -> None:
    with use_registry(Registry()) as registry:
        made = task(plain_double)
    assert made.name == f"{__name__}.plain_double"
    assert registry.tasks[made.name] is made
    definition = made.definition
    assert definition.kind == "python"
    assert definition.version == "1"
    assert definition.retries == 0
    assert definition.backoff == Backoff()
    assert definition.timeout_seconds is None
    assert definition.cache is True
    assert definition.queue == "default"
    assert definition.tags == ()
    assert definition.description == "Double a number.\n\nMore words."
    assert definition.callable == f"{__name__}:plain_double"
    assert _at(str(definition.source), "plain_double")
    assert made.__doc__ == plain_double.__doc__


def test_task_without_docstring_or_return_hint() -> None:
    with use_registry(Registry()):
        made = task(plain_undocumented)
    assert made.description == ""
    assert made.definition.output_schema is None


def test_task_with_options() -> None:
    with use_registry(Registry()) as registry:

        @task(
            name="reports.build",
            version=3,
            retries=4,
            backoff={"base_seconds": 2, "factor": 3, "max_seconds": 60, "jitter": False},
            timeout=12.5,
            cache=False,
            queue="heavy",
            tags=["nightly", "gpu"],
        )
        def build(x: int) -> int:
            """Build the report."""
            return x

    definition = build.definition
    assert build.name == "reports.build"
    assert registry.tasks["reports.build"] is build
    assert definition.version == "3"
    assert definition.retries == 4
    assert definition.backoff == Backoff(base_seconds=2, factor=3, max_seconds=60, jitter=False)
    assert definition.timeout_seconds == 12.5
    assert definition.cache is False
    assert definition.queue == "heavy"
    assert definition.tags == ("nightly", "gpu")
    assert definition.description == "Build the report."


def test_task_partial_backoff_keeps_other_defaults_and_explicit_description_wins() -> None:
    with use_registry(Registry()):

        @task(name="t.slow", backoff={"base_seconds": 5}, description="Explicit.")
        def slow(x: int) -> int:
            """Docstring."""
            return x

    assert slow.definition.backoff == Backoff(base_seconds=5)
    assert slow.definition.description == "Explicit."


def test_task_rejects_a_bad_backoff() -> None:
    with use_registry(Registry()), pytest.raises(ValueError):

        @task(name="t.bad", backoff={"factor": 0.5})
        def bad(x: int) -> int:
            return x


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    a: int


class Outer(BaseModel):
    inner: Inner
    tags: list[str] = []


def test_params_schema_from_type_hints() -> None:
    with use_registry(Registry()):

        @task(name="t.typed")
        def typed(
            o: Outer,
            c: Color,
            xs: list[int],
            maybe: int | None = None,
            mode: Literal["fast", "slow"] = "fast",
            n: int = 3,
        ) -> list[int]:
            return xs

    schema = typed.definition.params_schema
    Draft202012Validator.check_schema(schema)
    props = schema["properties"]
    assert list(props) == ["o", "c", "xs", "maybe", "mode", "n"]
    assert schema["required"] == ["o", "c", "xs"]
    assert schema["additionalProperties"] is False
    # Nested models and enums live in $defs.
    assert props["o"] == {"$ref": "#/$defs/Outer"}
    assert schema["$defs"]["Outer"]["properties"]["inner"] == {"$ref": "#/$defs/Inner"}
    assert schema["$defs"]["Inner"]["required"] == ["a"]
    assert props["c"] == {"$ref": "#/$defs/Color"}
    assert schema["$defs"]["Color"]["enum"] == ["red", "blue"]
    assert props["xs"]["type"] == "array"
    assert props["xs"]["items"] == {"type": "integer"}
    assert {"type": "null"} in props["maybe"]["anyOf"]
    assert {"type": "integer"} in props["maybe"]["anyOf"]
    assert props["maybe"]["default"] is None
    assert props["mode"]["enum"] == ["fast", "slow"]
    assert props["mode"]["default"] == "fast"
    assert props["n"] == {"default": 3, "type": "integer"}  # no automatic title
    assert typed.definition.output_schema == {"type": "array", "items": {"type": "integer"}}

    validator = Draft202012Validator(schema)
    good = {"o": {"inner": {"a": 1}}, "c": "red", "xs": [1, 2], "maybe": None, "mode": "slow"}
    assert list(validator.iter_errors(good)) == []
    for bad in (
        {**good, "o": {"inner": {}}},  # nested required field missing
        {**good, "c": "green"},  # not in the enum
        {**good, "xs": ["one"]},
        {**good, "mode": "medium"},
        {**good, "extra": 1},
        {"c": "red", "xs": []},  # required o missing
    ):
        assert list(validator.iter_errors(bad)), bad


def test_task_parameters_must_be_named_plainly() -> None:
    with use_registry(Registry()), pytest.raises(DefinitionError, match=r"\*args"):

        @task(name="t.star")
        def star(*values: int) -> int:
            return 0

    with use_registry(Registry()), pytest.raises(DefinitionError, match="start with '_'"):

        @task(name="t.private")
        def private(_hidden: int) -> int:
            return 0


def test_task_defined_in_a_function_gets_a_usable_name() -> None:
    with use_registry(Registry()):
        try:

            @task
            def inner(x: int) -> int:
                return x

        except HeadwaterError:
            return  # a DefinitionError asking for name= would be fine too
    assert re.match(NAME_PATTERN, inner.name)
    assert inner.name.endswith("inner")


def test_calling_a_task_outside_a_pipeline_calls_the_function() -> None:
    with use_registry(Registry()):

        @task(name="t.add")
        def add(a: int, b: int = 10) -> int:
            return a + b

    assert add(1) == 11
    assert add(1, b=2) == 3
    assert add(a=5, b=5) == 10


def test_map_outside_a_pipeline_maps_directly() -> None:
    with use_registry(Registry()):

        @task(name="t.scale")
        def scale(x: int, by: int = 1) -> int:
            return x * by

    assert scale.map([1, 2, 3]) == [1, 2, 3]
    assert scale.map([1, 2, 3], by=10) == [10, 20, 30]
    assert scale.map([1, 2], 3) == [3, 6]
    assert scale.map(x=[4, 5], by=2) == [8, 10]
    assert scale.map([]) == []


def test_map_outside_a_pipeline_over_a_keyword_that_is_not_the_first_parameter() -> None:
    with use_registry(Registry()):

        @task(name="t.scale")
        def scale(x: int, by: int = 1) -> int:
            return x * by

        @pipeline
        def scaled(factors: list[int], n: int):  # type: ignore[no-untyped-def]
            return scale.map(by=factors, x=n)

    assert scaled.spec.nodes[0].map == "by"  # inside a pipeline: fans out over `by`
    assert scale.map(by=[1, 2], x=5) == [5, 10]


# --- @pipeline tracing -----------------------------------------------------------------


def _tasks() -> tuple[Any, Any, Any]:
    @task(name="t.load")
    def load(path: str, limit: int = 10) -> dict[str, int]:
        return {}

    @task(name="t.add")
    def add(a: int, b: int = 0) -> int:
        return a + b

    @task(name="t.total")
    def total(values: list[int]) -> int:
        return sum(values)

    return load, add, total


def test_pipeline_traces_nodes_refs_paths_after_options_and_map() -> None:
    with use_registry(Registry()) as registry:
        load, add, total = _tasks()

        @pipeline
        def wired(path: str, b: int = 2):  # type: ignore[no-untyped-def]
            """Wire things."""
            data = load(path)  # wired-load
            first = add(data["rows"], b=b)
            second = add(first, after=[data])
            third = add.options(id="third", after=[second])(1)
            each = add.map(data["list"])
            return {"first": first, "all": total(each), "third": third}

    spec = wired.spec
    assert registry.pipelines["wired"] is wired
    assert isinstance(spec, PipelineSpec)
    assert spec.name == "wired"
    assert spec.description == "Wire things."
    assert [n.id for n in spec.nodes] == ["load", "add", "add_2", "third", "add_3", "total"]
    nodes = spec.node_map
    assert nodes["load"].task == "t.load"
    assert nodes["load"].args == {"path": {"$param": "path"}}
    assert _at(str(nodes["load"].source), "wired-load")
    assert nodes["add"].args == {"a": {"$output": "load", "path": ["rows"]}, "b": {"$param": "b"}}
    assert nodes["add_2"].args == {"a": {"$output": "add"}}
    assert nodes["add_2"].after == ("load",)
    assert nodes["third"].args == {"a": 1}
    assert nodes["third"].after == ("add_2",)
    assert nodes["add_3"].map == "a"
    assert nodes["add_3"].args == {"a": {"$output": "load", "path": ["list"]}}
    assert nodes["total"].args == {"values": {"$output": "add_3"}}
    assert all(n.map is None for n in spec.nodes if n.id != "add_3")
    assert set(spec.tasks) == {"t.load", "t.add", "t.total"}
    assert spec.output == {
        "first": {"$output": "add"},
        "all": {"$output": "total"},
        "third": {"$output": "third"},
    }


def test_ref_paths_can_be_nested_and_indexed() -> None:
    with use_registry(Registry()):
        load, add, _ = _tasks()

        @pipeline
        def deep():  # type: ignore[no-untyped-def]
            return add(load("p")["rows"][0]["n"])

    assert deep.spec.node_map["add"].args == {"a": {"$output": "load", "path": ["rows", 0, "n"]}}


def test_options_map_sets_id_and_map() -> None:
    with use_registry(Registry()):
        load, add, _ = _tasks()

        @pipeline
        def fan():  # type: ignore[no-untyped-def]
            return add.options(id="each_add").map(load("p")["items"], b=1)

    node = fan.spec.node_map["each_add"]
    assert node.map == "a"
    assert node.args == {"a": {"$output": "load", "path": ["items"]}, "b": 1}


def test_pipeline_params_become_spec_params_with_defaults_and_required() -> None:
    with use_registry(Registry()):
        load, _, _ = _tasks()

        @pipeline
        def params(path: str, limit: int = 10, strict: bool = False, ratio: float = 0.5):  # type: ignore[no-untyped-def]
            return load(path, limit=limit)

    schema = params.spec.params
    Draft202012Validator.check_schema(schema)
    assert list(schema["properties"]) == ["path", "limit", "strict", "ratio"]
    assert schema["required"] == ["path"]
    assert schema["properties"]["path"]["type"] == "string"
    assert schema["properties"]["limit"]["type"] == "integer"
    assert schema["properties"]["limit"]["default"] == 10
    assert schema["properties"]["strict"] == {
        "default": False,
        "type": "boolean",
    }
    assert schema["properties"]["ratio"]["default"] == 0.5
    assert schema["additionalProperties"] is False
    assert "title" not in schema


def test_pipeline_output_keeps_literals_and_quotes_dollar_keys() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def out():  # type: ignore[no-untyped-def]
            return [add(1), {"n": 2, "$param": "not a binding"}, None]

    assert out.spec.output == [
        {"$output": "add"},
        {"$literal": {"n": 2, "$param": "not a binding"}},
        None,
    ]


def test_pipeline_with_no_return_has_no_output() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def silent():  # type: ignore[no-untyped-def]
            add(1)

    assert silent.spec.output is None
    assert [n.id for n in silent.spec.nodes] == ["add"]


def test_calling_a_pipeline_says_how_to_run_it() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def runnable():  # type: ignore[no-untyped-def]
            return add(1)

    with pytest.raises(TypeError, match=r"headwater\.run\(runnable"):
        runnable()


def test_two_pipelines_with_one_name_name_both_places() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline(name="daily")  # first-daily
        def daily_one():  # type: ignore[no-untyped-def]
            return add(1)

        with pytest.raises(DuplicateNameError) as info:

            @pipeline(name="daily")  # second-daily
            def daily_two():  # type: ignore[no-untyped-def]
                return add(2)

    error = info.value
    assert "daily" in str(error)
    assert len(error.problems) == 2
    assert _at(error.problems[0].location, "first-daily")
    assert _at(error.problems[1].location, "second-daily")
    for problem in error.problems:
        assert problem.location in str(error)
    assert isinstance(error, DefinitionError)


def test_two_tasks_with_one_name_are_an_error_but_reimporting_one_is_not() -> None:
    with use_registry(Registry()):
        task(plain_double)
        task(plain_double)  # the same definition again, as when a module is imported twice
        with pytest.raises(DuplicateNameError, match="plain_double"):

            @task(name=f"{__name__}.plain_double")
            def other(x: int) -> int:
                return x


def _definition_error(made: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        made.spec  # noqa: B018
    return info.value


def test_unknown_keyword_in_a_pipeline_body_points_at_the_call() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def bad():  # type: ignore[no-untyped-def]
            return add(1, c=2)  # bad-kwarg

    error = _definition_error(bad)
    assert any(_at(p.location, "bad-kwarg") and "'c'" in p.message for p in error.problems)
    assert "bad" in str(error)


def test_too_many_positional_arguments_point_at_the_call() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def bad():  # type: ignore[no-untyped-def]
            return add(1, 2, 3)  # bad-positional

    error = _definition_error(bad)
    problem = next(p for p in error.problems if _at(p.location, "bad-positional"))
    assert "takes 2 arguments, 3 given" in problem.message


def test_argument_given_twice_is_reported() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def bad():  # type: ignore[no-untyped-def]
            return add(1, a=2)  # bad-twice

    error = _definition_error(bad)
    assert any(_at(p.location, "bad-twice") and "twice" in p.message for p in error.problems)


def test_non_json_literal_points_at_the_call() -> None:
    with use_registry(Registry()):

        @task(name="t.anything")
        def anything(value: Any) -> None:
            return None

        @pipeline
        def bad():  # type: ignore[no-untyped-def]
            return anything(object())  # bad-literal

    error = _definition_error(bad)
    problem = next(p for p in error.problems if "not JSON" in p.message)
    assert _at(problem.location, "bad-literal")
    assert "object" in problem.message


def test_every_problem_of_a_pipeline_body_is_reported_at_once() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def bad(n: int):  # type: ignore[no-untyped-def]
            add(1, c=2)  # many-1
            add(1, 2, 3)  # many-2
            return add({"$param": "nope"}, b="x")  # many-3

    error = _definition_error(bad)
    for marker in ("many-1", "many-2", "many-3"):
        assert any(_at(p.location, marker) for p in error.problems), marker


def test_a_ref_has_no_truth_value_while_building() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def branching():  # type: ignore[no-untyped-def]
            result = add(1)
            if result:  # bool-ref
                add(2)

    error = _definition_error(branching)
    problem = error.problems[0]
    assert _at(problem.location, "bool-ref")
    assert "branch inside a task" in problem.message


def test_a_param_has_no_truth_value_while_building() -> None:
    with use_registry(Registry()):
        _, add, _ = _tasks()

        @pipeline
        def branching(flag: bool = False):  # type: ignore[no-untyped-def]
            return add(1) if flag else add(2)

    error = _definition_error(branching)
    assert "parameter flag" in str(error)
    assert "branch inside a task" in str(error)


def test_iterating_a_ref_while_building_suggests_map() -> None:
    with use_registry(Registry()):
        load, add, _ = _tasks()

        @pipeline
        def looping():  # type: ignore[no-untyped-def]
            return [add(item) for item in load("p")]  # iter-ref

    error = _definition_error(looping)
    problem = error.problems[0]
    assert _at(problem.location, "iter-ref")
    assert "map" in problem.message


# --- command tasks ---------------------------------------------------------------------


def test_command_task_definition_and_params_schema() -> None:
    with use_registry(Registry()) as registry:
        count = headwater.command(  # command-def
            "files.count",
            "wc -l < $HW_ARG_PATH",
            params={"path": {"type": "string"}, "limit": {"type": "integer", "default": 5}},
            env={"LC_ALL": "C"},
            retries=2,
            timeout=30,
            tags=["shell"],
        )
    assert registry.tasks["files.count"] is count
    definition = count.definition
    assert definition.kind == "command"
    assert definition.command == "wc -l < $HW_ARG_PATH"
    assert definition.env == {"LC_ALL": "C"}
    assert definition.retries == 2
    assert definition.timeout_seconds == 30
    assert definition.tags == ("shell",)
    assert definition.params_schema == {
        "type": "object",
        "properties": {"path": {"type": "string"}, "limit": {"type": "integer", "default": 5}},
        "required": ["path"],
        "additionalProperties": False,
    }
    assert definition.callable is None
    assert _at(str(definition.source), "command-def")


def test_command_task_without_params_accepts_anything() -> None:
    with use_registry(Registry()):
        anything = headwater.command("shell.any", "true")
    assert anything.definition.accepts_any_param()
    assert anything.definition.required_params == []


def test_calling_a_command_task_runs_it_and_returns_its_output_line() -> None:
    with use_registry(Registry()):
        greet = headwater.command(
            "shell.greet",
            'echo "working"\n'
            'echo "::output:: {\\"first\\": true}"\n'
            'echo "::output:: {\\"n\\": $HW_ARG_N, \\"who\\": \\"$HW_ARG_WHO\\", '
            '\\"list\\": $HW_ARG_ITEMS}"',
            params={"n": {"type": "integer"}, "who": {}, "items": {}},
        )
    # Strings reach the command as they are, other values as JSON; the last line wins.
    assert greet(3, who="ada", items=[1, 2]) == {"n": 3, "who": "ada", "list": [1, 2]}


def test_a_command_task_reads_its_arguments_as_json_on_stdin() -> None:
    with use_registry(Registry()):
        echo = headwater.command("shell.echo", 'echo "::output:: $(cat)"')
    assert echo(a=1, b="two") == {"a": 1, "b": "two"}


def test_a_command_without_an_output_line_returns_none() -> None:
    with use_registry(Registry()):
        quiet = headwater.command("shell.quiet", "echo just talking")
    assert quiet() is None


def test_a_failing_command_raises() -> None:
    with use_registry(Registry()):
        failing = headwater.command("shell.fail", "exit 3")
    with pytest.raises(CommandFailed, match="code 3"):
        failing()


def test_a_command_task_in_a_pipeline_is_a_node() -> None:
    with use_registry(Registry()):
        load, _, _ = _tasks()
        count = headwater.command("shell.count", "wc -l", params={"path": {"type": "string"}})

        @pipeline
        def counted(path: str):  # type: ignore[no-untyped-def]
            return count(load(path)["path"])

    spec = counted.spec
    assert spec.node_map["count"].task == "shell.count"
    assert spec.node_map["count"].args == {"path": {"$output": "load", "path": ["path"]}}
    assert spec.tasks["shell.count"].kind == "command"


def test_sources_are_relative_to_the_directory_the_pipeline_is_traced_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each node's source file is made relative once per file and working directory: a
    change of directory between two tracings gives each its own."""
    from headwater.authoring.tracing import relative_path

    here = str(Path(__file__).resolve())
    monkeypatch.chdir(Path(here).parent)
    inside = relative_path(here)
    monkeypatch.chdir(tmp_path)
    outside = relative_path(here)
    monkeypatch.chdir(Path(here).parent)

    assert (inside, outside, relative_path(here)) == (Path(here).name, here, Path(here).name)

"""PipelineSpec as JSON: the stored form, its content hash, and strict parsing.

The pinned hashes were computed by the pydantic models these classes replaced (main at
6429dad): a spec that hashes differently would become a new version of every existing
pipeline on upgrade.
"""

from __future__ import annotations

import datetime
import json
from typing import Any, Literal

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.domain.spec import Backoff, NodeSpec, PipelineSpec, Source, SpecError, TaskDef


def _full_spec() -> PipelineSpec:
    here = Source(file="pipelines/etl.py", line=3)
    extract = TaskDef(
        name="etl.extract",
        version="2",
        description="Read the rows.",
        params_schema={
            "type": "object",
            "properties": {"day": {"type": "string"}, "limit": {"default": 10, "type": "integer"}},
            "required": ["day"],
            "additionalProperties": False,
        },
        output_schema={"type": "array", "items": {"type": "integer"}},
        retries=3,
        backoff=Backoff(base_seconds=2, factor=3, max_seconds=60, jitter=False),
        timeout_seconds=30,
        cache=False,
        queue="heavy",
        tags=("nightly", "gpu"),
        executor="process",
        callable="etl:extract",
        source=here,
    )
    report = TaskDef(
        name="etl.report",
        kind="command",
        params_schema={"type": "object", "properties": {}, "additionalProperties": True},
        command="wc -l",
        env={"LANG": "C"},
        source=Source(file="pipelines/etl.yaml", path="$.tasks[1]"),
    )
    nodes = (
        NodeSpec(
            id="extract",
            task="etl.extract",
            args={"day": {"$param": "day"}, "limit": None, "nested": {"a": [1, 2.5, None]}},
            source=here,
        ),
        NodeSpec(
            id="report",
            task="etl.report",
            args={"rows": {"$output": "extract"}},
            after=("extract",),
            map="rows",
        ),
    )
    return PipelineSpec(
        name="etl",
        description="Extract, then report.",
        params={
            "type": "object",
            "properties": {"day": {"type": "string"}},
            "required": ["day"],
            "additionalProperties": False,
        },
        tasks={t.name: t for t in (extract, report)},
        nodes=nodes,
        output={"count": {"$output": "report"}, "none": None},
        source=Source(file="pipelines/etl.py", line=1),
    )


def _authored_spec() -> PipelineSpec:
    """A Python pipeline: its parameter and output schemas come from type hints."""

    def load(
        path: str,
        n: int = 3,
        ratio: float = 0.5,
        flag: bool = False,
        tags: list[str] | None = None,
        mode: Literal["a", "b"] = "a",
        opts: dict[str, int] | None = None,
        anything: Any = None,
    ) -> dict[str, list[int]]:
        return {}

    def total(rows: dict[str, list[int]], scale: int | float = 1) -> float:
        return 0.0

    # The callable ("module:qualname") is hashed: pin it whatever pytest names this module.
    load.__module__ = total.__module__ = "pinned"
    with use_registry(Registry()):
        loader = task(name="pinned.load")(load)
        summer = task(name="pinned.total", retries=1, timeout=2.5)(total)

        @pipeline(name="pinned")
        def pinned(path: str, n: int = 2):  # type: ignore[no-untyped-def]
            return summer(loader(path, n=n), scale=2)

        return pinned.spec


PINNED = [
    (
        lambda: PipelineSpec(name="empty"),
        "efab4d302fc745586169c3f2dedc0f7b0c217e6743b37468c713cb3aa9b4bd32",
    ),
    (_full_spec, "d48dd377e45bf2f16d76c452ef088c32adebdbfca3810dff890b27430fb0e4d9"),
    (_authored_spec, "1ee2b36a9ce63a071cbe4cef410bf1131788d4648ce2d4226f6f65bd68543785"),
]


@pytest.mark.parametrize(("make", "expected"), PINNED)
def test_content_hash_is_the_one_the_pydantic_models_computed(make: Any, expected: str) -> None:
    assert make().content_hash == expected


def test_json_round_trip_keeps_the_spec_and_leaves_out_none_fields() -> None:
    spec = _full_spec()
    data = spec.to_json_dict()
    assert json.dumps(data) == FULL_JSON  # the same keys in the same order
    assert PipelineSpec.from_json(data) == spec
    assert PipelineSpec.from_json(data).content_hash == spec.content_hash


def test_the_hash_leaves_out_sources() -> None:
    spec = _full_spec()
    moved = spec.replace(source=None, nodes=tuple(n.replace(source=None) for n in spec.nodes))
    assert moved != spec
    assert moved.content_hash == spec.content_hash


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, [(("name",), "Field required")]),
        (
            {"name": "a b"},
            [(("name",), "String should match pattern '^[A-Za-z_][A-Za-z0-9_.\\-]*$'")],
        ),
        ({"name": "p", "extra": 1}, [(("extra",), "Extra inputs are not permitted")]),
        (
            {"name": "p", "tasks": {"t": {"name": "t", "retries": -1, "kind": "x"}}},
            [
                (("tasks", "t", "kind"), "Input should be 'python' or 'command'"),
                (("tasks", "t", "retries"), "Input should be greater than or equal to 0"),
            ],
        ),
        (
            {"name": "p", "tasks": {"t": {"name": "t", "backoff": {"factor": 0.5}}}},
            [(("tasks", "t", "backoff", "factor"), "Input should be greater than or equal to 1")],
        ),
        (
            {"name": "p", "nodes": [{"id": "a", "task": "t"}, {"id": "-", "task": 1}]},
            [
                (("nodes", 1, "id"), "String should match pattern '^[A-Za-z_][A-Za-z0-9_\\-]*$'"),
                (("nodes", 1, "task"), "Input should be a valid string"),
            ],
        ),
        ({"name": "p", "nodes": {}}, [(("nodes",), "Input should be a valid tuple")]),
        ([], [((), "Input should be a valid dictionary or instance of PipelineSpec")]),
    ],
)
def test_from_json_names_every_bad_field(data: Any, errors: list[Any]) -> None:
    with pytest.raises(SpecError) as caught:
        PipelineSpec.from_json(data)
    assert caught.value.errors == errors


def test_constructor_checks_values_like_from_json() -> None:
    with pytest.raises(SpecError) as caught:
        TaskDef(name="t", timeout_seconds=0, tags=("a", 1))  # type: ignore[arg-type]
    assert caught.value.errors == [
        (("timeout_seconds",), "Input should be greater than 0"),
        (("tags", 1), "Input should be a valid string"),
    ]
    assert isinstance(caught.value, ValueError)
    assert Backoff(base_seconds=2).base_seconds == 2.0
    assert TaskDef(name="t", tags=["a"]).tags == ("a",)  # type: ignore[arg-type]


def test_specs_are_frozen_values() -> None:
    spec = _full_spec()
    with pytest.raises(AttributeError):
        spec.name = "other"  # type: ignore[misc]
    assert spec == _full_spec()
    assert hash(Source(file="a", line=1)) == hash(Source(file="a", line=1))
    assert repr(Source(file="a", line=1)) == "Source(file='a', line=1, path=None)"


# to_json_dict() of _full_spec() by the pydantic models, as json.dumps wrote it.
FULL_JSON = (
    '{"name": "etl", "description": "Extract, then report.", "params": {"type": "object", "pr'
    'operties": {"day": {"type": "string"}}, "required": ["day"], "additionalProperties": fal'
    'se}, "tasks": {"etl.extract": {"name": "etl.extract", "kind": "python", "version": "2", '
    '"description": "Read the rows.", "params_schema": {"type": "object", "properties": {"day'
    '": {"type": "string"}, "limit": {"default": 10, "type": "integer"}}, "required": ["day"]'
    ', "additionalProperties": false}, "output_schema": {"type": "array", "items": {"type": "'
    'integer"}}, "retries": 3, "backoff": {"base_seconds": 2.0, "factor": 3.0, "max_seconds":'
    ' 60.0, "jitter": false}, "timeout_seconds": 30.0, "cache": false, "queue": "heavy", "tag'
    's": ["nightly", "gpu"], "executor": "process", "callable": "etl:extract", "env": {}, "so'
    'urce": {"file": "pipelines/etl.py", "line": 3}}, "etl.report": {"name": "etl.report", "k'
    'ind": "command", "version": "1", "description": "", "params_schema": {"type": "object", '
    '"properties": {}, "additionalProperties": true}, "retries": 0, "backoff": {"base_seconds'
    '": 1.0, "factor": 2.0, "max_seconds": 300.0, "jitter": true}, "cache": true, "queue": "d'
    'efault", "tags": [], "command": "wc -l", "env": {"LANG": "C"}, "source": {"file": "pipel'
    'ines/etl.yaml", "path": "$.tasks[1]"}}}, "nodes": [{"id": "extract", "task": "etl.extrac'
    't", "args": {"day": {"$param": "day"}, "limit": null, "nested": {"a": [1, 2.5, null]}}, '
    '"after": [], "source": {"file": "pipelines/etl.py", "line": 3}}, {"id": "report", "task"'
    ': "etl.report", "args": {"rows": {"$output": "extract"}}, "after": ["extract"], "map": "'
    'rows"}], "output": {"count": {"$output": "report"}, "none": null}, "source": {"file": "p'
    'ipelines/etl.py", "line": 1}}'
)


@pytest.mark.parametrize(
    ("args", "pinned"),
    [
        ({}, "718e331b112b0a4d8ffb37874a006dfd3cea91f71ef58ea5a8d21f04ec8434f5"),
        ({"x": float("nan")}, "ec3efbffc3b18d06c54e1abf008f18b3a174983b6c6bdcbdb97306b2f62383ef"),
    ],
    ids=["infinite default", "nan argument"],
)
def test_non_finite_numbers_are_written_as_null_as_pydantic_wrote_them(
    args: dict[str, Any], pinned: str
) -> None:
    far = TaskDef(
        name="far",
        params_schema={
            "type": "object",
            "properties": {"x": {"type": "number", "default": float("inf")}},
        },
    )
    spec = PipelineSpec(
        name="far", tasks={"far": far}, nodes=(NodeSpec(id="far", task="far", args=args),)
    )

    data = spec.to_json_dict()
    assert data["tasks"]["far"]["params_schema"]["properties"]["x"]["default"] is None
    assert data["nodes"][0].get("args", {}) == dict.fromkeys(args)
    assert spec.content_hash == pinned


def test_values_that_are_not_json_are_written_as_pydantic_wrote_them() -> None:
    # A recipe's unquoted YAML date, in a parameter's default and in a node's arguments.
    since = {"type": "string", "default": datetime.date(2024, 1, 1)}
    spec = PipelineSpec(
        name="dated",
        params={"type": "object", "properties": {"since": since}},
        tasks={"t": TaskDef(name="t", params_schema={"type": "object", "properties": {}})},
        nodes=(NodeSpec(id="t", task="t", args={"day": datetime.date(2024, 1, 2)}),),
    )

    data = spec.to_json_dict()
    assert data["params"]["properties"]["since"]["default"] == "2024-01-01"
    assert data["nodes"][0]["args"] == {"day": "2024-01-02"}
    assert spec.content_hash == "d1aa9ad651e1f7c79545e50b00d7097135c1dc6d0db325796ecb71c80aa3db97"


def test_a_subclass_of_a_frozen_class_keeps_its_fields() -> None:
    from headwater.domain.frozen import Frozen, field, text

    class Named(Frozen):
        name: str = field(text())

    class Labelled(Named):
        label: str = field(text(), default="")

    made = Labelled(name="a", label="b")

    assert (made.name, made.label) == ("a", "b")
    with pytest.raises(SpecError, match="name: Field required"):
        Labelled(label="b")

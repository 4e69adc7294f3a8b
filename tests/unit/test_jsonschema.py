"""headwater.domain.jsonschema: the quick check never disagrees with `jsonschema`.

The quick check may only say "certainly valid" (it sends everything else to
`jsonschema`), so the properties are one-sided: whatever it accepts, jsonschema accepts.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from headwater.domain.jsonschema import (
    _plain_schema,
    _plainly_valid,
    schema_errors,
    schema_problem,
)

TYPE_NAMES = ["null", "boolean", "integer", "number", "string", "array", "object", "float"]
NAMES = st.sampled_from(["a", "b", "c", "d"])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5)
    | st.floats(-5, 5, allow_nan=False)
    | st.sampled_from([0.0, 1.0, -2.0])
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(NAMES, inner, max_size=3),
    max_leaves=8,
)


def _schemas(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Schemas in (and a little beyond) the subset the quick check knows."""
    keyword = st.one_of(
        st.tuples(st.just("type"), st.sampled_from(TYPE_NAMES)),
        st.tuples(st.just("type"), st.lists(st.sampled_from(TYPE_NAMES), max_size=3)),
        st.tuples(st.just("properties"), st.dictionaries(NAMES, inner, max_size=3)),
        st.tuples(st.just("required"), st.lists(NAMES, max_size=3)),
        st.tuples(st.just("additionalProperties"), inner),
        st.tuples(st.just("items"), inner),
        st.tuples(st.just("anyOf"), st.lists(inner, max_size=3)),
        st.tuples(st.sampled_from(["title", "description"]), st.text(max_size=3) | st.integers()),
        st.tuples(st.just("default"), json_values),
        st.tuples(st.just("minimum"), st.integers(-2, 2)),
        st.tuples(st.just("enum"), st.lists(json_values, max_size=2)),
    )
    return st.booleans() | st.lists(keyword, max_size=4).map(dict)


schemas = st.recursive(st.just({}), _schemas, max_leaves=10)


def _valid(schema: Any, value: Any) -> bool:
    return Draft202012Validator(schema).is_valid(value)


def _valid_schema(schema: Any) -> bool:
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(schemas, json_values)
def test_what_the_quick_check_accepts_jsonschema_accepts(schema: Any, value: Any) -> None:
    if _plain_schema(schema) and _plainly_valid(schema, value):
        assert _valid(schema, value)


@settings(max_examples=300, deadline=None)
@given(schemas)
def test_a_schema_the_quick_check_accepts_is_a_valid_schema(schema: Any) -> None:
    if _plain_schema(schema):
        assert _valid_schema(schema)


SAMPLES = [None, True, False, 0, 1, -1, 0.0, 1.0, 0.5, float("inf"), "", "1", [], [1], {}, {"a": 1}]


def test_the_quick_type_checks_agree_with_jsonschema() -> None:
    for kind in TYPE_NAMES:
        for value in SAMPLES:
            if _plainly_valid({"type": kind}, value):
                assert _valid({"type": kind}, value), (kind, value)


STRUCTURAL = [
    {"items": {"type": "integer"}},
    {"properties": {"a": {"type": "string"}}},
    {"required": ["a"]},
    {"additionalProperties": False},
    {"additionalProperties": {"type": "integer"}, "properties": {"b": {}}},
    {"anyOf": [{"type": "string"}, {"type": "null"}]},
    {"type": ["integer", "string"]},
]
NESTED = [["x"], [1, "x"], {"a": "x"}, {"a": 1}, {"b": "x"}, {"c": "x"}, {"c": 1}]


def test_the_quick_keyword_checks_agree_with_jsonschema() -> None:
    for schema in STRUCTURAL:
        for value in SAMPLES + NESTED:
            if _plainly_valid(schema, value):
                assert _valid(schema, value), (schema, value)


def test_the_quick_check_knows_the_schemas_pydantic_writes_for_plain_hints() -> None:
    schema = {
        "additionalProperties": False,
        "properties": {
            "i": {"type": "integer"},
            "seconds": {"default": 0.5, "type": "number"},
            "names": {"items": {"type": "string"}, "type": "array", "title": "Names"},
            "limit": {"anyOf": [{"type": "integer"}, {"type": "null"}], "default": None},
        },
        "required": ["i"],
        "type": "object",
    }
    assert _plain_schema(schema)
    assert _plainly_valid(schema, {"i": 1, "seconds": 2, "names": ["x"], "limit": None})
    assert not _plainly_valid(schema, {"i": 1.0})  # an integer to jsonschema: it decides
    assert not _plainly_valid(schema, {"i": True})
    assert not _plainly_valid(schema, {"seconds": 1})
    assert not _plainly_valid(schema, {"i": 1, "other": 2})


def test_errors_are_still_jsonschemas() -> None:
    schema = {"type": "object", "properties": {"i": {"type": "integer"}}, "required": ["i"]}
    assert schema_errors(schema, {"i": 1}) == []
    assert schema_errors(schema, {"i": 1.0}) == []
    assert schema_errors(schema, {"i": "x"}) == [(".i", "'x' is not of type 'integer'")]
    assert schema_errors(schema, {}) == [("", "'i' is a required property")]


def test_schema_problem_names_what_is_wrong() -> None:
    assert schema_problem({"type": "object", "properties": {}}) is None
    assert schema_problem({"type": "object", "minProperties": 1}) is None
    assert schema_problem({"type": "integr"}) is not None
    assert schema_problem({"required": "a"}) is not None

"""The fast paths for plain hints and JSON values give exactly what pydantic gives.

`headwater run` skips pydantic for them (issue 7); a difference would change the
parameter schemas, hence the content hash, of existing pipelines, or the arguments a
task receives.
"""

from __future__ import annotations

import inspect
import json
import math
import threading
from typing import Any, Literal, Optional, Union

import pytest
from pydantic import TypeAdapter
from pydantic_core import to_jsonable_python

from headwater.authoring import schema

PLAIN_HINTS: list[Any] = [
    inspect.Parameter.empty,
    Any,
    int,
    float,
    str,
    bool,
    None,
    type(None),
    list,
    dict,
    list[int],
    list[Any],
    list[list[str]],
    dict[str, Any],
    dict[str, float],
    dict[str, list[int | None]],
    int | None,
    None | str,
    Optional[list[str]],  # noqa: UP045 - the spelling is what is tested
    Union[dict[str, int], None],  # noqa: UP007
    Literal["a"],
    Literal["a", "b"],
    Literal[1, 2],
    Literal[True],
    Literal["x", "y"] | None,
]
NOT_PLAIN_HINTS: list[Any] = [
    tuple[int, ...],
    set[str],
    dict[int, str],
    int | str,
    int | float,
    Any | None,
    Literal[1, "a"],
    Literal["a", None],
    complex,
]
DEFAULTS: list[Any] = [
    inspect.Parameter.empty,
    None,
    0,
    2.5,
    "x",
    True,
    [1, "a"],
    {"b": 1, "a": {"d": 1, "c": 2}},
]
NAMES = ["x", "min_amount", "class_", "x__y", "aB", "a1b"]


def _fn(params: list[tuple[str, Any, Any]]) -> Any:
    def fn(**kwargs: Any) -> None: ...

    fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, annotation=hint, default=default
            )
            for name, hint, default in params
        ]
    )
    fn.__annotations__ = {
        name: hint for name, hint, _ in params if hint is not inspect.Parameter.empty
    }
    return fn


def _both_ways(params: list[tuple[str, Any, Any]]) -> tuple[schema.Params, schema.Params]:
    fast, slow = schema.Params(_fn(params), "t", "here"), schema.Params(_fn(params), "t", "here")
    slow._plain = None  # as if every hint needed pydantic
    return fast, slow


@pytest.mark.parametrize("hint", PLAIN_HINTS + NOT_PLAIN_HINTS, ids=repr)
@pytest.mark.parametrize("default", DEFAULTS, ids=repr)
def test_parameter_schemas_are_pydantics(hint: Any, default: Any) -> None:
    params = [(name, hint, default) for name in NAMES] + [("last", int, inspect.Parameter.empty)]
    fast, slow = _both_ways(params)
    assert (fast._plain is not None) == (hint in PLAIN_HINTS)
    assert json.dumps(fast.json_schema()) == json.dumps(slow.json_schema())


def test_no_parameters_and_a_default_that_is_not_json() -> None:
    for params in ([], [("when", int, (1, 2))], [("when", int, math.inf)]):
        fast, slow = _both_ways(params)
        assert json.dumps(fast.json_schema()) == json.dumps(slow.json_schema())


@pytest.mark.parametrize("hint", PLAIN_HINTS + NOT_PLAIN_HINTS, ids=repr)
def test_output_schemas_are_pydantics(hint: Any) -> None:
    if hint is inspect.Parameter.empty:
        return
    fn = _fn([])
    fn.__annotations__ = {"return": hint}
    expected = TypeAdapter(hint).json_schema(mode="serialization")
    assert json.dumps(schema.output_schema(fn)) == json.dumps(expected)


VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    2**60,
    1.0,
    1.5,
    "1",
    "a",
    "b",
    [],
    [1, None],
    [[1]],
    {},
    {"a": 1},
    {"a": [None]},
    (1,),
]


@pytest.mark.parametrize("hint", PLAIN_HINTS, ids=repr)
def test_arguments_are_checked_as_pydantic_checks_them(hint: Any) -> None:
    fast, slow = _both_ways([("x", hint, inspect.Parameter.empty), ("y", hint, [1])])
    for value in VALUES:
        for arguments in ({"x": value}, {"x": value, "y": value}, {"y": value}, {"x": 1, "z": 1}):
            got, expected = _outcome(fast, arguments), _outcome(slow, arguments)
            assert got == expected


def _outcome(params: schema.Params, arguments: dict[str, Any]) -> Any:
    """What validating gives, with the types of the values, or the error's message."""
    try:
        kwargs = params.validate(arguments)
    except ValueError as exc:
        return str(exc)
    return repr(kwargs), [type(v) for v in kwargs.values()]


def test_a_changeable_default_is_copied_for_each_call() -> None:
    fast, _ = _both_ways([("y", list[int], [1])])
    first = fast.validate({})["y"]
    first.append(2)
    assert fast.validate({}) == {"y": [1]}


_SENTINEL = object()


@pytest.mark.parametrize(
    "default", [_SENTINEL, threading.Lock(), (1, [2])], ids=["sentinel", "lock", "tuple of list"]
)
def test_a_default_is_passed_as_pydantic_passes_it(default: Any) -> None:
    # pydantic copies a default only when it is unhashable: an identity sentinel stays
    # itself, a lock is never deep-copied, and a tuple holding a list is copied.
    fast, slow = _both_ways([("y", Any, default)])

    given, expected = fast.validate({})["y"], slow.validate({})["y"]

    assert (given is default) == (expected is default)
    assert given == expected or given is default


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        3,
        2.5,
        "s",
        [1, (2, 3)],
        {"a": {"b": [None]}},
        math.inf,
        math.nan,
        {1: 2},
        b"x",
        {"s"},
    ],
    ids=repr,
)
def test_outputs_become_json_as_pydantic_makes_them(value: Any) -> None:
    expected = to_jsonable_python(value)
    got = schema.to_json(value)
    assert repr(got) == repr(expected)

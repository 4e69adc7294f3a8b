"""Argument merging (headwater.domain.merge): where each argument of a task run comes from.

Precedence, lowest to highest (DESIGN.md, "Argument merging"):
task defaults < pipeline literals < run arguments < per-task arguments < upstream outputs.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.domain.merge import (
    NodeArgs,
    merge_arguments,
    run_layer,
    split_node_args,
)

LAYERS = ("defaults", "literals", "run_args", "task_args", "upstream")  # lowest first
KEYS = st.sampled_from(["a", "b", "c", "d", "e", "f"])
SCALARS = st.none() | st.booleans() | st.integers(-5, 5) | st.text(max_size=3)
SMALL_JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y"]), children, max_size=2)
    ),
    max_leaves=5,
)
LAYER = st.dictionaries(KEYS, SMALL_JSON, max_size=6)


# --- merge_arguments -------------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(layers=st.tuples(LAYER, LAYER, LAYER, LAYER, LAYER))
def test_merge_each_key_comes_from_highest_layer_defaults_lt_literals_lt_run_lt_task_lt_upstream(
    layers: tuple[dict[str, Any], ...],
) -> None:
    merged = merge_arguments(**dict(zip(LAYERS, layers, strict=True)))
    assert set(merged) == set().union(*layers), "a key from any layer is kept"
    for key, value in merged.items():
        highest = next(layer for layer in reversed(layers) if key in layer)
        assert value == highest[key]


@settings(max_examples=100, deadline=None)
@given(layers=st.tuples(LAYER, LAYER, LAYER, LAYER, LAYER))
def test_merge_leaves_its_inputs_alone(layers: tuple[dict[str, Any], ...]) -> None:
    before = [dict(layer) for layer in layers]
    merge_arguments(**dict(zip(LAYERS, layers, strict=True)))
    assert list(layers) == before


def _merge_one_key(**present: Any) -> Any:
    layers = {name: ({"k": present[name]} if name in present else {}) for name in LAYERS}
    return merge_arguments(**layers)["k"]


def test_merge_literal_beats_task_default() -> None:
    assert _merge_one_key(defaults=1, literals=2) == 2


def test_merge_run_argument_beats_literal() -> None:
    assert _merge_one_key(defaults=1, literals=2, run_args=3) == 3


def test_merge_per_task_argument_beats_run_argument() -> None:
    assert _merge_one_key(literals=2, run_args=3, task_args=4) == 4


def test_merge_upstream_output_beats_per_task_argument() -> None:
    assert _merge_one_key(defaults=1, literals=2, run_args=3, task_args=4, upstream=5) == 5


def test_merge_a_lower_layer_fills_what_higher_layers_lack() -> None:
    merged = merge_arguments(
        defaults={"a": 1, "b": 1, "c": 1},
        literals={},
        run_args={"b": 2},
        task_args={},
        upstream={"c": 3},
    )
    assert merged == {"a": 1, "b": 2, "c": 3}


def test_merge_a_none_value_still_overrides() -> None:
    """An explicit null is a value, not "missing"."""
    assert _merge_one_key(defaults=1, task_args=None) is None


# --- split_node_args -------------------------------------------------------------------

_NODES = st.sampled_from(["extract", "load"])
_PARAMS = st.sampled_from(["day", "limit"])
_OUTPUT = st.builds(lambda n: {"$output": n}, _NODES) | st.builds(
    lambda n, p: {"$output": n, "path": p},
    _NODES,
    st.lists(st.sampled_from(["rows", 0, 1]), min_size=1, max_size=2),
)
_PARAM = st.builds(lambda p: {"$param": p}, _PARAMS)
# {"$literal": X} keeps X as it is, even when X looks like a binding.
_LITERAL = st.builds(lambda v: {"$literal": v}, _OUTPUT | _PARAM | SCALARS)
ARG_VALUE = st.recursive(
    SCALARS | _OUTPUT | _PARAM | _LITERAL,
    lambda children: (
        st.lists(children, max_size=3)
        | st.dictionaries(st.sampled_from(["x", "y", "z"]), children, max_size=3)
    ),
    max_leaves=8,
)


def _kinds(value: Any) -> set[str]:
    """Which bindings `value` holds, by the spec's own definition (an independent oracle)."""
    if isinstance(value, dict):
        if "$literal" in value:
            return set()
        if "$output" in value:
            return {"output"}
        if "$param" in value:
            return {"param"}
        return set().union(*map(_kinds, value.values()))
    if isinstance(value, list):
        return set().union(*map(_kinds, value))
    return set()


@settings(max_examples=200, deadline=None)
@given(args=st.dictionaries(KEYS, ARG_VALUE, max_size=6))
def test_split_sorts_each_argument_into_outputs_params_or_literals(args: dict[str, Any]) -> None:
    split = split_node_args(args)
    assert set(split.literals) | set(split.from_params) | set(split.from_outputs) == set(args)
    assert not set(split.literals) & set(split.from_params)
    assert not set(split.literals) & set(split.from_outputs)
    assert not set(split.from_params) & set(split.from_outputs)
    for name, value in args.items():
        kinds = _kinds(value)
        if "output" in kinds:
            assert split.from_outputs[name] == value, "any $output, at any depth"
        elif "param" in kinds:
            assert split.from_params[name] == value, "$param and no $output"
        else:
            assert split.literals[name] == value


def test_split_known_examples() -> None:
    split = split_node_args(
        {
            "n": 3,
            "day": {"$param": "day"},
            "rows": {"$output": "extract", "path": ["rows"]},
            "both": {"inputs": [{"$param": "day"}, {"x": [{"$output": "load"}]}]},
            "window": [{"$param": "start"}, {"$param": "end"}],
            "quoted": {"$literal": {"$output": "extract"}},
            "lookalike": {"$output": "extract", "other": 1},  # not a binding: extra key
        }
    )
    assert split.literals == {
        "n": 3,
        "quoted": {"$literal": {"$output": "extract"}},
        "lookalike": {"$output": "extract", "other": 1},
    }
    assert split.from_params == {
        "day": {"$param": "day"},
        "window": [{"$param": "start"}, {"$param": "end"}],
    }
    assert set(split.from_outputs) == {"rows", "both"}


# --- run_layer -------------------------------------------------------------------------


def test_run_layer_explicit_param_binding_beats_same_name_run_argument() -> None:
    node = split_node_args({"x": {"$param": "day"}})
    layer = run_layer(node, {"day": "2024-05-01", "x": "by name"}, {}, ["x"])
    assert layer == {"x": "2024-05-01"}


def test_run_layer_applies_run_arguments_only_to_the_tasks_own_parameters() -> None:
    node = split_node_args({})
    layer = run_layer(node, {"limit": 5, "day": "d", "other": 1}, {}, ["limit", "unused"])
    assert layer == {"limit": 5}


def test_run_layer_same_name_run_argument_overrides_a_literal_after_merging() -> None:
    """A run can change any task's default or literal by name (run args > literals)."""
    node = split_node_args({"limit": 10})
    merged = merge_arguments(
        defaults={"limit": 1},
        literals=node.literals,
        run_args=run_layer(node, {"limit": 99}, {}, ["limit"]),
        task_args={},
        upstream={},
    )
    assert merged == {"limit": 99}


def test_run_layer_uses_pipeline_parameter_default_when_not_given() -> None:
    node = split_node_args({"x": {"$param": "day"}})
    assert run_layer(node, {}, {"day": "default-day"}, ["x"]) == {"x": "default-day"}
    assert run_layer(node, {"day": "given"}, {"day": "default-day"}, ["x"]) == {"x": "given"}


def test_run_layer_pipeline_default_does_not_apply_by_name() -> None:
    """Only run arguments actually given reach a task by name, not pipeline defaults."""
    node = split_node_args({})
    assert run_layer(node, {}, {"limit": 5}, ["limit"]) == {}


def test_run_layer_resolves_params_nested_in_structures() -> None:
    node = split_node_args({"window": {"from": {"$param": "start"}, "to": [{"$param": "end"}]}})
    layer = run_layer(node, {"start": 1}, {"end": 9}, ["window"])
    assert layer == {"window": {"from": 1, "to": [9]}}


def test_run_layer_leaves_literals_and_outputs_to_their_own_layers() -> None:
    node = split_node_args({"n": 3, "rows": {"$output": "extract"}})
    assert run_layer(node, {}, {}, ["n", "rows"]) == {}


@settings(max_examples=200, deadline=None)
@given(
    bound=st.dictionaries(KEYS, st.sampled_from(["p", "q", "r"]), max_size=4),
    run_args=st.dictionaries(KEYS | st.sampled_from(["p", "q", "r"]), SCALARS, max_size=6),
    defaults=st.dictionaries(st.sampled_from(["p", "q", "r"]), SCALARS, max_size=3),
    task_params=st.sets(KEYS, max_size=6),
)
def test_run_layer_precedence_param_binding_gt_run_arg_by_name_and_given_gt_default(
    bound: dict[str, str],
    run_args: dict[str, Any],
    defaults: dict[str, Any],
    task_params: set[str],
) -> None:
    # Every pipeline parameter has a value (given or defaulted), as run validation ensures.
    for name in ("p", "q", "r"):
        if name not in run_args and name not in defaults:
            defaults[name] = f"default-{name}"
    node = split_node_args({arg: {"$param": p} for arg, p in bound.items()})
    layer = run_layer(node, run_args, defaults, task_params)
    assert set(layer) == set(bound) | (task_params & set(run_args))
    for name, value in layer.items():
        if name in bound:
            p = bound[name]
            assert value == (run_args[p] if p in run_args else defaults[p])
        else:
            assert value == run_args[name]


def test_node_args_is_a_plain_value() -> None:
    assert split_node_args({"n": 1}) == NodeArgs({"n": 1}, {}, {})

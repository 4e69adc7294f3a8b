"""Spec validation (headwater.domain.validate) and DAG rules (headwater.domain.dag).

Specs are built directly from TaskDef/NodeSpec/PipelineSpec, as the server sees them.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.domain.dag import CycleFound, build_graph
from headwater.domain.problems import Problem
from headwater.domain.spec import NodeSpec, PipelineSpec, Source, TaskDef
from headwater.domain.validate import validate_spec

FILE = "pipelines/etl.py"


def _task(
    name: str,
    props: dict[str, Any] | None = None,
    required: tuple[str, ...] = (),
    output: dict[str, Any] | None = None,
) -> TaskDef:
    return TaskDef(
        name=name,
        params_schema={
            "type": "object",
            "properties": props or {},
            "required": list(required),
            "additionalProperties": False,
        },
        output_schema=output,
        source=Source(file=FILE, line=1),
    )


# A small catalogue of tasks to wire nodes from.
TAKE_INT = _task("take_int", {"x": {"type": "integer"}, "s": {"type": "string"}}, ("x",))
TAKE_ANY = _task("take_any", {"inputs": {}})
TAKE_LIST = _task("take_list", {"items": {"type": "array"}})
ROWS = _task(
    "rows",
    output={
        "type": "object",
        "properties": {
            "count": {"type": "integer"},
            "rows": {"type": "array", "items": {"type": "integer"}},
        },
    },
)
NOTHING = _task("nothing", output={"type": "null"})
AN_INT = _task("an_int", output={"type": "integer"})
TASKS = {t.name: t for t in (TAKE_INT, TAKE_ANY, TAKE_LIST, ROWS, NOTHING, AN_INT)}


def _node(node_id: str, task: str, line: int = 10, **kwargs: Any) -> NodeSpec:
    return NodeSpec(id=node_id, task=task, source=Source(file=FILE, line=line), **kwargs)


def _spec(
    *nodes: NodeSpec, params: dict[str, Any] | None = None, output: Any = None
) -> PipelineSpec:
    return PipelineSpec(
        name="p",
        params={"type": "object", "properties": params or {}},
        tasks=TASKS,
        nodes=nodes,
        output=output,
        source=Source(file=FILE, line=5),
    )


def _only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def _out(node: str, *path: str | int) -> dict[str, Any]:
    return {"$output": node, "path": list(path)} if path else {"$output": node}


# --- one problem each ------------------------------------------------------------------


def test_a_clean_spec_has_no_problems() -> None:
    spec = _spec(
        _node("rows", "rows"),
        _node("count", "take_int", args={"x": _out("rows", "count")}),
        _node("each", "take_int", args={"x": _out("rows", "rows")}, map="x"),
        _node("all", "take_list", args={"items": _out("each")}, after=("count",)),
        _node("day", "take_int", args={"x": 1, "s": {"$param": "day"}}),
        params={"day": {"type": "string"}},
        output={"n": _out("count"), "day": {"$param": "day"}},
    )
    assert validate_spec(spec) == []


def test_cycle_is_named() -> None:
    spec = _spec(
        _node("a", "take_any", args={"inputs": _out("c")}),
        _node("b", "take_any", args={"inputs": _out("a")}),
        _node("c", "take_any", args={"inputs": _out("b")}),
    )
    problem = _only(validate_spec(spec))
    assert problem.message.startswith("cycle: ")
    assert set(problem.message.removeprefix("cycle: ").split(" -> ")) == {"a", "b", "c"}
    assert problem.location == f"{FILE}:10"


def test_cycle_is_named_in_dag_order() -> None:
    # Data flows a -> b -> c -> a: b reads a's output, c reads b's, a reads c's.
    spec = _spec(
        _node("a", "take_any", args={"inputs": _out("c")}),
        _node("b", "take_any", args={"inputs": _out("a")}),
        _node("c", "take_any", args={"inputs": _out("b")}),
    )
    message = _only(validate_spec(spec)).message
    rotations = ["a -> b -> c -> a", "b -> c -> a -> b", "c -> a -> b -> c"]
    assert any(r in message for r in rotations), message


def test_cycle_through_after_is_found() -> None:
    spec = _spec(
        _node("a", "take_any", after=("b",)),
        _node("b", "take_any", args={"inputs": _out("a")}),
    )
    assert _only(validate_spec(spec)).message in ("cycle: a -> b -> a", "cycle: b -> a -> b")


def test_unknown_task() -> None:
    problem = _only(validate_spec(_spec(_node("a", "no.such.task", line=12))))
    assert problem == Problem(f"{FILE}:12", "nodes.a.task", "unknown task 'no.such.task'")


def test_unknown_parameter_names_task_and_field() -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_int", args={"x": 1, "y": 2}))))
    assert problem.path == "nodes.a.args.y"
    assert "'y'" in problem.message
    assert "take_int" in problem.message
    assert "s, x" in problem.message  # what it does take


def test_missing_required_parameter() -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_int", args={"s": "text"}))))
    assert problem.path == "nodes.a.args"
    assert "missing parameter 'x'" in problem.message
    assert "take_int" in problem.message


@pytest.mark.parametrize("value", ["seven", 1.5, None, [1], {"n": 1}])
def test_ill_typed_literal(value: Any) -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_int", args={"x": value}))))
    assert problem.path == "nodes.a.args.x"
    assert "is not of type 'integer'" in problem.message


def test_ill_typed_literal_deep_in_a_structure_is_pointed_at() -> None:
    nested = _task(
        "nested",
        {
            "cfg": {
                "type": "object",
                "properties": {"limits": {"type": "array", "items": {"type": "integer"}}},
            }
        },
    )
    spec = _spec(_node("a", "nested", args={"cfg": {"limits": [1, "two", 3]}}))
    spec = spec.replace(tasks={**TASKS, "nested": nested})
    problem = _only(validate_spec(spec))
    assert problem.path == "nodes.a.args.cfg.limits[1]"
    assert "'two' is not of type 'integer'" in problem.message


def test_param_binding_of_undeclared_pipeline_parameter() -> None:
    spec = _spec(_node("a", "take_int", args={"x": {"$param": "dya"}}), params={"day": {}})
    problem = _only(validate_spec(spec))
    assert problem.path == "nodes.a.args.x"
    assert problem.message == "unknown pipeline parameter 'dya'"


def test_output_binding_of_unknown_node() -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_int", args={"x": _out("ghost")}))))
    assert problem.path == "nodes.a.args.x"
    assert problem.message == "output of unknown node 'ghost'"


def test_unbindable_output_field_not_in_upstream_schema() -> None:
    spec = _spec(_node("up", "rows"), _node("a", "take_int", args={"x": _out("up", "cuont")}))
    problem = _only(validate_spec(spec))
    assert problem.path == "nodes.a.args.x"
    assert "no field 'cuont'" in problem.message
    assert "count, rows" in problem.message


def test_unbindable_output_upstream_returns_none() -> None:
    spec = _spec(_node("up", "nothing"), _node("a", "take_int", args={"x": _out("up")}))
    problem = _only(validate_spec(spec))
    assert "returns nothing" in problem.message


def test_unbindable_output_type_mismatch_integer_to_string() -> None:
    spec = _spec(_node("up", "an_int"), _node("a", "take_int", args={"x": 1, "s": _out("up")}))
    problem = _only(validate_spec(spec))
    assert problem.path == "nodes.a.args.s"
    assert "integer" in problem.message
    assert "string" in problem.message


def test_integer_output_binds_to_number_parameter() -> None:
    number = _task("number", {"v": {"type": "number"}}, ("v",))
    spec = _spec(_node("up", "an_int"), _node("a", "number", args={"v": _out("up")}))
    spec = spec.replace(tasks={**TASKS, "number": number})
    assert validate_spec(spec) == []


def test_map_over_a_non_list_output() -> None:
    spec = _spec(
        _node("up", "rows"),
        _node("a", "take_int", args={"x": _out("up", "count")}, map="x"),
    )
    problem = _only(validate_spec(spec))
    assert "map needs a list" in problem.message
    assert "integer" in problem.message


def test_map_over_a_list_output_binds_each_element() -> None:
    spec = _spec(
        _node("up", "rows"), _node("a", "take_int", args={"x": _out("up", "rows")}, map="x")
    )
    assert validate_spec(spec) == []


def test_mapped_node_output_is_a_list_downstream() -> None:
    double = _task("double", {"x": {"type": "integer"}}, ("x",), output={"type": "integer"})
    spec = _spec(
        _node("up", "rows"),
        _node("each", "double", args={"x": _out("up", "rows")}, map="x"),
        _node("all", "take_list", args={"items": _out("each")}),
        _node("one", "take_int", args={"x": _out("each")}),
    )
    spec = spec.replace(tasks={**TASKS, "double": double})
    problem = _only(validate_spec(spec))
    assert problem.path == "nodes.one.args.x"
    assert "it is array" in problem.message


def test_duplicate_node_ids() -> None:
    spec = _spec(
        _node("a", "take_int", line=10, args={"x": 1}),
        _node("a", "take_int", line=11, args={"x": 2}),
    )
    problem = _only(validate_spec(spec))
    assert problem.message == "duplicate node id 'a'"
    assert problem.location == f"{FILE}:11"


def test_after_unknown_node() -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_any", after=("ghost",)))))
    assert problem.path == "nodes.a.after"
    assert problem.message == "unknown node 'ghost'"


def test_pipeline_output_binding_of_unknown_node() -> None:
    problem = _only(validate_spec(_spec(_node("a", "take_any"), output={"r": _out("b")})))
    assert problem.location == f"{FILE}:5"
    assert problem.path == "$.output.r"


# --- all at once -----------------------------------------------------------------------


def test_all_problems_are_reported_at_once_each_with_location_and_path() -> None:
    spec = _spec(
        _node("c1", "take_any", line=20, args={"inputs": _out("c2")}),
        _node("c2", "take_any", line=21, args={"inputs": _out("c1")}),
        _node("unknown", "no.such.task", line=22),
        _node("extra", "take_int", line=23, args={"x": 1, "zz": 2}),
        _node("missing", "take_int", line=24),
        _node("typed", "take_int", line=25, args={"x": "seven"}),
        _node("param", "take_int", line=26, args={"x": {"$param": "nope"}}),
        _node("ghost", "take_int", line=27, args={"x": _out("nowhere")}),
        _node("up", "rows", line=28),
        _node("field", "take_int", line=29, args={"x": _out("up", "nope")}),
        _node("none", "nothing", line=30),
        _node("void", "take_int", line=31, args={"x": _out("none")}),
        _node("int", "an_int", line=32),
        _node("str", "take_int", line=33, args={"x": 1, "s": _out("int")}),
        _node("mapped", "take_int", line=34, args={"x": _out("up", "count")}, map="x"),
        _node("extra", "take_any", line=35),
        _node("late", "take_any", line=36, after=("never",)),
    )
    problems = validate_spec(spec)
    found = {(p.location, p.path): p.message for p in problems}
    expected = {
        (f"{FILE}:20", "nodes.c1"): "cycle",
        (f"{FILE}:22", "nodes.unknown.task"): "unknown task",
        (f"{FILE}:23", "nodes.extra.args.zz"): "unknown parameter 'zz'",
        (f"{FILE}:24", "nodes.missing.args"): "missing parameter 'x'",
        (f"{FILE}:25", "nodes.typed.args.x"): "not of type 'integer'",
        (f"{FILE}:26", "nodes.param.args.x"): "unknown pipeline parameter 'nope'",
        (f"{FILE}:27", "nodes.ghost.args.x"): "unknown node 'nowhere'",
        (f"{FILE}:29", "nodes.field.args.x"): "no field 'nope'",
        (f"{FILE}:31", "nodes.void.args.x"): "returns nothing",
        (f"{FILE}:33", "nodes.str.args.s"): "wants string",
        (f"{FILE}:34", "nodes.mapped.args.x"): "map needs a list",
        (f"{FILE}:35", "nodes.extra.id"): "duplicate node id 'extra'",
        (f"{FILE}:36", "nodes.late.after"): "unknown node 'never'",
    }
    for where, fragment in expected.items():
        assert where in found, f"missing problem at {where}; got {problems}"
        assert fragment in found[where]
    assert len(problems) == len(expected), problems
    for problem in problems:
        assert problem.location
        assert problem.path
        assert str(problem).startswith(f"{problem.location}: {problem.path}: ")


def test_problems_of_a_recipe_node_point_at_its_json_path() -> None:
    node = NodeSpec(
        id="a",
        task="take_int",
        args={"x": "seven"},
        source=Source(file="pipelines/r.yaml", path="$.tasks[3]"),
    )
    problem = _only(validate_spec(_spec(node)))
    assert problem.location == "pipelines/r.yaml"
    assert problem.path == "$.tasks[3].args.x"


# --- random DAGs -----------------------------------------------------------------------


@st.composite
def dags(draw: st.DrawFn) -> tuple[list[NodeSpec], set[tuple[str, str]]]:
    """Nodes n0..n{k-1}, edges only from a lower to a higher index (so acyclic), listed
    in a random order; each edge is a data binding or an `after`."""
    count = draw(st.integers(1, 9))
    names = [f"n{i}" for i in range(count)]
    edges: set[tuple[str, str]] = set()
    nodes = []
    for j in range(count):
        ups = draw(st.sets(st.integers(0, j - 1), max_size=3)) if j else set()
        data = draw(st.sets(st.sampled_from(sorted(ups)))) if ups else set()
        edges |= {(names[i], names[j]) for i in ups}
        args = {"inputs": [_out(names[i]) for i in sorted(data)]} if data else {}
        after = tuple(names[i] for i in sorted(ups - data))
        nodes.append(NodeSpec(id=names[j], task="take_any", args=args, after=after))
    order = draw(st.permutations(nodes))
    return list(order), edges


def _reaches(edges: set[tuple[str, str]], start: str) -> set[str]:
    seen, stack = {start}, [start]
    while stack:
        here = stack.pop()
        for up, down in edges:
            if up == here and down not in seen:
                seen.add(down)
                stack.append(down)
    return seen


@settings(max_examples=150, deadline=None)
@given(dag=dags())
def test_random_acyclic_dags_validate_clean_and_order_topologically(
    dag: tuple[list[NodeSpec], set[tuple[str, str]]],
) -> None:
    nodes, edges = dag
    assert validate_spec(_spec(*nodes)) == []
    graph = build_graph(nodes)
    assert sorted(graph.order) == sorted(n.id for n in nodes)
    position = {node: i for i, node in enumerate(graph.order)}
    for up, down in edges:
        assert position[up] < position[down], f"{up} -> {down} out of order in {graph.order}"
    assert {n: set(u) for n, u in graph.upstream.items()} == {
        n.id: {u for u, d in edges if d == n.id} for n in nodes
    }
    assert graph.roots() == [n for n in graph.order if not graph.upstream[n]]
    # Same nodes, same order: runs are planned identically every time.
    assert build_graph(nodes).order == graph.order


@settings(max_examples=150, deadline=None)
@given(dag=dags(), data=st.data(), as_after=st.booleans())
def test_adding_one_back_edge_yields_exactly_a_cycle_problem_on_the_cycle(
    dag: tuple[list[NodeSpec], set[tuple[str, str]]], data: st.DataObject, as_after: bool
) -> None:
    nodes, edges = dag
    by_id = {n.id: n for n in nodes}
    # low -> ... -> high exists (or low == high); the new edge high -> low closes it.
    high = data.draw(st.sampled_from(sorted(by_id)))
    low = data.draw(st.sampled_from(sorted(n for n in by_id if high in _reaches(edges, n))))
    target = by_id[low]
    if as_after:
        changed = target.replace(after=(*target.after, high))
    else:
        inputs = [*target.args.get("inputs", []), _out(high)]
        changed = target.replace(args={"inputs": inputs})
    nodes = [changed if n.id == low else n for n in nodes]
    edges = edges | {(high, low)}

    problem = _only(validate_spec(_spec(*nodes)))
    assert problem.message.startswith("cycle: ")
    cycle = problem.message.removeprefix("cycle: ").split(" -> ")
    assert cycle[0] == cycle[-1]
    assert low in cycle
    assert high in cycle
    steps = list(itertools.pairwise(cycle))
    assert all(step in edges for step in steps) or all((b, a) in edges for a, b in steps), (
        f"{cycle} does not follow the edges {sorted(edges)}"
    )
    with pytest.raises(CycleFound) as info:
        build_graph(nodes)
    assert info.value.cycle == cycle


# --- content hash ----------------------------------------------------------------------


def _hash_spec(
    args: dict[str, Any], source_line: int = 1, params: dict[str, Any] | None = None
) -> PipelineSpec:
    return PipelineSpec(
        name="p",
        params=params or {"type": "object", "properties": {"day": {"type": "string"}}},
        tasks={"take_int": TAKE_INT.replace(source=Source(file="a.py", line=source_line))},
        nodes=(
            NodeSpec(
                id="a", task="take_int", args=args, source=Source(file="a.py", line=source_line)
            ),
        ),
        source=Source(file="a.py", line=source_line),
    )


def test_content_hash_is_stable_under_dict_key_order() -> None:
    one = _hash_spec(
        {"x": 1, "s": {"k": 1, "j": [1, {"b": 2, "a": 1}]}},
        params={"type": "object", "properties": {"day": {"type": "string", "title": "Day"}}},
    )
    two = _hash_spec(
        {"s": {"j": [1, {"a": 1, "b": 2}], "k": 1}, "x": 1},
        params={"properties": {"day": {"title": "Day", "type": "string"}}, "type": "object"},
    )
    assert one.content_hash == two.content_hash
    assert len(one.content_hash) == 64


def test_content_hash_changes_when_a_node_argument_changes() -> None:
    assert _hash_spec({"x": 1}).content_hash != _hash_spec({"x": 2}).content_hash
    assert _hash_spec({"x": 1}).content_hash != _hash_spec({"x": 1, "s": "a"}).content_hash


def test_content_hash_ignores_where_the_code_lives() -> None:
    assert _hash_spec({"x": 1}, source_line=1).content_hash == (
        _hash_spec({"x": 1}, source_line=99).content_hash
    )


def test_content_hash_changes_with_task_settings() -> None:
    base = _hash_spec({"x": 1})
    retried = base.replace(tasks={"take_int": TAKE_INT.replace(retries=3)})
    assert base.content_hash != retried.content_hash

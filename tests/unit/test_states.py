"""The transition table of runs, task runs and attempts (headwater.domain.states).

Every state write in the store is `UPDATE ... WHERE state IN sources_of(target)`, so
these properties of the table are what keeps a run from, say, leaving `succeeded`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headwater.domain.states import (
    ATTEMPT_INITIAL,
    ATTEMPT_TERMINAL,
    ATTEMPT_TRANSITIONS,
    RUN_INITIAL,
    RUN_TERMINAL,
    RUN_TRANSITIONS,
    TASK_RUN_INITIAL,
    TASK_RUN_OK,
    TASK_RUN_TERMINAL,
    TASK_RUN_TRANSITIONS,
    AttemptState,
    IllegalTransition,
    RunState,
    TaskRunState,
    check_transition,
    sources_of,
)

Table = Mapping[Any, frozenset[Any]]
Machine = tuple[type[StrEnum], Table, frozenset[Any], frozenset[Any]]

MACHINES: list[Machine] = [
    (RunState, RUN_TRANSITIONS, RUN_INITIAL, RUN_TERMINAL),
    (TaskRunState, TASK_RUN_TRANSITIONS, TASK_RUN_INITIAL, TASK_RUN_TERMINAL),
    (AttemptState, ATTEMPT_TRANSITIONS, ATTEMPT_INITIAL, ATTEMPT_TERMINAL),
]
MACHINE_IDS = ["run", "task_run", "attempt"]

ALL_PAIRS = [(current, target) for enum, _, _, _ in MACHINES for current in enum for target in enum]


def _reachable(table: Table, start: frozenset[Any]) -> set[Any]:
    seen = set(start)
    queue = deque(start)
    while queue:
        for nxt in table[queue.popleft()]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return seen


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_table_covers_every_state_and_only_its_own_states(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    assert set(table) == set(enum)
    for current, targets in table.items():
        assert all(type(t) is enum for t in targets), current
        assert current not in targets, f"{current} -> {current} is a self-transition"
    assert initial <= set(enum)
    assert terminal <= set(enum)


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_terminal_states_have_no_exits(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    for state in terminal:
        assert table[state] == frozenset()
        for target in enum:
            with pytest.raises(IllegalTransition):
                check_transition(state, target)


def test_terminal_sets_are_the_finished_states() -> None:
    assert RunState.RUNNING not in RUN_TERMINAL
    assert set(RUN_TERMINAL) == {
        RunState.SUCCEEDED,
        RunState.FAILED,
        RunState.CANCELLED,
        RunState.EXPIRED,
    }
    assert set(TASK_RUN_TERMINAL) == {
        TaskRunState.SUCCEEDED,
        TaskRunState.CACHED,
        TaskRunState.FAILED,
        TaskRunState.UPSTREAM_FAILED,
        TaskRunState.CANCELLED,
    }
    assert set(AttemptState) - ATTEMPT_TERMINAL == {AttemptState.RUNNING}
    # The "ok" states that let downstream task runs go are terminal successes.
    assert set(TASK_RUN_OK) == {TaskRunState.SUCCEEDED, TaskRunState.CACHED}
    assert TASK_RUN_OK <= TASK_RUN_TERMINAL


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_every_state_is_reachable_from_an_initial_state(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    assert _reachable(table, initial) == set(enum)


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_every_state_can_still_finish(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    """No trap: from any state some path of allowed moves ends in a terminal state."""
    for state in enum:
        assert _reachable(table, frozenset({state})) & terminal, state


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_every_non_terminal_state_can_be_cancelled(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    cancelled = enum("cancelled")
    for state in set(enum) - terminal:
        assert cancelled in table[state], state


@pytest.mark.parametrize(("enum", "table", "initial", "terminal"), MACHINES, ids=MACHINE_IDS)
def test_sources_of_matches_the_table(
    enum: type[StrEnum], table: Table, initial: frozenset[Any], terminal: frozenset[Any]
) -> None:
    for target in enum:
        sources = sources_of(target)
        assert set(sources) == {s for s, nxt in table.items() if target in nxt}
        assert all(type(s) is enum for s in sources)
        assert list(sources) == sorted(sources), "stable order keeps SQL statements cacheable"
        assert len(set(sources)) == len(sources)


def test_sources_of_known_examples() -> None:
    assert sources_of(RunState.SUCCEEDED) == (RunState.RUNNING,)
    # A queued run (a backfill's, waiting for its turn) is the only way into running.
    assert sources_of(RunState.RUNNING) == (RunState.QUEUED,)
    # Only a run that has not finished can expire; whether it started is checked apart.
    assert set(sources_of(RunState.EXPIRED)) == {RunState.QUEUED, RunState.RUNNING}
    # A retry puts a running task run back to ready; pending becomes ready when its
    # upstream task runs are done.
    assert sources_of(TaskRunState.READY) == (TaskRunState.PENDING, TaskRunState.RUNNING)
    assert sources_of(TaskRunState.CACHED) == (TaskRunState.RUNNING,)
    assert sources_of(AttemptState.LOST) == (AttemptState.RUNNING,)
    assert sources_of(AttemptState.RUNNING) == ()


@pytest.mark.parametrize(("current", "target"), ALL_PAIRS, ids=lambda s: f"{type(s).__name__}.{s}")
def test_check_transition_allows_exactly_the_table(current: StrEnum, target: StrEnum) -> None:
    table: Table = {
        RunState: RUN_TRANSITIONS,
        TaskRunState: TASK_RUN_TRANSITIONS,
        AttemptState: ATTEMPT_TRANSITIONS,
    }[type(current)]
    if target in table[current]:
        check_transition(current, target)
    else:
        with pytest.raises(IllegalTransition) as info:
            check_transition(current, target)
        message = str(info.value)
        assert f"{current} -> {target}" in message
        assert type(current).__name__ in message


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RunState.SUCCEEDED, RunState.RUNNING),
        (RunState.CANCELLED, RunState.FAILED),
        (TaskRunState.READY, TaskRunState.SUCCEEDED),  # never without running
        (TaskRunState.READY, TaskRunState.READY),
        (TaskRunState.SUCCEEDED, TaskRunState.READY),
        (TaskRunState.FAILED, TaskRunState.RUNNING),
        (TaskRunState.PENDING, TaskRunState.CACHED),
        (AttemptState.SUCCEEDED, AttemptState.FAILED),
        (AttemptState.LOST, AttemptState.SUCCEEDED),  # a late result of a lost attempt
    ],
)
def test_forbidden_moves_raise(current: StrEnum, target: StrEnum) -> None:
    with pytest.raises(IllegalTransition):
        check_transition(current, target)


def test_illegal_transition_is_a_value_error() -> None:
    assert issubclass(IllegalTransition, ValueError)


@settings(max_examples=200, deadline=None)
@given(data=st.data(), machine=st.sampled_from(MACHINES))
def test_random_walks_follow_the_table_and_stop_at_terminal_states(
    data: st.DataObject,
    machine: Machine,
) -> None:
    """A writer trying random targets: check_transition and sources_of agree on each step,
    and once a terminal state is reached nothing moves it again."""
    enum, table, initial, terminal = machine
    state = data.draw(st.sampled_from(sorted(initial)))
    for _ in range(12):
        target = data.draw(st.sampled_from(list(enum)))
        allowed = state in sources_of(target)
        try:
            check_transition(state, target)
        except IllegalTransition:
            assert not allowed
            assert target not in table[state]
        else:
            assert allowed
            assert state not in terminal
            state = target

"""Run, task-run and attempt states, and the only table of allowed transitions.

Every state write in the store goes through `sources_of`/`check_transition`: an UPDATE
moves a row to state S only `WHERE state IN sources_of(S)`, so a concurrent writer that
got there first wins and the loser's update matches no row.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TypeVar

S = TypeVar("S", bound=StrEnum)


class RunState(StrEnum):
    QUEUED = "queued"  # waiting for its turn (a backfill's concurrency); no task is ready
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"  # could not start before its expires_at


class TaskRunState(StrEnum):
    PENDING = "pending"  # waiting for upstream task runs
    READY = "ready"  # claimable (once available_at has passed)
    RUNNING = "running"  # an attempt holds it, or (map parent) its children run
    SUCCEEDED = "succeeded"
    CACHED = "cached"  # skipped: a complete artifact with its cache key existed
    FAILED = "failed"
    UPSTREAM_FAILED = "upstream_failed"  # never ran because an upstream failed
    CANCELLED = "cancelled"


class AttemptState(StrEnum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    CACHED = "cached"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    LOST = "lost"  # its lease expired before it reported
    CANCELLED = "cancelled"


_R, _T, _A = RunState, TaskRunState, AttemptState

RUN_TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    _R.QUEUED: frozenset({_R.RUNNING, _R.CANCELLED, _R.EXPIRED}),
    # running -> expired: only while none of its task runs has started (start_at/expiry).
    _R.RUNNING: frozenset({_R.SUCCEEDED, _R.FAILED, _R.CANCELLED, _R.EXPIRED}),
    _R.SUCCEEDED: frozenset(),
    _R.FAILED: frozenset(),
    _R.CANCELLED: frozenset(),
    _R.EXPIRED: frozenset(),
}

TASK_RUN_TRANSITIONS: dict[TaskRunState, frozenset[TaskRunState]] = {
    # pending -> running/succeeded/failed: a map parent expands (or maps over nothing,
    # or over something that is not a list) without an attempt of its own.
    _T.PENDING: frozenset(
        {_T.READY, _T.RUNNING, _T.SUCCEEDED, _T.FAILED, _T.UPSTREAM_FAILED, _T.CANCELLED}
    ),
    # ready -> ready is not a transition; a retry goes running -> ready.
    _T.READY: frozenset({_T.RUNNING, _T.CANCELLED}),
    _T.RUNNING: frozenset(
        {_T.READY, _T.SUCCEEDED, _T.CACHED, _T.FAILED, _T.UPSTREAM_FAILED, _T.CANCELLED}
    ),
    _T.SUCCEEDED: frozenset(),
    _T.CACHED: frozenset(),
    _T.FAILED: frozenset(),
    _T.UPSTREAM_FAILED: frozenset(),
    _T.CANCELLED: frozenset(),
}

ATTEMPT_TRANSITIONS: dict[AttemptState, frozenset[AttemptState]] = {
    _A.RUNNING: frozenset(
        {_A.SUCCEEDED, _A.CACHED, _A.FAILED, _A.TIMED_OUT, _A.LOST, _A.CANCELLED}
    ),
    **{state: frozenset() for state in AttemptState if state is not _A.RUNNING},
}

# States a row may be created in.
RUN_INITIAL = frozenset({_R.QUEUED, _R.RUNNING})
TASK_RUN_INITIAL = frozenset({_T.PENDING, _T.READY, _T.CACHED})
ATTEMPT_INITIAL = frozenset({_A.RUNNING})

RUN_TERMINAL = frozenset(s for s, nxt in RUN_TRANSITIONS.items() if not nxt)
TASK_RUN_TERMINAL = frozenset(s for s, nxt in TASK_RUN_TRANSITIONS.items() if not nxt)
ATTEMPT_TERMINAL = frozenset(s for s, nxt in ATTEMPT_TRANSITIONS.items() if not nxt)
TASK_RUN_OK = frozenset({_T.SUCCEEDED, _T.CACHED})

_TABLES: dict[type, dict[str, frozenset[str]]] = {
    RunState: RUN_TRANSITIONS,  # type: ignore[dict-item]
    TaskRunState: TASK_RUN_TRANSITIONS,  # type: ignore[dict-item]
    AttemptState: ATTEMPT_TRANSITIONS,  # type: ignore[dict-item]
}


class IllegalTransition(ValueError):
    """A state change the transition table does not allow."""


def check_transition(current: StrEnum, target: StrEnum) -> None:
    """Raise IllegalTransition unless `current -> target` is in the table."""
    if type(current) is not type(target):
        raise IllegalTransition(f"{current!r} and {target!r} belong to different machines")
    table = _TABLES[type(target)]
    if target not in table[current]:
        raise IllegalTransition(f"{type(target).__name__}: {current} -> {target} is not allowed")


def sources_of(target: S) -> tuple[S, ...]:
    """The states from which `target` may be entered, for `WHERE state IN (...)`."""
    table = _TABLES[type(target)]
    return tuple(sorted((type(target)(s) for s, nxt in table.items() if target in nxt)))

"""The executor interface: launch an attempt, wait for its outcome, terminate it."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, ClassVar, Literal

from headwater.domain.records import NamedTuple
from headwater.domain.spec import TaskDef
from headwater.executors.capture import AttemptLog

OutcomeState = Literal["succeeded", "failed", "timed_out", "cancelled"]


class CancelSignal:
    """A flag that also calls back when set: a task running in its supervisor's own
    thread (inline) cannot watch the flag, so whoever sets it stops the task. Not a
    `threading.Event`: no one waits on it, and every attempt makes one (an Event's
    Condition costs several times a flag and a lock)."""

    __slots__ = ("_callbacks", "_lock", "_set")

    def __init__(self) -> None:
        self._set = False
        self._callbacks: list[Callable[[], object]] = []
        self._lock = threading.Lock()

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        with self._lock:
            self._set = True
            callbacks = list(self._callbacks)
        for callback in callbacks:
            callback()

    def on_set(self, callback: Callable[[], object]) -> Callable[[], None]:
        """Call `callback` when set (at once if already set); returns the undo."""
        with self._lock:
            if not self._set:
                self._callbacks.append(callback)
                return lambda: self._forget(callback)
        callback()
        return lambda: None

    def _forget(self, callback: Callable[[], object]) -> None:
        with self._lock:
            if callback in self._callbacks:
                self._callbacks.remove(callback)


class AttemptContext:
    """Everything an executor gets: one argument, so executors stay small."""

    __slots__ = (
        "arguments",
        "artifact_root",
        "attempt",
        "cancelled",
        "load_callable",
        "log_dir",
        "map_index",
        "node_id",
        "on_first_log",
        "output_dir",
        "pipeline",
        "run_id",
        "task",
    )
    run_id: str
    pipeline: str
    node_id: str
    map_index: int
    attempt: int
    task: TaskDef
    arguments: dict[str, Any]
    log_dir: str  # a local folder, made by the first write
    output_dir: str  # a local folder, not made yet
    artifact_root: str
    # Resolves a python task's callable; executors that run elsewhere only need names.
    load_callable: Callable[[TaskDef], Callable[[dict[str, Any]], Any]]
    cancelled: CancelSignal
    # Called before the attempt's first log write (never if it writes none).
    on_first_log: Callable[[], object] | None

    def __init__(
        self,
        run_id: str,
        pipeline: str,
        node_id: str,
        map_index: int,
        attempt: int,
        task: TaskDef,
        arguments: dict[str, Any],
        log_dir: str,
        output_dir: str,
        artifact_root: str,
        load_callable: Callable[[TaskDef], Callable[[dict[str, Any]], Any]],
        cancelled: CancelSignal | None = None,
        on_first_log: Callable[[], object] | None = None,
    ) -> None:
        self.run_id, self.pipeline, self.node_id = run_id, pipeline, node_id
        self.map_index, self.attempt, self.task = map_index, attempt, task
        self.arguments, self.log_dir, self.output_dir = arguments, log_dir, output_dir
        self.artifact_root, self.load_callable = artifact_root, load_callable
        self.cancelled = CancelSignal() if cancelled is None else cancelled
        self.on_first_log = on_first_log

    def open_log(self) -> AttemptLog:
        return AttemptLog(self.log_dir, self.on_first_log)


class Outcome(NamedTuple):
    """How an attempt ended in its executor: a state, and an output or an error."""

    state: OutcomeState
    output: Any = None
    error_type: str = ""
    message: str = ""
    traceback: str = ""

    @classmethod
    def from_exception(cls, exc: BaseException, state: OutcomeState = "failed") -> Outcome:
        import traceback  # loaded when a task fails, not on every run's path

        return cls(
            state,
            error_type=f"{type(exc).__module__}.{type(exc).__qualname__}".removeprefix("builtins."),
            message=str(exc),
            traceback="".join(traceback.format_exception(exc)),
        )


class Execution(ABC):
    """One launched attempt. One that `runs_in_caller` does its work inside the first
    `wait` call (which then returns its outcome) and is stopped by `terminate` from
    another thread; the others run elsewhere and `wait` polls them."""

    runs_in_caller: ClassVar[bool] = False

    @abstractmethod
    def wait(self, timeout: float | None) -> Outcome | None:
        """The outcome, or None if it is still running after `timeout` seconds."""

    @abstractmethod
    def terminate(self) -> None:
        """Stop the attempt (best effort unless the executor `supports_hard_kill`)."""


class Executor(ABC):
    name: ClassVar[str]
    supports_hard_kill: ClassVar[bool] = False  # terminate() surely stops the work
    supports_python: ClassVar[bool] = True
    supports_command: ClassVar[bool] = False

    @abstractmethod
    def launch(self, ctx: AttemptContext) -> Execution: ...

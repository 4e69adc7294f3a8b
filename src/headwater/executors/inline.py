"""The inline executor: the task runs in the worker's thread that supervises it. Fastest
(no thread or process to start per attempt); a timeout or cancel interrupts Python code
between bytecodes (not inside a blocking C call), so tasks that must be killable choose
the process executor.

The attempt runs when its supervisor calls `wait`, so timeouts and cancels come from
other threads (a timer, the heartbeat): `terminate` raises `AttemptInterrupted` inside
the running task with `PyThreadState_SetAsyncExc`. The one delicate point is the end:
an interrupt requested just as the task returns must not escape into the worker's own
code, so the flag that allows interrupts is cleared, and any pending one withdrawn,
under the same lock that `terminate` takes.
"""

from __future__ import annotations

import threading
from typing import Any

from headwater.context import TaskContext, reset_context, set_context
from headwater.executors import capture
from headwater.executors.base import AttemptContext, Execution, Executor, Outcome


class AttemptInterrupted(BaseException):
    """Raised inside a task's thread to stop it (timeout, cancel, lost lease)."""


def _raise_in(thread_id: int, exc: type[BaseException] | None) -> None:
    import ctypes  # only to stop a task: not on every run's import path

    ctypes.pythonapi.PyThreadState_SetAsyncExc(
        ctypes.c_ulong(thread_id), ctypes.py_object(exc) if exc is not None else None
    )


class _HereExecution(Execution):
    runs_in_caller = True

    def __init__(self, ctx: AttemptContext) -> None:
        self._ctx = ctx
        self._lock = threading.Lock()
        self._running_in: int | None = None  # the thread that may be interrupted
        self._stopped = False
        self._outcome: Outcome | None = None

    def wait(self, timeout: float | None) -> Outcome | None:
        if self._outcome is None:
            self._outcome = self._run()
        return self._outcome

    def _run(self) -> Outcome:
        ctx = self._ctx
        capture.route_logging()
        log = ctx.open_log()
        log_token = capture.current_log.set(log)
        context_token = set_context(
            TaskContext(
                ctx.run_id,
                ctx.pipeline,
                ctx.node_id,
                ctx.map_index,
                ctx.attempt,
                ctx.output_dir,
                ctx.artifact_root,
            )
        )
        try:
            try:
                with self._lock:
                    if self._stopped:
                        raise AttemptInterrupted
                    self._running_in = threading.get_ident()
                outcome = self._call(log)
            finally:
                with self._lock:
                    self._running_in = None
                    if self._stopped:  # withdraw an interrupt that came too late
                        _raise_in(threading.get_ident(), None)
        except AttemptInterrupted:
            outcome = _interrupted()
        finally:
            reset_context(context_token)
            capture.current_log.reset(log_token)
            log.close()
        return outcome

    def _call(self, log: capture.AttemptLog) -> Outcome:
        ctx = self._ctx
        try:
            call = ctx.load_callable(ctx.task)
            output: Any = call(ctx.arguments)
        except AttemptInterrupted:
            return _interrupted()
        except BaseException as exc:  # noqa: BLE001 - any task failure is an outcome
            failed = Outcome.from_exception(exc)
            log.write("stderr", failed.traceback)
            return failed
        return Outcome("succeeded", output=output)

    def terminate(self) -> None:
        with self._lock:
            self._stopped = True
            if self._running_in is not None:
                _raise_in(self._running_in, AttemptInterrupted)


def _interrupted() -> Outcome:
    return Outcome("cancelled", error_type="Interrupted", message="the attempt was interrupted")


class InlineExecutor(Executor):
    name = "inline"
    supports_hard_kill = False

    def launch(self, ctx: AttemptContext) -> Execution:
        return _HereExecution(ctx)

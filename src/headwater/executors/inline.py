"""The inline executor: the task runs in a thread of the worker process. Fastest; a
timeout or cancel interrupts Python code between bytecodes (not inside a blocking C
call), so tasks that must be killable choose the process executor."""

from __future__ import annotations

import ctypes
import threading

from headwater.context import TaskContext, set_context
from headwater.executors import capture
from headwater.executors.base import AttemptContext, Execution, Executor, Outcome


class AttemptInterrupted(BaseException):
    """Raised inside a task's thread to stop it (timeout, cancel, lost lease)."""


class _ThreadExecution(Execution):
    def __init__(self, ctx: AttemptContext) -> None:
        self._ctx = ctx
        self._done = threading.Event()
        self._outcome: Outcome | None = None
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"headwater-{ctx.node_id}"
        )
        self._thread.start()

    def _run(self) -> None:
        ctx = self._ctx
        log = capture.AttemptLog(ctx.log_dir)
        capture.current_log.set(log)
        set_context(
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
            call = ctx.load_callable(ctx.task)
            self._outcome = Outcome("succeeded", output=call(ctx.arguments))
        except AttemptInterrupted:
            self._outcome = Outcome(
                "cancelled", error_type="Interrupted", message="the attempt was interrupted"
            )
        except BaseException as exc:  # noqa: BLE001 - any task failure is an outcome
            self._outcome = Outcome.from_exception(exc)
            log.write("stderr", self._outcome.traceback)
        finally:
            log.close()
            self._done.set()

    def wait(self, timeout: float | None) -> Outcome | None:
        self._done.wait(timeout)
        return self._outcome if self._done.is_set() else None

    def terminate(self) -> None:
        ident = self._thread.ident
        if ident is not None and not self._done.is_set():
            ctypes.pythonapi.PyThreadState_SetAsyncExc(
                ctypes.c_ulong(ident), ctypes.py_object(AttemptInterrupted)
            )


class InlineExecutor(Executor):
    name = "inline"
    supports_hard_kill = False

    def launch(self, ctx: AttemptContext) -> Execution:
        return _ThreadExecution(ctx)

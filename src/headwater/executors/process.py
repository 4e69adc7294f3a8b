"""The process executor: each attempt of a Python task in a fresh child interpreter,
killed (with everything it started) on timeout, cancel or a lost lease; its stdout and
stderr stream to the attempt log while it runs. Slower to start than `inline`; for
tasks that must be stoppable, or that must not share the worker's memory.

The child imports the task by its ``module:qualname``, so the task must be defined at
module level in an importable module.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from headwater.executors.base import AttemptContext, Execution, Executor, Outcome


class _ChildExecution(Execution):
    def __init__(self, ctx: AttemptContext) -> None:
        if not ctx.task.callable:
            raise ValueError(f"task {ctx.task.name} has no importable callable")
        import tempfile  # with shutil and random: only runs of process tasks load them

        handle, result = tempfile.mkstemp(prefix="headwater-result-", suffix=".json")
        os.close(handle)
        self._result = Path(result)
        env = dict(os.environ)
        # The child must import what this process can: the same search path.
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        env.update(
            {
                "HW_RESULT_FILE": result,
                # Line by line into the attempt log, so it can be followed while it runs
                # (a pipe would otherwise make the child buffer its output to the end).
                "PYTHONUNBUFFERED": "1",
                "HW_RUN_ID": ctx.run_id,
                "HW_PIPELINE": ctx.pipeline,
                "HW_NODE_ID": ctx.node_id,
                "HW_MAP_INDEX": str(ctx.map_index),
                "HW_ATTEMPT": str(ctx.attempt),
                "HW_OUTPUT_DIR": str(ctx.output_dir),
                "HW_ARTIFACT_ROOT": ctx.artifact_root,
            }
        )
        # Imported here, as in executors.command: a run of inline tasks never starts a child.
        from headwater.executors.subprocesses import ChildProcess

        self._child = ChildProcess(
            [sys.executable, "-m", "headwater.executors.child", ctx.task.callable],
            env=env,
            stdin_data=json.dumps(ctx.arguments).encode(),
            log=ctx.open_log(),
        )

    def wait(self, timeout: float | None) -> Outcome | None:
        code = self._child.wait(timeout)
        if code is None:
            return None
        try:
            if self._child.killed.is_set():
                return Outcome(
                    "cancelled", error_type="Terminated", message="the process was stopped"
                )
            return self._read_result(code)
        finally:
            self._result.unlink(missing_ok=True)

    def _read_result(self, code: int) -> Outcome:
        try:
            result = json.loads(self._result.read_text() or "null")
        except (OSError, json.JSONDecodeError):
            result = None
        if not isinstance(result, dict):
            return Outcome(
                "failed",
                error_type="ProcessDied",
                message=f"the task's process exited with code {code} without a result",
            )
        if result.get("ok"):
            return Outcome("succeeded", output=result.get("output"))
        return Outcome(
            "failed",
            error_type=str(result.get("error_type", "")),
            message=str(result.get("message", "")),
            traceback=str(result.get("traceback", "")),
        )

    def terminate(self) -> None:
        self._child.terminate()


class ProcessExecutor(Executor):
    name = "process"
    supports_hard_kill = True

    def launch(self, ctx: AttemptContext) -> Execution:
        return _ChildExecution(ctx)

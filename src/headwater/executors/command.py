"""The command executor: a shell command (see `headwater.authoring.commands`).

Arguments arrive as ``HW_ARG_<NAME>`` environment variables and as JSON on stdin;
``HW_OUTPUT_DIR`` names the folder whose files are kept with the output. A stdout line
``::output:: <json>`` sets the output (the last one wins).
"""

from __future__ import annotations

import json
from typing import Any

from headwater.context import make_staging_dir
from headwater.executors.base import AttemptContext, Execution, Executor, Outcome


class _CommandExecution(Execution):
    def __init__(self, ctx: AttemptContext) -> None:
        assert ctx.task.command is not None
        self._output: list[Any] = []
        self._bad_output: list[str] = []
        make_staging_dir(ctx.output_dir)  # a shell script expects it
        # Imported here, as in executors.process: a run of inline tasks never starts a child
        # (and a project without command tasks never loads authoring.commands).
        from headwater.authoring.commands import OUTPUT_MARKER, command_env
        from headwater.executors.subprocesses import ChildProcess

        self._marker = OUTPUT_MARKER
        self._child = ChildProcess(
            ["/bin/sh", "-c", ctx.task.command],
            env=command_env(ctx.task, ctx.arguments, ctx.output_dir),
            stdin_data=json.dumps(ctx.arguments).encode(),
            log=ctx.open_log(),
            on_stdout_line=self._parse,
        )

    def _parse(self, line: bytes) -> None:
        if line.startswith(self._marker.encode()):
            text = line[len(self._marker) :].decode("utf-8", "replace").strip()
            try:
                self._output.append(json.loads(text))
            except json.JSONDecodeError as exc:
                self._bad_output.append(f"{text[:200]!r}: {exc}")

    def wait(self, timeout: float | None) -> Outcome | None:
        code = self._child.wait(timeout)
        if code is None:
            return None
        if self._child.killed.is_set():
            return Outcome("cancelled", error_type="Terminated", message="the command was stopped")
        if code != 0:
            return Outcome(
                "failed", error_type="CommandFailed", message=f"command exited with code {code}"
            )
        if self._bad_output:
            return Outcome(
                "failed",
                error_type="InvalidOutput",
                message=f"{self._marker} line is not JSON: {self._bad_output[-1]}",
            )
        return Outcome("succeeded", output=self._output[-1] if self._output else None)

    def terminate(self) -> None:
        self._child.terminate()


class CommandExecutor(Executor):
    name = "command"
    supports_hard_kill = True
    supports_python = False
    supports_command = True

    def launch(self, ctx: AttemptContext) -> Execution:
        return _CommandExecution(ctx)

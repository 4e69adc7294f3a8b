"""The command executor: a shell command in its own process group, so terminate()
stops the command and everything it started.

Arguments arrive as ``HW_ARG_<NAME>`` environment variables and as JSON on stdin;
``HW_OUTPUT_DIR`` names the folder whose files are kept with the output. A stdout line
``::output:: <json>`` sets the output (the last one wins).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from typing import IO, Any

from headwater.authoring.commands import OUTPUT_MARKER, command_env
from headwater.executors.base import AttemptContext, Execution, Executor, Outcome
from headwater.executors.capture import AttemptLog

KILL_GRACE_SECONDS = 2.0


class _ProcessExecution(Execution):
    def __init__(self, ctx: AttemptContext) -> None:
        assert ctx.task.command is not None
        self._log = AttemptLog(ctx.log_dir)
        self._output: list[Any] = []
        self._bad_output: list[str] = []
        self._killed = threading.Event()
        self._proc = subprocess.Popen(
            ["/bin/sh", "-c", ctx.task.command],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=command_env(ctx.task, ctx.arguments, ctx.output_dir),
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(self._proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(self._proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        threading.Thread(target=self._feed_stdin, args=(ctx.arguments,), daemon=True).start()

    def _feed_stdin(self, arguments: Mapping[str, Any]) -> None:
        stdin = self._proc.stdin
        assert stdin is not None
        try:
            stdin.write(json.dumps(dict(arguments)).encode())
            stdin.close()
        except (BrokenPipeError, OSError):
            pass  # the command does not read stdin: that is fine

    def _pump(self, stream: IO[bytes] | None, name: str) -> None:
        assert stream is not None
        for line in iter(stream.readline, b""):
            self._log.write(name, line)
            if name == "stdout" and line.startswith(OUTPUT_MARKER.encode()):
                text = line[len(OUTPUT_MARKER) :].decode("utf-8", "replace").strip()
                try:
                    self._output.append(json.loads(text))
                except json.JSONDecodeError as exc:
                    self._bad_output.append(f"{text[:200]!r}: {exc}")
        stream.close()

    def wait(self, timeout: float | None) -> Outcome | None:
        try:
            code = self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            reader.join()
        self._log.close()
        if self._killed.is_set():
            return Outcome("cancelled", error_type="Terminated", message="the command was stopped")
        if code != 0:
            return Outcome(
                "failed", error_type="CommandFailed", message=f"command exited with code {code}"
            )
        if self._bad_output:
            return Outcome(
                "failed",
                error_type="InvalidOutput",
                message=f"{OUTPUT_MARKER} line is not JSON: {self._bad_output[-1]}",
            )
        return Outcome("succeeded", output=self._output[-1] if self._output else None)

    def terminate(self) -> None:
        self._killed.set()
        try:
            os.killpg(self._proc.pid, signal.SIGTERM)
            self._proc.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


class CommandExecutor(Executor):
    name = "command"
    supports_hard_kill = True
    supports_python = False
    supports_command = True

    def launch(self, ctx: AttemptContext) -> Execution:
        return _ProcessExecution(ctx)

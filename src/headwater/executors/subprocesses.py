"""A child process whose stdout and stderr stream into the attempt log as it runs, in
its own process group so terminate() stops it and everything it started.

`subprocess` and `signal` are imported when needed: a run of inline tasks never needs them."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from typing import IO

from headwater.executors.capture import AttemptLog

KILL_GRACE_SECONDS = 2.0


class ChildProcess:
    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: dict[str, str],
        stdin_data: bytes,
        log: AttemptLog,
        on_stdout_line: Callable[[bytes], None] | None = None,
        cwd: str | None = None,
    ) -> None:
        import subprocess

        self.log = log
        self.killed = threading.Event()
        self._on_stdout_line = on_stdout_line
        self.proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            cwd=cwd,
            start_new_session=True,
        )
        self._readers = [
            threading.Thread(target=self._pump, args=(self.proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=self._pump, args=(self.proc.stderr, "stderr"), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        threading.Thread(target=self._feed, args=(stdin_data,), daemon=True).start()

    def _feed(self, data: bytes) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        try:
            stdin.write(data)
            stdin.close()
        except OSError:
            pass  # the child does not read stdin: that is fine

    def _pump(self, stream: IO[bytes] | None, name: str) -> None:
        assert stream is not None
        for line in iter(stream.readline, b""):
            self.log.write(name, line)
            if name == "stdout" and self._on_stdout_line is not None:
                self._on_stdout_line(line)
        stream.close()

    def wait(self, timeout: float | None) -> int | None:
        """The exit code, or None if still running after `timeout` seconds."""
        import subprocess

        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for reader in self._readers:
            # A grandchild that keeps the pipes open must not hang the worker.
            reader.join(KILL_GRACE_SECONDS)
        self.log.close()
        return code

    def terminate(self) -> None:
        """SIGTERM to the whole group, SIGKILL after a grace period."""
        import signal
        import subprocess

        self.killed.set()
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(KILL_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

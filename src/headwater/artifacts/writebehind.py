"""Committing small artifacts on a background thread, after their result is recorded.

A task run whose output is small JSON needs no file to move its run forward: the output
is in the database (`task_runs.output`), which downstream task runs read. Its
`output.json` and `params.json` are still written to the store (the cache, the API, a
person looking at the folder), but by one background thread per store, so a chain of
quick tasks does not wait on file creation (a few hundred µs per file on a virtual
disk). Writes happen in submission order; `flush()` waits for all submitted so far.

If the process dies before a write, that task run's artifact is missing: the next run
with the same cache key computes it again (a cache miss), and nothing else depends on
it. Outputs too large for the database and tasks that wrote files are committed before
their result is recorded, as before.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

log = logging.getLogger("headwater.artifacts")
MAX_PENDING = 512  # a producer faster than the disk waits here instead of growing memory
# Waking a thread is a system call, dear on a virtual machine: the idle writer looks at
# its queue every PICK_UP_SECONDS, and is woken early only by a backlog or a flush.
PICK_UP_SECONDS = 0.02
WAKE_AFTER = 64
IDLE_EXIT_SECONDS = 5.0

Commit = Callable[[str, Mapping[str, bytes]], None]


class WriteBehind:
    def __init__(self, commit: Commit, max_pending: int = MAX_PENDING) -> None:
        self._commit = commit
        self._max = max_pending
        self._queue: deque[tuple[str, Mapping[str, bytes]]] = deque()
        self._busy = 0  # submitted and not yet written (queued or being written)
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        # Who sleeps on the condition: notifying only then keeps the producer's cost
        # per artifact to a lock round-trip (waking a thread for nothing is not free).
        self._writer_idle = False
        self._waiters = 0

    def submit(self, prefix: str, files: Mapping[str, bytes]) -> None:
        with self._cond:
            while self._busy >= self._max:
                self._wait()
            self._queue.append((prefix, files))
            self._busy += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, daemon=True, name="hw-artifact-writer"
                )
                self._thread.start()
            elif self._writer_idle and len(self._queue) >= WAKE_AFTER:
                self._cond.notify_all()

    def flush(self) -> None:
        """Wait until everything submitted so far is written (or has failed, logged)."""
        with self._cond:
            if self._busy and self._writer_idle:
                self._cond.notify_all()
            while self._busy:
                self._wait()

    def _wait(self) -> None:
        self._waiters += 1
        try:
            self._cond.wait()
        finally:
            self._waiters -= 1

    def _run(self) -> None:
        while True:
            with self._cond:
                idle_since = time.monotonic()
                while not self._queue:
                    self._writer_idle = True
                    self._cond.wait(timeout=PICK_UP_SECONDS)
                    self._writer_idle = False
                    if not self._queue and time.monotonic() - idle_since > IDLE_EXIT_SECONDS:
                        self._thread = None  # idle: end; the next submit starts another
                        return
                prefix, files = self._queue.popleft()
            try:
                self._commit(prefix, files)
            except Exception:  # a lost artifact is only a later cache miss
                log.exception("could not store the artifact %s", prefix)
            finally:
                with self._cond:
                    self._busy -= 1
                    if self._waiters:
                        self._cond.notify_all()

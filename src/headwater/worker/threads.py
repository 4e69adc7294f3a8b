"""The worker's attempt threads: what it used of `concurrent.futures.ThreadPoolExecutor`
(submit work; on leaving the `with` block, wait for all of it), without importing
concurrent.futures, which loads logging (with traceback, tokenize, string, ...): ~5 ms of
every `headwater run`.

As in ThreadPoolExecutor, a thread is started for submitted work when no thread is idle,
up to `size`; each runs `initializer` first; what the work raises is not raised again
(ThreadPoolExecutor kept it in a future no one read): it is logged. An initializer that
raises is logged too, and its thread goes on to the work: ThreadPoolExecutor failed all
work then, and here the work would otherwise wait for ever.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from types import TracebackType
from typing import Any

_Work = tuple[Callable[..., object], tuple[Any, ...]]


class AttemptThreads:
    """At most `size` threads named `<name>_<n>`, running submitted work in order."""

    def __init__(self, size: int, name: str, initializer: Callable[[], object]) -> None:
        self._size, self._name, self._initializer = size, name, initializer
        self._cond = threading.Condition(threading.Lock())
        self._work: deque[_Work] = deque()
        self._idle = 0  # threads waiting for work, not yet told of any
        self._closing = False
        self._threads: list[threading.Thread] = []

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        with self._cond:
            if self._closing:
                raise RuntimeError("cannot submit work after shutdown")
            self._work.append((fn, args))
            if self._idle:
                self._idle -= 1
                self._cond.notify()
                return
            if len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}_{len(self._threads)}"
                )
                self._threads.append(thread)
                thread.start()

    def shutdown(self) -> None:
        """Wait for every submitted work to be done, then for the threads to end."""
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join()

    def __enter__(self) -> AttemptThreads:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.shutdown()

    def _run(self) -> None:
        try:
            self._initializer()
        except Exception:  # the work still runs (ThreadPoolExecutor failed it instead)
            import logging  # only to report a failure: not on every run's import path

            logging.getLogger("headwater.worker").exception("attempt thread initializer failed")
        while True:
            with self._cond:
                while not self._work:
                    if self._closing:
                        return
                    self._idle += 1
                    self._cond.wait()
                fn, args = self._work.popleft()
            try:
                fn(*args)
            except BaseException:
                import logging

                logging.getLogger("headwater.worker").exception("attempt thread work failed")

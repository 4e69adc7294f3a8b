"""The worker's attempt threads do what it asked of ThreadPoolExecutor (issue 7)."""

from __future__ import annotations

import logging
import threading

import pytest

from headwater.worker.threads import AttemptThreads


def test_work_runs_on_at_most_size_threads_each_initialized_and_all_done_at_exit() -> None:
    initialized: list[str] = []
    ran: list[tuple[int, str]] = []
    gate = threading.Event()
    lock = threading.Lock()

    def work(i: int) -> None:
        gate.wait(5)
        with lock:
            ran.append((i, threading.current_thread().name))

    def initialize() -> None:
        with lock:
            initialized.append(threading.current_thread().name)

    threads_before = threading.active_count()
    with AttemptThreads(3, "hw-test", initialize) as pool:
        for i in range(10):
            pool.submit(work, i)
        gate.set()
    assert sorted(i for i, _ in ran) == list(range(10))  # all done before the block ended
    names = {name for _, name in ran}
    assert len(names) <= 3
    assert names <= {"hw-test_0", "hw-test_1", "hw-test_2"}
    # Each thread started ran the initializer first (one may find no work left).
    assert names <= set(initialized) <= {"hw-test_0", "hw-test_1", "hw-test_2"}
    assert len(initialized) == len(set(initialized))
    assert threading.active_count() <= threads_before


def test_an_idle_thread_takes_new_work_instead_of_a_new_thread() -> None:
    names: list[str] = []
    done = threading.Event()
    with AttemptThreads(4, "hw-idle", lambda: None) as pool:
        pool.submit(lambda: (names.append(threading.current_thread().name), done.set()))
        assert done.wait(5)
        for _ in range(500):  # until the thread waits for work again
            if pool._idle:
                break
            threading.Event().wait(0.01)
        assert pool._idle == 1
        done.clear()
        pool.submit(lambda: (names.append(threading.current_thread().name), done.set()))
        assert done.wait(5)
    assert names == ["hw-idle_0", "hw-idle_0"]


def test_work_that_raises_does_not_stop_its_thread() -> None:
    ran: list[int] = []

    def fail() -> None:
        raise RuntimeError("a bug")

    with AttemptThreads(1, "hw-fail", lambda: None) as pool:
        pool.submit(fail)
        pool.submit(ran.append, 1)
    assert ran == [1]


def test_work_still_runs_when_the_initializer_raises(caplog: pytest.LogCaptureFixture) -> None:
    """A thread whose set-up failed (say, no database connection to pin) still takes the
    work: nothing waits for ever, and the failure is logged."""
    ran: list[int] = []

    def initialize() -> None:
        raise RuntimeError("no connection")

    with (
        caplog.at_level(logging.ERROR, logger="headwater.worker"),
        AttemptThreads(2, "hw-test", initialize) as pool,
    ):
        for i in range(5):
            pool.submit(ran.append, i)
    assert sorted(ran) == list(range(5))
    assert "attempt thread initializer failed" in caplog.text

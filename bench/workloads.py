"""The benchmark workloads, as a headwater project module (copied into a fresh folder)."""

from __future__ import annotations

import time

from headwater import pipeline, task


@task
def inc(x: int) -> int:
    return x + 1


@task
def one() -> int:
    return 1


@task
def items(n: int) -> list[int]:
    return list(range(n))


@task
def noop(x: int) -> int:
    return x


@task
def add(xs: list[int]) -> int:
    return sum(xs)


@task
def nap(i: int, seconds: float = 0.5) -> int:
    time.sleep(seconds)
    return i


@pipeline
def w1_chain(start: int = 0):
    """100 no-op tasks in a linear chain."""
    x = inc(start)
    for _ in range(99):
        x = inc(x)
    return x


@pipeline
def w2_fan_out(n: int = 500):
    """One task returning 500 items, a no-op mapped over them, one sum."""
    return add(noop.map(items(n)))


@pipeline
def w3_parallel_sleep():
    """20 independent tasks sleeping 0.5 s each (run with concurrency 4)."""
    return [nap(i) for i in range(20)]


@pipeline
def w4_start_up():
    """One task: the cost of starting headwater."""
    return one()


@pipeline
def w5_large(n: int = 10_000):
    """A 10,000-task fan-out."""
    return add(noop.map(items(n)))

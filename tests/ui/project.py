"""The project the UI tests serve: a pipeline with a rich parameter schema, a slow one
that logs (for live updates, log tails and cancelling) and one that fails."""

UI_PIPELINES = '''\
"""Pipelines for the web UI tests."""

import time
from enum import StrEnum

from pydantic import BaseModel, Field

from headwater import current_context, pipeline, task


class Mode(StrEnum):
    polite = "polite"
    loud = "loud"


class Options(BaseModel):
    suffix: str = "!"
    repeat: int = Field(1, ge=1, le=5)


@task
def greet(
    name: str, mode: Mode = Mode.polite, batch: int = 10, options: Options = Options()
) -> dict:
    """Write a greeting to greeting.txt and return it."""
    text = (f"hello {name}{options.suffix} " * options.repeat).strip()
    if mode is Mode.loud:
        text = text.upper()
    (current_context().output_dir / "greeting.txt").write_text(text + "\\n", encoding="utf-8")
    time.sleep(0.5)  # long enough for a watcher to see the graph change
    return {"greeting": text, "batch": batch}


@task
def publish(greeting: dict) -> str:
    time.sleep(0.5)
    return greeting["greeting"]


@pipeline
def hello(
    name: str,
    mode: Mode = Mode.polite,
    batch: int = Field(10, multiple_of=5, description="rows per batch (a multiple of 5)"),
    options: Options = Options(),
):
    """Greet someone, then publish the greeting."""
    return publish(greet(name, mode, batch, options))


@task(timeout=600, retries=1)
def tick(seconds: float = 30.0) -> int:
    """Print five numbered lines for each of `seconds`, five a second (a count, not a deadline, so a
    busy machine makes it slower rather than shorter)."""
    ticks = round(seconds * 5)
    for n in range(1, ticks + 1):
        print(f"tick {n}", flush=True)
        time.sleep(0.2)
    return ticks


@pipeline
def ticker(seconds: float = 30.0):
    return tick(seconds)


@task
def count(ticks: int) -> str:
    return f"{ticks} ticks"


@pipeline
def waits(seconds: float = 60.0):
    """A slow task, then one that waits for it."""
    return count(tick(seconds))


@task
def load_rows(path: str = "orders.csv") -> int:
    raise ValueError(f"cannot parse row 3 of {path}: 'abc' is not a number")


@task
def summarise(rows: int) -> str:
    return f"{rows} rows"


@pipeline
def broken(path: str = "orders.csv"):
    return summarise(load_rows(path))
'''

"""`headwater backfill`: create a backfill and follow it with a progress bar."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from headwater.authoring.project import Project
from headwater.config import Settings
from headwater.services.backfills import BackfillView, get_backfill
from headwater.services.context import Services

REFRESH_SECONDS = 0.5


def describe(view: BackfillView) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(view.runs.items()))
    return f"{view.backfill.id}  {view.backfill.pipeline}  {view.state}  ({counts})"


def follow(svc: Services, backfill_id: str, console: Console) -> BackfillView:
    """Show the backfill's progress until every run has ended; Ctrl-C stops watching
    (the runs go on)."""
    view = get_backfill(svc, backfill_id)
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[detail]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as progress:
        bar = progress.add_task(view.backfill.pipeline, total=view.backfill.total, detail="")
        while True:
            detail = ", ".join(
                f"{n} {s}" for s, n in sorted(view.runs.items()) if s not in ("succeeded",)
            )
            progress.update(bar, completed=view.finished, detail=detail)
            if view.state != "running":
                return view
            time.sleep(REFRESH_SECONDS)
            view = get_backfill(svc, backfill_id)


@contextmanager
def embedded_worker(
    svc: Services, project: Project, settings: Settings, enabled: bool
) -> Iterator[None]:
    """A worker in this process while the backfill is followed (`--worker`)."""
    if not enabled:
        yield
        return
    from headwater.worker.code import CodeLocation
    from headwater.worker.worker import Worker

    worker = Worker(svc, CodeLocation(project.registry), settings)
    thread = threading.Thread(target=worker.run, name="hw-backfill-worker", daemon=True)
    thread.start()
    try:
        yield
    finally:
        worker.stop()
        thread.join()

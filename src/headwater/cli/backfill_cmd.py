"""`headwater backfill`: create a backfill and follow it with a progress bar."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from headwater.cli.errors import handled
from headwater.config import load_settings

if TYPE_CHECKING:
    from rich.console import Console

    from headwater.authoring.project import Project
    from headwater.config import Settings
    from headwater.services.backfills import BackfillView
    from headwater.services.context import Services

REFRESH_SECONDS = 0.5


def describe(view: BackfillView) -> str:
    counts = ", ".join(f"{n} {state}" for state, n in sorted(view.runs.items()))
    return f"{view.backfill.id}  {view.backfill.pipeline}  {view.state}  ({counts})"


def follow(svc: Services, backfill_id: str, console: Console) -> BackfillView:
    """Show the backfill's progress until every run has ended; Ctrl-C stops watching
    (the runs go on)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from headwater.services.backfills import get_backfill

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


backfills_app = typer.Typer(
    help="List backfills; cancel one as a whole.", invoke_without_command=True
)
ProjectOpt = Annotated[
    Path | None,
    typer.Option("--project", "-C", help="Project folder.", envvar="HEADWATER_PROJECT"),
]


@backfills_app.callback()
def backfills_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """List recent backfills with their progress."""
    if ctx.invoked_subcommand is not None:
        return
    from headwater.services.backfills import list_backfills
    from headwater.services.context import open_services

    with handled():
        svc = open_services(load_settings(project))
        try:
            found = list_backfills(svc)
        finally:
            svc.close()
    for view in found:
        typer.echo(describe(view))
    if not found:
        typer.echo("no backfills")


@backfills_app.command("cancel")
def backfills_cancel(backfill_id: str, project: ProjectOpt = None) -> None:
    """Cancel a backfill as a whole: every run of it that has not ended."""
    from headwater.services.backfills import cancel_backfill
    from headwater.services.context import open_services

    with handled():
        svc = open_services(load_settings(project))
        try:
            view = cancel_backfill(svc, backfill_id)
        finally:
            svc.close()
    typer.echo(describe(view))

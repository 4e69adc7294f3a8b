"""`headwater backfill`: create a backfill and follow it with a progress bar; `headwater
backfills [cancel ID]`: list and cancel backfills."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from headwater.cli.app import ProjectOpt, command
from headwater.cli.errors import EXIT_FAILED, handled
from headwater.cli.shared import find_pipeline, open_project, read_settings
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


@command()
def backfill(
    pipeline: str = typer.Argument(..., help="Pipeline name."),
    start: str = typer.Option(..., "--start", help="First logical date (2026-01-01 or a time)."),
    end: str = typer.Option(..., "--end", help="Last logical date, inclusive."),
    every: str = typer.Option("1d", "--every", help="Step: 1d, 1w, 6h, 30m."),
    timezone: str = typer.Option("UTC", "--timezone", help="IANA timezone of the dates."),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="KEY=VALUE", help='A run argument; may hold "{{ ds }}".'
    ),
    max_running: int = typer.Option(10, "--max-running", min=1, help="Runs at once."),
    wait: bool = typer.Option(True, "--wait/--no-wait", help="Follow it with a progress bar."),
    with_worker: bool = typer.Option(
        False, "--worker", help="Also execute the runs in this process."
    ),
    project: ProjectOpt = None,
) -> None:
    """Create one run per logical date from --start to --end (at most --max-running at
    once; workers execute them) and follow their progress; exit 0 if all succeeded."""
    from rich.console import Console

    from headwater.cli.args import parse_params
    from headwater.cli.worker_cmd import register_project
    from headwater.domain.backfill import parse_local_time
    from headwater.services.backfills import create_backfill
    from headwater.services.context import open_services
    from headwater.services.runs import register_pipeline

    console = Console(stderr=True)
    with handled():
        settings = read_settings(project)
        args = parse_params(param, None)
        loaded = open_project(settings)
        spec = find_pipeline(loaded, pipeline).spec
        os.chdir(settings.project_dir)
        svc = open_services(settings)
        try:
            register_project(svc, loaded)
            register_pipeline(svc, spec)
            view = create_backfill(
                svc,
                spec.name,
                start=parse_local_time(start, timezone, "--start"),
                end=parse_local_time(end, timezone, "--end"),
                every=every,
                timezone=timezone,
                args=args,
                max_running=max_running,
            )
            typer.echo(view.backfill.id)
            console.print(f"{view.backfill.total} runs of {spec.name}, {max_running} at a time")
            if wait:
                with embedded_worker(svc, loaded, settings, with_worker):
                    try:
                        view = follow(svc, view.backfill.id, console)
                    except KeyboardInterrupt:
                        console.print(
                            f"stopped watching; the runs go on. Cancel them with: "
                            f"headwater backfills cancel {view.backfill.id}"
                        )
                        raise typer.Exit(130) from None
                console.print(describe(view))
        finally:
            svc.close()
    if wait and view.state != "succeeded":
        raise typer.Exit(EXIT_FAILED)

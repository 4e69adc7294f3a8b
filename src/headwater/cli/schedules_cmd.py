"""`headwater schedules`: list schedules with their next fire time, pause and resume them."""

from __future__ import annotations

from pathlib import Path

import typer

from headwater.cli.app import ProjectOpt
from headwater.cli.errors import handled
from headwater.config import load_settings

schedules_app = typer.Typer(
    help="Schedules: list (with the next fire times), pause, resume.",
    invoke_without_command=True,
)


@schedules_app.callback()
def schedules_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """List schedules: pipeline, when, timezone, state, next fire time."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from headwater.api.times import iso
    from headwater.services.context import open_services
    from headwater.services.schedules import list_schedules

    with handled():
        svc = open_services(load_settings(project))
        try:
            found = list_schedules(svc)
        finally:
            svc.close()
    table = Table("schedule", "pipeline", "when", "timezone", "state", "next fire", box=None)
    for view in found:
        row = view.schedule
        when = row.cron or f"every {row.interval_seconds:g} s"
        upcoming = iso(view.next_fire_times[0], row.timezone) if view.next_fire_times else "-"
        table.add_row(row.name, row.pipeline, when, row.timezone, row.state, upcoming)
    Console().print(table)
    if not found:
        typer.echo("no schedules")


def _set_state(name: str, pause: bool, project: Path | None) -> None:
    from headwater.services.context import open_services
    from headwater.services.schedules import pause_schedule, resume_schedule

    with handled():
        svc = open_services(load_settings(project))
        try:
            view = pause_schedule(svc, name) if pause else resume_schedule(svc, name)
        finally:
            svc.close()
    typer.echo(f"{name}: {view.schedule.state}")


@schedules_app.command("pause")
def pause(name: str, project: ProjectOpt = None) -> None:
    """Stop a schedule firing (ticks meanwhile go through its catch-up on resume)."""
    _set_state(name, True, project)


@schedules_app.command("resume")
def resume(name: str, project: ProjectOpt = None) -> None:
    """Let a paused schedule fire again."""
    _set_state(name, False, project)

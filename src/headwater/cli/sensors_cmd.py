"""`headwater sensors`: list sensors and webhook triggers, pause and resume them."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from headwater.cli.app import ProjectOpt
from headwater.cli.errors import handled
from headwater.config import load_settings

sensors_app = typer.Typer(
    help="Sensors and webhook triggers: list, pause, resume.", invoke_without_command=True
)


@sensors_app.callback()
def sensors_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """List sensors: kind, pipeline, state, last evaluation and last error."""
    if ctx.invoked_subcommand is not None:
        return
    from rich.console import Console
    from rich.table import Table

    from headwater.services.context import open_services
    from headwater.services.sensors import list_sensors

    with handled():
        svc = open_services(load_settings(project))
        try:
            found = list_sensors(svc)
        finally:
            svc.close()
    table = Table("sensor", "kind", "pipeline", "state", "last evaluated", "last error", box=None)
    for row in found:
        ago = f"{time.time() - row.last_tick_at:.0f} s ago" if row.last_tick_at else "never"
        state = "paused" if row.paused else "active"
        table.add_row(row.name, row.kind, row.pipeline, state, ago, row.last_error or "")
    Console().print(table)
    if not found:
        typer.echo("no sensors")


def _set_paused(name: str, paused: bool, project: Path | None) -> None:
    from headwater.services.context import open_services
    from headwater.services.sensors import set_sensor_paused

    with handled():
        svc = open_services(load_settings(project))
        try:
            set_sensor_paused(svc, name, paused)
        finally:
            svc.close()
    typer.echo(f"{name}: {'paused' if paused else 'active'}")


@sensors_app.command("pause")
def pause(name: str, project: ProjectOpt = None) -> None:
    """Stop NAME from starting runs (a paused hook answers 409)."""
    _set_paused(name, True, project)


@sensors_app.command("resume")
def resume(name: str, project: ProjectOpt = None) -> None:
    """Let NAME start runs again."""
    _set_paused(name, False, project)

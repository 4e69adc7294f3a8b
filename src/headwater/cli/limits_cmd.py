"""`headwater limits [set|delete]`: concurrency limits, at most N running for a key."""

from __future__ import annotations

import typer

from headwater.cli.app import ProjectOpt
from headwater.cli.errors import handled
from headwater.cli.shared import read_settings

limits_app = typer.Typer(
    help="Concurrency limits: at most N running for a key.", invoke_without_command=True
)


@limits_app.callback()
def limits_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """List concurrency limits and how many slots are taken."""
    if ctx.invoked_subcommand is not None:
        return
    from headwater.services.context import open_services
    from headwater.services.limits import list_limits

    with handled():
        svc = open_services(read_settings(project))
        try:
            found = list_limits(svc)
        finally:
            svc.close()
    for row in found:
        typer.echo(f"{row.key}\t{row.running}/{row.max_running} running")
    if not found:
        typer.echo("no limits")


@limits_app.command("set")
def limits_set(
    key: str = typer.Argument(..., help="pipeline:NAME, task:NAME, queue:NAME or tag:NAME"),
    max_running: int = typer.Argument(..., help="At most this many at once."),
    project: ProjectOpt = None,
) -> None:
    """Allow at most MAX_RUNNING attempts at once for KEY."""
    from headwater.services.context import open_services
    from headwater.services.limits import set_limit

    with handled():
        svc = open_services(read_settings(project))
        try:
            set_limit(svc, key, max_running)
        finally:
            svc.close()
    typer.echo(f"{key}: at most {max_running} running")


@limits_app.command("delete")
def limits_delete(key: str, project: ProjectOpt = None) -> None:
    """Remove the limit on KEY."""
    from headwater.services.context import open_services
    from headwater.services.limits import delete_limit

    with handled():
        svc = open_services(read_settings(project))
        try:
            delete_limit(svc, key)
        finally:
            svc.close()
    typer.echo(f"{key}: no limit")

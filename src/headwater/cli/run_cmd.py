"""`headwater run`, `submit`, `runs` and `cancel`: start runs (here, or for workers), list
and cancel them.

`headwater run` is the path whose start-up is measured (bench W4): its usual command
lines do not reach this module at all (see `headwater.cli.run_here`); each command
imports what it needs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from headwater.cli import remote
from headwater.cli.app import ProjectOpt, command
from headwater.cli.errors import handled
from headwater.cli.shared import find_pipeline, open_project, read_settings


@command()
def run(
    pipeline: str = typer.Argument(..., help="Pipeline name or recipe file."),
    param: list[str] = typer.Option(
        [],
        "--param",
        "-p",
        metavar="KEY=VALUE",
        help="A run argument (VALUE is JSON, else a string).",
    ),
    task_param: list[str] = typer.Option(
        [], "--task-param", "-t", metavar="NODE.KEY=VALUE", help="An argument for one task node."
    ),
    params_file: Optional[Path] = typer.Option(  # noqa: UP045
        None, "--params-file", help="JSON file of run arguments."
    ),
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1),  # noqa: UP045
    force: bool = typer.Option(False, "--force", help="Run every task, ignoring cached outputs."),
    resume: Optional[str] = typer.Option(  # noqa: UP045
        None,
        "--resume",
        metavar="RUN_ID",
        help="Reuse the succeeded task runs of RUN_ID; run the rest.",
    ),
    start_at: Optional[str] = typer.Option(  # noqa: UP045
        None, "--start-at", metavar="TIME", help="Wait until then (ISO 8601; UTC if no offset)."
    ),
    start_in: Optional[str] = typer.Option(  # noqa: UP045
        None, "--start-in", metavar="DURATION", help="Wait this long first, e.g. 30s, 2h30m."
    ),
    expires_at: Optional[str] = typer.Option(  # noqa: UP045
        None, "--expires-at", metavar="TIME", help="End as expired if not started by then."
    ),
    project: ProjectOpt = None,
) -> None:
    """Run a pipeline here, in parallel where the DAG allows; exit 0 only if it succeeded."""
    from headwater.cli.run_here import run_here

    run_here(
        pipeline,
        param,
        task_param,
        params_file,
        concurrency,
        force,
        resume,
        start_at,
        start_in,
        expires_at,
        project,
    )


@command()
def runs(
    pipeline: Optional[str] = typer.Argument(None),  # noqa: UP045
    limit: int = typer.Option(20, "--limit", "-n", min=1),
    project: ProjectOpt = None,
) -> None:
    """List recent runs stored in the project's database."""
    from headwater.cli.display import print_runs
    from headwater.services.context import open_services
    from headwater.store import runs as run_store

    with handled():
        svc = open_services(read_settings(project))
        try:
            with svc.db.read() as conn:
                found = run_store.list_runs(conn, pipeline, limit)
        finally:
            svc.close()
        print_runs(found)


@command()
def submit(
    pipeline: str = typer.Argument(..., help="Pipeline name."),
    param: list[str] = typer.Option([], "--param", "-p", metavar="KEY=VALUE"),
    task_param: list[str] = typer.Option([], "--task-param", "-t", metavar="NODE.KEY=VALUE"),
    force: bool = typer.Option(False, "--force"),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    start_at: Optional[str] = typer.Option(  # noqa: UP045
        None, "--start-at", metavar="TIME", help="Start no earlier (ISO 8601; UTC if no offset)."
    ),
    start_in: Optional[str] = typer.Option(  # noqa: UP045
        None, "--start-in", metavar="DURATION", help="Start after this long, e.g. 2h30m."
    ),
    expires_at: Optional[str] = typer.Option(  # noqa: UP045
        None, "--expires-at", metavar="TIME", help="End as expired if not started by then."
    ),
    project: ProjectOpt = None,
) -> None:
    """Start a run for workers to execute, print its id, and return at once."""
    from headwater.cli.args import parse_params, parse_start_controls, parse_task_params
    from headwater.cli.worker_cmd import register_project
    from headwater.services.context import open_services
    from headwater.services.runs import register_pipeline, start_run

    with handled():
        settings = read_settings(project)
        args, task_args = parse_params(param, None), parse_task_params(task_param)
        controls = parse_start_controls(start_at, start_in, expires_at)
        loaded = open_project(settings)
        spec = find_pipeline(loaded, pipeline).spec  # definition problems before the database
        svc = open_services(settings)
        try:
            register_project(svc, loaded)
            register_pipeline(svc, spec)  # also a recipe file from outside the project
            run_id = start_run(
                svc,
                spec.name,
                args,
                task_args=task_args,
                force=force,
                priority=priority,
                controls=controls,
            )
        finally:
            svc.close()
    typer.echo(run_id)


@command()
def cancel(
    run_id: str = typer.Argument(..., help="The run to cancel."),
    node: Optional[str] = typer.Option(  # noqa: UP045
        None, "--node", help="Cancel only this task node (NODE or NODE[i])."
    ),
    project: ProjectOpt = None,
    server: remote.ServerOpt = None,
) -> None:
    """Cancel a run (or one of its task runs); workers stop its attempts at their next
    heartbeat and their late results are refused. With --server (or HEADWATER_SERVER),
    through that server's API; else in the project's database."""
    from headwater.services.context import open_services
    from headwater.services.runs import cancel_run, cancel_task_run

    with handled():
        if server:
            done = remote.cancel_on_server(server, run_id, node)
            typer.echo(f"{run_id}: " + ("cancelled" if done else "already finished"))
            return
        svc = open_services(read_settings(project))
        try:
            if node is None:
                done = cancel_run(svc, run_id)
            else:
                name, index = _node_label(node)
                done = cancel_task_run(svc, run_id, name, index)
        finally:
            svc.close()
    typer.echo(
        f"{run_id}{'' if node is None else ' ' + node}: "
        + ("cancelled" if done else "already finished")
    )


def _node_label(text: str) -> tuple[str, int]:
    """``node`` or ``node[3]`` as (node id, map index or -1)."""
    import re

    from headwater.domain.problems import Problem
    from headwater.errors import ValidationError

    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_\-]*)(?:\[(\d+)\])?", text)
    if match is None:
        raise ValidationError([Problem("", "--node", f"expected NODE or NODE[i], got {text!r}")])
    return match.group(1), int(match.group(2)) if match.group(2) else -1

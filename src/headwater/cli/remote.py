"""CLI commands that talk to a headwater server over HTTP (`headwater.client`):
trigger, status, logs and (with --server) cancel."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from headwater.cli.app import command
from headwater.cli.errors import EXIT_FAILED, EXIT_INVALID, handled

if TYPE_CHECKING:
    from headwater.client import Attempt, Client, Run

ServerOpt = Annotated[
    Optional[str],  # noqa: UP045 - typer reads the annotation at run time
    typer.Option(
        "--server",
        envvar="HEADWATER_SERVER",
        help="Base URL of a headwater server (e.g. http://127.0.0.1:8080).",
    ),
]
STREAMS = ("combined", "stdout", "stderr")
FOLLOW_POLL_SECONDS = 0.5


def _client(server: str | None) -> Client:
    from headwater.client import Client
    from headwater.errors import ConfigError

    if not server:
        raise ConfigError("no server: pass --server URL or set HEADWATER_SERVER")
    return Client(server)


@command()
def trigger(
    pipeline: str = typer.Argument(..., help="Pipeline name."),
    param: list[str] = typer.Option(
        [], "--param", "-p", metavar="KEY=VALUE", help="A run argument (VALUE is JSON, else text)."
    ),
    task_param: list[str] = typer.Option(
        [], "--task-param", "-t", metavar="NODE.KEY=VALUE", help="An argument for one task node."
    ),
    priority: int = typer.Option(0, "--priority", help="Higher runs first."),
    tag: list[str] = typer.Option([], "--tag", help="A tag for the run (repeatable)."),
    idempotency_key: Optional[str] = typer.Option(  # noqa: UP045
        None, "--idempotency-key", help="Start at most one run for this key."
    ),
    force: bool = typer.Option(False, "--force", help="Run every task, ignoring cached outputs."),
    wait: bool = typer.Option(False, "--wait", help="Wait for the run to end; exit 1 unless ok."),
    timeout: Optional[float] = typer.Option(  # noqa: UP045
        None, "--timeout", min=0, help="With --wait: give up after this many seconds."
    ),
    server: ServerOpt = None,
) -> None:
    """Start a run on a server; print its id (and with --wait, how it ended)."""
    from headwater.cli.args import parse_params, parse_task_params

    with handled():
        args, task_args = parse_params(param, None), parse_task_params(task_param)
        with _client(server) as client:
            accepted = client.trigger(
                pipeline,
                args,
                task_args=task_args,
                priority=priority,
                tags=tag,
                idempotency_key=idempotency_key,
                force=force,
            )
            typer.echo(accepted.id)
            typer.echo(f"status: {accepted.status_url}", err=True)
            if not wait:
                return
            run = client.wait(accepted.id, timeout=timeout)
        _print_task_runs(run)
    if not run.ok:
        raise typer.Exit(EXIT_FAILED)


@command()
def status(
    run_id: str = typer.Argument(..., help="The run."),
    as_json: bool = typer.Option(False, "--json", help="Print the run as the API sends it."),
    server: ServerOpt = None,
) -> None:
    """Show a run's state and its task runs, from a server."""
    with handled(), _client(server) as client:
        run = client.get_run(run_id)
    if as_json:
        typer.echo(json.dumps(run.raw, indent=2))
    else:
        _print_task_runs(run)


@command()
def logs(
    run_id: str = typer.Argument(..., help="The run."),
    node: Optional[str] = typer.Option(None, "--node", help="Only this task node."),  # noqa: UP045
    stream: str = typer.Option(
        "combined", "--stream", help="combined, stdout or stderr.", show_default=True
    ),
    tail: Optional[int] = typer.Option(  # noqa: UP045
        None, "--tail", min=0, help="Only the last N lines of each attempt."
    ),
    follow: bool = typer.Option(
        False, "--follow", "-f", help="Keep printing as attempts write, until the run ends."
    ),
    server: ServerOpt = None,
) -> None:
    """Print the logs of a run's attempts, in the order they started, from a server."""
    if stream not in STREAMS:
        sys.stderr.write(f"error: --stream must be one of {', '.join(STREAMS)}\n")
        raise typer.Exit(EXIT_INVALID)
    with handled(), _client(server) as client:
        run = client.get_run(run_id)
        if node is not None and node not in {tr.node for tr in run.task_runs}:
            from headwater.errors import NotFound

            raise NotFound(f"run {run_id} has no node {node!r}")
        if follow:
            _follow(client, run, node, stream, tail)
            return
        attempts = run.attempts(node)
        for attempt in attempts:
            if len(attempts) > 1:
                typer.echo(_header(run, attempt))
            sys.stdout.write(client.logs(attempt.id, stream, tail=tail))
        sys.stdout.flush()


def _follow(client: Client, run: Run, node: str | None, stream: str, tail: int | None) -> None:
    """Each attempt's log to its end, in start order, until the run is over and every
    attempt it made was printed."""
    printed: set[int] = set()
    while True:
        fresh = [a for a in run.attempts(node) if a.id not in printed]
        for attempt in fresh:
            typer.echo(_header(run, attempt))
            for chunk in client.follow_logs(attempt.id, stream, tail=tail):
                sys.stdout.write(chunk)
                sys.stdout.flush()
            printed.add(attempt.id)
        if run.done and not fresh:
            return
        if not fresh:
            time.sleep(FOLLOW_POLL_SECONDS)
        run = client.get_run(run.id)


def _header(run: Run, attempt: Attempt) -> str:
    task_run = next(tr for tr in run.task_runs if any(a.id == attempt.id for a in tr.attempts))
    return f"==> {task_run.label} attempt {attempt.number} (attempt id {attempt.id}) <=="


def _print_task_runs(run: Run) -> None:
    from rich.console import Console
    from rich.table import Table

    from headwater.cli.display import STATE_STYLE

    table = Table("task", "state", "attempts", "error", box=None)
    for tr in run.task_runs:
        error = tr.error or next(
            (a.error_message or "" for a in reversed(tr.attempts) if a.error_message), ""
        )
        style = STATE_STYLE.get(tr.state, "white")
        table.add_row(tr.label, f"[{style}]{tr.state}[/]", str(len(tr.attempts)), error)
    console = Console()
    console.print(table)
    style = STATE_STYLE.get(run.state, "white")
    console.print(f"run {run.id} ({run.pipeline}): [{style}]{run.state}[/]")


def cancel_on_server(server: str, run_id: str, node: str | None) -> bool:
    """`headwater cancel --server`: the run, through the API."""
    from headwater.domain.problems import Problem
    from headwater.errors import ValidationError

    if node is not None:
        raise ValidationError(
            [Problem("", "--node", "cancelling one task run needs the database, not --server")]
        )
    with _client(server) as client:
        return client.cancel(run_id)

"""`headwater`: run pipelines, inspect projects, manage the database."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional, TypeVar

import typer
from typer.core import TyperGroup

from headwater.cli import remote
from headwater.cli.backfill_cmd import backfills_app
from headwater.cli.errors import EXIT_FAILED, EXIT_INVALID, handled
from headwater.cli.schedules_cmd import schedules_app
from headwater.cli.sensors_cmd import sensors_app

if TYPE_CHECKING:
    from headwater.authoring.project import Project
    from headwater.authoring.registry import PipelineLike
    from headwater.config import Settings

F = TypeVar("F", bound=Callable[..., Any])
# Each command is registered on a Typer of its own and turned into its click form only
# when it is run (or listed by --help): typer would otherwise read every command's
# signature and type hints on each start, ~40 ms before `headwater run` can begin.
_COMMANDS: dict[str, typer.Typer] = {}
_GROUPS: dict[str, typer.Typer] = {}


def command(name: str | None = None) -> Callable[[F], F]:
    """Register a `headwater NAME` command (like `Typer.command`), built on first use."""

    def register(fn: F) -> F:
        found = name or fn.__name__.strip("_").replace("_", "-")
        holder = typer.Typer(add_completion=False)
        holder.command(found)(fn)
        _COMMANDS[found] = holder
        return fn

    return register


def group(name: str, sub: typer.Typer) -> typer.Typer:
    """Register `headwater NAME ...` commands (like `Typer.add_typer`), built on first use."""
    _GROUPS[name] = sub
    return sub


class _Commands(MutableMapping[str, Any]):
    """The click commands by name (typer's own copy of click, which it does not export),
    each built from its Typer when first looked up."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name in _COMMANDS:
                self._built[name] = typer.main.get_command(_COMMANDS[name])
            elif name in _GROUPS:
                built = typer.main.get_group(_GROUPS[name])
                built.name = name
                self._built[name] = built
            else:
                raise KeyError(name)
        return self._built[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._built[name] = value

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*_COMMANDS, *_GROUPS, *self._built]))

    def __len__(self) -> int:
        return len(set(_COMMANDS) | set(_GROUPS) | set(self._built))


class _LazyGroup(TyperGroup):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.commands = _Commands()


app = typer.Typer(
    name="headwater",
    cls=_LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    help="Data pipelines and jobs: run, inspect and manage headwater projects.",
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.callback()
def _root() -> None:
    pass  # makes `app` a group; its commands come from `command` and `group`


db_app = group("db", typer.Typer(help="Manage the database schema.", no_args_is_help=True))
limits_app = group(
    "limits",
    typer.Typer(
        help="Concurrency limits: at most N running for a key.", invoke_without_command=True
    ),
)
group("sensors", sensors_app)
group("schedules", schedules_app)
group("backfills", backfills_app)

ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-C",
        help="Project folder (default: the current folder).",
        envvar="HEADWATER_PROJECT",
    ),
]


def _settings(project: Path | None, **overrides: Any) -> Settings:
    from headwater.config import load_settings

    return load_settings(project, **overrides)


def _load(settings: Settings, *, quiet: bool = False) -> Project:
    from headwater.authoring.project import load_project

    project = load_project(settings)
    if not quiet:
        for error in project.errors:
            typer.echo(f"warning: could not load {error}", err=True)
    return project


def _find(project: Project, name: str) -> PipelineLike:
    """A pipeline by name, or a recipe file given by path."""
    from headwater.authoring import RECIPE_SUFFIXES

    path = Path(name)
    if path.suffix in RECIPE_SUFFIXES and path.exists():
        from headwater.authoring.recipes import load_recipe
        from headwater.authoring.registry import use_registry

        with use_registry(project.registry):
            return load_recipe(path, register=False)
    return project.registry.get_pipeline(name)


@command()
def init(directory: Path = typer.Argument(..., help="Folder to create the project in.")) -> None:
    """Create a working project: one pipeline, one test, a README."""
    from headwater.cli.scaffold import scaffold

    with handled():
        created = scaffold(directory)
    typer.echo(f"created {len(created)} files in {directory}/")
    typer.echo(f"next: cd {directory} && headwater run hello -p name=world")


@command("list")
def list_(project: ProjectOpt = None) -> None:
    """List the project's pipelines."""
    from rich.console import Console
    from rich.table import Table

    from headwater.errors import DefinitionError

    with handled():
        loaded = _load(_settings(project))
        table = Table("pipeline", "nodes", "parameters", "description", "source", box=None)
        for name, found in sorted(loaded.registry.pipelines.items()):
            try:
                spec = found.spec
                nodes, params = str(len(spec.nodes)), ", ".join(spec.param_names)
            except DefinitionError as exc:
                nodes, params = "[red]invalid[/]", f"[red]{len(exc.problems)} problems[/]"
            summary = (found.spec.description if nodes.isdigit() else "").split("\n")[0]
            table.add_row(name, nodes, params, summary, str(found.source or ""))
        Console().print(table)
        if not loaded.registry.pipelines:
            typer.echo(f"no pipelines found in {loaded.root}/{loaded.settings.pipelines_package}/")


@command()
def show(
    pipeline: str = typer.Argument(..., help="Pipeline name or recipe file."),
    as_json: bool = typer.Option(False, "--json", help="Print the compiled spec."),
    project: ProjectOpt = None,
) -> None:
    """Show a pipeline's DAG, tasks and parameters without running anything."""
    from headwater.cli.display import print_pipeline

    with handled():
        spec = _find(_load(_settings(project), quiet=True), pipeline).spec
        if as_json:
            typer.echo(json.dumps(spec.to_json_dict(), indent=2, ensure_ascii=False))
        else:
            print_pipeline(spec)


@command()
def validate(
    pipeline: Optional[str] = typer.Argument(  # noqa: UP045
        None, help="Pipeline name or recipe file (default: the whole project)."
    ),
    project: ProjectOpt = None,
) -> None:
    """Check definitions; report every problem with its place; exit 2 if any."""
    from headwater.errors import DefinitionError

    with handled():
        loaded = _load(_settings(project), quiet=True)
        if pipeline is not None:
            _find(loaded, pipeline).spec  # noqa: B018 - compiling validates
            typer.echo(f"{pipeline}: ok")
            return
        bad = len(loaded.errors)
        for error in loaded.errors:
            typer.echo(f"error: could not load {error}", err=True)
        for name, found in sorted(loaded.registry.pipelines.items()):
            try:
                found.spec  # noqa: B018
                typer.echo(f"{name}: ok")
            except DefinitionError as exc:
                bad += 1
                typer.echo(f"error: {exc}", err=True)
        if bad:
            raise typer.Exit(EXIT_INVALID)


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
    from headwater.cli.args import parse_params, parse_start_controls, parse_task_params
    from headwater.cli.display import RunDisplay
    from headwater.local import run_pipeline
    from headwater.services.context import open_services

    with handled():
        settings = _settings(project, concurrency=concurrency)
        args = parse_params(param, params_file)
        task_args = parse_task_params(task_param)
        controls = parse_start_controls(start_at, start_in, expires_at)
        loaded = _load(settings)
        found = _find(loaded, pipeline)
        found.spec  # noqa: B018 - report definition problems before touching the database
        # Tasks run with the project folder as working directory, whatever -C said.
        os.chdir(settings.project_dir)
        _capture_task_logging()
        svc = open_services(settings)
        display = RunDisplay(svc)
        try:
            result = run_pipeline(
                svc,
                settings,
                found,
                args=args,
                task_args=task_args,
                force=force,
                resume_from=resume,
                registry=loaded.registry,
                on_start=display.started,
                wait=display.watch,
                controls=controls,
            )
        finally:
            svc.close()
        display.summary(result, settings)
    if not result.ok:
        raise typer.Exit(EXIT_FAILED)


def _capture_task_logging() -> None:
    """Let tasks' INFO records reach their attempt logs. Only the attempt-log handler
    sees them: Python's last-resort handler still prints only warnings and errors."""
    import logging

    root = logging.getLogger()
    if root.level == logging.NOTSET or root.level > logging.INFO:
        # The console keeps showing only warnings and errors.
        for handler in root.handlers:
            if handler.level == logging.NOTSET:
                handler.setLevel(logging.WARNING)
        root.setLevel(logging.INFO)


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
        svc = open_services(_settings(project))
        try:
            with svc.db.read() as conn:
                found = run_store.list_runs(conn, pipeline, limit)
        finally:
            svc.close()
        print_runs(found)


@command()
def worker(
    queues: Optional[str] = typer.Option(  # noqa: UP045
        None, "--queues", "-q", help="Comma-separated queues to take work from (default: all)."
    ),
    concurrency: Optional[int] = typer.Option(  # noqa: UP045
        None, "--concurrency", "-j", min=1, help="Attempts at once."
    ),
    executor: Optional[str] = typer.Option(  # noqa: UP045
        None, "--executor", help="Default executor for Python tasks: inline or process."
    ),
    grace: float = typer.Option(
        30.0, "--grace", min=0, help="Seconds running attempts get to finish on SIGTERM."
    ),
    project: ProjectOpt = None,
) -> None:
    """Run a worker: take ready task runs from the database until stopped."""
    import logging

    from headwater.cli.worker_cmd import serve_worker
    from headwater.services.context import open_services

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with handled():
        settings = _settings(project, default_executor=executor)
        loaded = _load(settings)
        os.chdir(settings.project_dir)
        _capture_task_logging()
        svc = open_services(settings)
        try:
            code = serve_worker(
                svc,
                loaded,
                settings,
                grace_seconds=grace,
                queues=[q for q in (queues or "").split(",") if q] or None,
                concurrency=concurrency,
            )
        finally:
            svc.close()
    raise typer.Exit(code)


@command()
def workers(
    all_: bool = typer.Option(False, "--all", help="Include stopped workers."),
    project: ProjectOpt = None,
) -> None:
    """List workers: host, pid, queues, state, last heartbeat, running attempts."""
    from headwater.cli.display import print_workers
    from headwater.services.context import open_services
    from headwater.services.workers import list_workers

    with handled():
        svc = open_services(_settings(project))
        try:
            print_workers(list_workers(svc, include_stopped=all_))
        finally:
            svc.close()


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
        settings = _settings(project)
        args, task_args = parse_params(param, None), parse_task_params(task_param)
        controls = parse_start_controls(start_at, start_in, expires_at)
        loaded = _load(settings)
        spec = _find(loaded, pipeline).spec  # definition problems before the database
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
    from headwater.cli.backfill_cmd import describe, embedded_worker, follow
    from headwater.cli.worker_cmd import register_project
    from headwater.domain.backfill import parse_local_time
    from headwater.services.backfills import create_backfill
    from headwater.services.context import open_services
    from headwater.services.runs import register_pipeline

    console = Console(stderr=True)
    with handled():
        settings = _settings(project)
        args = parse_params(param, None)
        loaded = _load(settings)
        spec = _find(loaded, pipeline).spec
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


@limits_app.callback()
def limits_list(ctx: typer.Context, project: ProjectOpt = None) -> None:
    """List concurrency limits and how many slots are taken."""
    if ctx.invoked_subcommand is not None:
        return
    from headwater.services.context import open_services
    from headwater.services.limits import list_limits

    with handled():
        svc = open_services(_settings(project))
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
        svc = open_services(_settings(project))
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
        svc = open_services(_settings(project))
        try:
            delete_limit(svc, key)
        finally:
            svc.close()
    typer.echo(f"{key}: no limit")


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
        svc = open_services(_settings(project))
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


command()(remote.trigger)
command()(remote.status)
command()(remote.logs)


def _node_label(text: str) -> tuple[str, int]:
    """``node`` or ``node[3]`` as (node id, map index or -1)."""
    import re

    from headwater.domain.problems import Problem
    from headwater.errors import ValidationError

    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_\-]*)(?:\[(\d+)\])?", text)
    if match is None:
        raise ValidationError([Problem("", "--node", f"expected NODE or NODE[i], got {text!r}")])
    return match.group(1), int(match.group(2)) if match.group(2) else -1


HostOpt = Annotated[str, typer.Option("--host", help="Address to listen on.")]
PortOpt = Annotated[int, typer.Option("--port", help="Port (0: any free port).")]


@command()
def serve(
    host: HostOpt = "127.0.0.1",
    port: PortOpt = 8080,
    concurrency: Optional[int] = typer.Option(None, "--concurrency", "-j", min=1),  # noqa: UP045
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="Also run the scheduler (schedules, expiry)."
    ),
    project: ProjectOpt = None,
) -> None:
    """Serve the HTTP API with an embedded worker and scheduler, on SQLite by default."""
    _serve(project, host, port, with_worker=True, concurrency=concurrency, with_scheduler=scheduler)


@command()
def api(host: HostOpt = "127.0.0.1", port: PortOpt = 8080, project: ProjectOpt = None) -> None:
    """Serve the HTTP API only (workers and schedulers run elsewhere)."""
    _serve(project, host, port, with_worker=False, concurrency=None)


@command("scheduler")
def scheduler_(project: ProjectOpt = None) -> None:
    """Run the scheduler: fire due schedules exactly once, expire runs that could not
    start in time, evaluate sensors (custom ones of this project), send notifications.
    Several may run at once. Stops (exit 0) on SIGTERM or SIGINT."""
    import logging

    from headwater.cli.worker_cmd import register_project
    from headwater.scheduler.loop import default_tick_functions
    from headwater.scheduler.process import serve_scheduler
    from headwater.scheduler.triggers import sensor_tick_functions, start_delivery_loop
    from headwater.services.context import open_services

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with handled():
        settings = _settings(project)
        loaded = _load(settings)
        svc = open_services(settings)
        register_project(svc, loaded)
        ticks = [*default_tick_functions(), *sensor_tick_functions(loaded.registry)]
        deliveries = start_delivery_loop(svc, settings)
        typer.echo("headwater scheduler running (Ctrl-C to stop)", err=True)
        try:
            code = serve_scheduler(svc, ticks)
        finally:
            deliveries[0].stop()
            deliveries[1].join()
            svc.close()
    raise typer.Exit(code)


def _serve(
    project: Path | None,
    host: str,
    port: int,
    *,
    with_worker: bool,
    concurrency: int | None,
    with_scheduler: bool = False,
) -> None:
    import logging
    import threading

    from headwater.api.app import create_app
    from headwater.api.server import serve as serve_http
    from headwater.cli.worker_cmd import register_project
    from headwater.scheduler.loop import default_tick_functions
    from headwater.scheduler.process import start_embedded
    from headwater.scheduler.triggers import sensor_tick_functions, start_delivery_loop
    from headwater.services.context import open_services
    from headwater.worker.code import CodeLocation
    from headwater.worker.worker import Worker

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with handled():
        settings = _settings(project)
        loaded = _load(settings)
        os.chdir(settings.project_dir)
        svc = open_services(settings)
        register_project(svc, loaded)
        worker = thread = None
        if with_worker:
            _capture_task_logging()
            worker = Worker(svc, CodeLocation(loaded.registry), settings, concurrency=concurrency)
            thread = threading.Thread(target=worker.run, name="hw-embedded-worker", daemon=True)
            thread.start()
        embedded = deliveries = None
        if with_scheduler:
            ticks = [*default_tick_functions(), *sensor_tick_functions(loaded.registry)]
            embedded = start_embedded(svc, ticks)
            deliveries = start_delivery_loop(svc, settings)

        def ready(url: str) -> None:
            typer.echo(f"headwater serving at {url}  (API docs: {url}/api/docs)", err=True)

        try:
            serve_http(create_app(svc, settings), host, port, ready)
        finally:
            for loop in (embedded, deliveries):
                if loop is not None:
                    loop[0].stop()
                    loop[1].join()
            if worker is not None and thread is not None:
                worker.stop()
                thread.join()
            svc.close()


@command("recipe-schema")
def recipe_schema() -> None:
    """Print the JSON Schema of recipe files."""
    from headwater.authoring.recipes import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(), indent=2))


@db_app.command("upgrade")
def db_upgrade(project: ProjectOpt = None) -> None:
    """Create or upgrade the database schema to the newest version."""
    from headwater.store.engine import open_database
    from headwater.store.migrate import HEAD_REVISION, upgrade

    with handled():
        settings = _settings(project)
        db = open_database(settings.database_url)
        try:
            upgrade(db)
        finally:
            db.dispose()
    typer.echo(f"database at revision {HEAD_REVISION}: {_redact(settings.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@command()
def version() -> None:
    """Print headwater's version."""
    from headwater import __version__

    typer.echo(__version__)


def main() -> None:
    app()


__all__ = ["EXIT_FAILED", "EXIT_INVALID", "app", "main"]

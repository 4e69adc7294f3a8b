"""`headwater serve`, `api` and `scheduler`: the long-running server processes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Optional

import typer

from headwater.cli.app import ProjectOpt, command
from headwater.cli.errors import handled
from headwater.cli.shared import capture_task_logging, open_project, read_settings

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
        settings = read_settings(project)
        loaded = open_project(settings)
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
        settings = read_settings(project)
        loaded = open_project(settings)
        os.chdir(settings.project_dir)
        svc = open_services(settings)
        register_project(svc, loaded)
        worker = thread = None
        if with_worker:
            capture_task_logging()
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

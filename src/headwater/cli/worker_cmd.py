"""`headwater worker`: a long-running worker process, and its signal handling;
`headwater workers`: list them."""

from __future__ import annotations

import logging
import os
import signal
import sys
from types import FrameType
from typing import Optional

import typer

from headwater.authoring.project import Project
from headwater.cli.app import ProjectOpt, command
from headwater.cli.errors import handled
from headwater.cli.shared import capture_task_logging, open_project, read_settings
from headwater.config import Settings
from headwater.errors import DefinitionError
from headwater.services.context import Services
from headwater.services.definitions import register_tasks
from headwater.services.notifications import save_notifications
from headwater.services.runs import register_pipeline
from headwater.services.schedules import register_schedules
from headwater.services.sensors import save_sensors
from headwater.worker.code import CodeLocation
from headwater.worker.worker import Worker

log = logging.getLogger("headwater.worker")


def register_project(svc: Services, project: Project) -> list[str]:
    """Store the project's task definitions, the specs of its valid pipelines (DESIGN
    rule 8), its sensors, hooks and notifications; the pipelines' names."""
    definitions = [task.definition for _, task in sorted(project.registry.tasks.items())]
    register_tasks(svc, definitions, str(project.root))
    registered = []
    for name, found in sorted(project.registry.pipelines.items()):
        try:
            register_pipeline(svc, found.spec)
            registered.append(name)
        except DefinitionError as exc:
            log.error("not registering pipeline %s: %s", name, exc)
    registry = project.registry
    save_sensors(svc, list(registry.sensors.values()), registry.secrets)
    save_notifications(svc, list(registry.notifications.values()))
    schedules = project.registry.schedules.values()
    register_schedules(svc, [s for s in schedules if s.pipeline in registered], origin="code")
    return registered


def serve_worker(
    svc: Services,
    project: Project,
    settings: Settings,
    *,
    queues: list[str] | None,
    concurrency: int | None,
    grace_seconds: float,
) -> int:
    """Run a worker until SIGTERM or SIGINT: the first stops claiming and lets attempts
    finish within the grace period (then releases the rest back to ready) and exits 0;
    a second ends the process at once (its leases expire and other workers retry)."""
    worker = Worker(
        svc,
        CodeLocation(project.registry),
        settings,
        queues=queues,
        concurrency=concurrency,
        grace_seconds=grace_seconds,
    )
    signals = {"count": 0}

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        signals["count"] += 1
        if signals["count"] > 1:
            sys.stderr.write("second signal: exiting now\n")
            os._exit(1)
        log.warning(
            "%s: stopping; held attempts get %.0f s to finish",
            signal.Signals(signum).name,
            grace_seconds,
        )
        worker.stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    names = register_project(svc, project)
    log.warning(
        "worker %s: %d pipelines, queues %s, concurrency %d",
        worker.id,
        len(names),
        ",".join(queues) if queues else "all",
        worker.concurrency,
    )
    worker.run()
    return 0


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

    from headwater.services.context import open_services

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    with handled():
        settings = read_settings(project, default_executor=executor)
        loaded = open_project(settings)
        os.chdir(settings.project_dir)
        capture_task_logging()
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
        svc = open_services(read_settings(project))
        try:
            print_workers(list_workers(svc, include_stopped=all_))
        finally:
            svc.close()

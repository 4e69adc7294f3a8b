"""`headwater run` without click: the command's body, and a parser for its usual arguments.

Importing typer and building click's command takes about as long as the rest of a
one-task run's start-up (bench W4). `headwater.cli.main` hands a `headwater run` command
line to `parse` first; a line it does not fully understand (help, a mistake, an option
it does not know) goes to click instead, so usage errors and help stay click's. The
typer declaration in `headwater.cli.run_cmd` is the command's definition; a unit test
keeps `OPTIONS` equal to it and both parsers' results equal on a table of lines.
"""

from __future__ import annotations

import gc
import os
from typing import TYPE_CHECKING, Any

from headwater.cli.errors import EXIT_FAILED, handled
from headwater.cli.shared import capture_task_logging, find_pipeline, open_project, read_settings

if TYPE_CHECKING:
    from pathlib import Path

# Option spellings -> (parameter, kind): "flag" takes no value, "many" repeats into a
# list, "int" / "path" / "text" take one value.
OPTIONS: dict[str, tuple[str, str]] = {
    "--param": ("param", "many"),
    "-p": ("param", "many"),
    "--task-param": ("task_param", "many"),
    "-t": ("task_param", "many"),
    "--params-file": ("params_file", "path"),
    "--concurrency": ("concurrency", "int"),
    "-j": ("concurrency", "int"),
    "--force": ("force", "flag"),
    "--resume": ("resume", "text"),
    "--start-at": ("start_at", "text"),
    "--start-in": ("start_in", "text"),
    "--expires-at": ("expires_at", "text"),
    "--project": ("project", "path"),
    "-C": ("project", "path"),
}
PROJECT_ENV = "HEADWATER_PROJECT"  # read when --project is not given, as click does


def defaults() -> dict[str, Any]:
    found: dict[str, Any] = {name: None for name, _ in OPTIONS.values()}
    found.update(param=[], task_param=[], force=False, pipeline=None)
    return found


def parse(argv: list[str]) -> dict[str, Any] | None:
    """`run`'s keyword arguments from the words after `run`, or None for click to handle.

    Like click: options and the pipeline in any order, `--name=value`, `-jVALUE`, `--`
    ends the options, and HEADWATER_PROJECT stands for a missing --project."""
    found = defaults()
    positional: list[str] = []
    words = list(argv)
    while words:
        word = words.pop(0)
        if word == "--":
            positional += words
            break
        if word == "-" or not word.startswith("-"):
            positional.append(word)
            continue
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            attached = bool(equals)
        else:
            name, value = word[:2], word[2:]
            attached = bool(value)
        if name not in OPTIONS:
            return None
        parameter, kind = OPTIONS[name]
        if kind == "flag":
            if attached:
                return None
            found[parameter] = True
            continue
        if not attached:
            if not words:
                return None
            value = words.pop(0)
        if kind == "many":
            found[parameter].append(value)
        elif kind == "int":
            if not value.isascii():  # int() reads other scripts' digits; click does not
                return None
            try:
                number = int(value)
            except ValueError:
                return None  # click names the mistake
            if number < 1:
                return None
            found[parameter] = number
        elif kind == "path":
            if not value:
                return None
            from pathlib import Path  # only for -C and --params-file, as click makes them

            found[parameter] = Path(value)
        else:
            found[parameter] = value
    if len(positional) != 1:
        return None
    found["pipeline"] = positional[0]
    if found["project"] is None and os.environ.get(PROJECT_ENV):
        from pathlib import Path

        found["project"] = Path(os.environ[PROJECT_ENV])
    return found


def run_here(
    pipeline: str,
    param: list[str],
    task_param: list[str],
    params_file: Path | None,
    concurrency: int | None,
    force: bool,
    resume: str | None,
    start_at: str | None,
    start_in: str | None,
    expires_at: str | None,
    project: Path | None,
) -> None:
    """Run a pipeline in this process; exit with EXIT_FAILED unless it succeeded."""
    from headwater.cli.args import parse_params, parse_start_controls, parse_task_params
    from headwater.cli.display import RunDisplay
    from headwater.local import run_pipeline
    from headwater.services.context import open_services

    if not gc.isenabled():  # cli.main turned it off while headwater's modules loaded
        # They live as long as the process: collections, the interpreter's last one at
        # exit included, need not walk them. Frozen before the project's modules load,
        # so a user's objects never are. (On click's path cli.main froze them.)
        gc.freeze()
        gc.enable()
    with handled():
        settings = read_settings(project, concurrency=concurrency)
        args = parse_params(param, params_file)
        task_args = parse_task_params(task_param)
        controls = parse_start_controls(start_at, start_in, expires_at)
        loaded = open_project(settings)
        found = find_pipeline(loaded, pipeline)
        found.spec  # noqa: B018 - report definition problems before touching the database
        # Tasks run with the project folder as working directory, whatever -C said.
        os.chdir(settings.project_dir)
        capture_task_logging()
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
        raise SystemExit(EXIT_FAILED)

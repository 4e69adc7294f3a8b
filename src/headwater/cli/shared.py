"""What the commands share: reading settings, loading the project and finding a pipeline
in it. Free of typer, like `headwater.cli.run_here` which uses it."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from headwater.authoring.project import Project
    from headwater.authoring.registry import PipelineLike
    from headwater.config import Settings


def read_settings(project: Path | None, **overrides: Any) -> Settings:
    from headwater.config import load_settings

    return load_settings(project, **overrides)


_opened = False  # a project's modules were imported: a user's code has run


def open_project(settings: Settings, *, quiet: bool = False) -> Project:
    from headwater.authoring.project import load_project

    global _opened
    _opened = True  # before its modules load: one that fails has run code too
    project = load_project(settings)
    if not quiet:
        for error in project.errors:
            sys.stderr.write(f"warning: could not load {error}\n")
    return project


def find_pipeline(project: Project, name: str) -> PipelineLike:
    """A pipeline by name, or a recipe file given by path."""
    from headwater.authoring import RECIPE_SUFFIXES

    if os.path.splitext(name)[1] in RECIPE_SUFFIXES and os.path.exists(name):
        from pathlib import Path

        from headwater.authoring.recipes import load_recipe
        from headwater.authoring.registry import use_registry

        with use_registry(project.registry):
            return load_recipe(Path(name), register=False)
    return project.registry.get_pipeline(name)


def capture_task_logging() -> None:
    """Let tasks' INFO records reach their attempt logs. Only the attempt-log handler
    sees them: Python's last-resort handler still prints only warnings and errors.
    Done when logging is loaded (a run whose tasks do not log never loads it)."""
    from headwater.executors import capture

    capture.when_logging_loaded(_let_info_records_through)


def _let_info_records_through() -> None:
    import logging

    root = logging.getLogger()
    if root.level == logging.NOTSET or root.level > logging.INFO:
        # The console keeps showing only warnings and errors.
        for handler in root.handlers:
            if handler.level == logging.NOTSET:
                handler.setLevel(logging.WARNING)
        root.setLevel(logging.INFO)


def opened_a_project() -> bool:
    """Whether this process imported a project's modules (`open_project`)."""
    return _opened

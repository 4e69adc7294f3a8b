"""`headwater`: run pipelines, inspect projects, manage the database.

The commands live in modules named for what they do (`run_cmd`, `project_cmd`,
`serve_cmd`, ...); `headwater.cli.app` lists them and loads each one when it is used.
Usual `headwater run` command lines skip click altogether (`headwater.cli.run_here`).
"""

from __future__ import annotations

import gc
import os
import sys
from typing import TYPE_CHECKING, Any

from headwater.cli.errors import EXIT_FAILED, EXIT_INVALID

if TYPE_CHECKING:
    from headwater.cli.app import app


def main() -> None:
    try:
        _main()
    finally:
        # On its way out the interpreter collects garbage over every object still alive
        # and not frozen (~25 ms after SQLAlchemy loaded, say). Where no project was
        # opened no code of a user's ran, so there is nothing of theirs to finalize, and
        # everything is frozen. Where one was, that collection must run: a file a task
        # left open in a reference cycle is written only then.
        shared = sys.modules.get("headwater.cli.shared")
        if shared is None or not shared.opened_a_project():
            gc.freeze()


def _main() -> None:
    if sys.argv[1:2] == ["run"]:
        # headwater's own modules make objects that live as long as the process: the
        # cyclic garbage collector would walk them again and again while they load (~5 ms
        # of a one-task run). It is back on (those objects frozen) before the project's
        # modules load (run_here), or before click's do.
        gc.disable()
        from headwater.cli.run_here import parse, run_here

        arguments = parse(sys.argv[2:])
        if arguments is not None:  # else click parses it, and explains what is wrong
            try:
                run_here(**arguments)
            except KeyboardInterrupt:
                raise SystemExit(130) from None  # as typer ends a command on Ctrl-C
            except BrokenPipeError:  # `headwater run ... | head -1`: quietly, as click does
                sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - flushed at exit, never closed
                raise SystemExit(1) from None
            return
    gc.enable()
    from headwater.cli.app import app

    # headwater's, typer's and click's objects live as long as the process: collections,
    # the interpreter's last one at exit included, need not walk them. Frozen before any
    # of a project's code runs, so a user's objects never are.
    gc.freeze()
    app()


def __getattr__(name: str) -> Any:
    if name == "app":  # `from headwater.cli.main import app` (tests), without typer at start
        from headwater.cli.app import app

        return app
    raise AttributeError(name)


__all__ = ["EXIT_FAILED", "EXIT_INVALID", "app", "main"]

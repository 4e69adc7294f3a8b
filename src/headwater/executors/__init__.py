"""Executors: how an attempt's work is carried out (a thread, a child process, a shell
command; later a container or a Celery task), behind one small interface.

May import `headwater.domain`, `headwater.errors` and `headwater.authoring` (to call
Python tasks).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.executors.base import Executor


class Executors(dict[str, "Executor"]):
    """A worker's executors by name, each made (its module imported) when first asked
    for: a run of plain Python tasks never loads the process and command executors."""

    def __missing__(self, kind: str) -> Executor:
        made: Executor
        if kind == "inline":
            from headwater.executors.inline import InlineExecutor

            made = InlineExecutor()
        elif kind == "process":
            from headwater.executors.process import ProcessExecutor

            made = ProcessExecutor()
        elif kind == "command":
            from headwater.executors.command import CommandExecutor

            made = CommandExecutor()
        else:
            raise KeyError(kind)
        # Two threads may make one each at once: executors keep no state, either will do.
        return self.setdefault(kind, made)

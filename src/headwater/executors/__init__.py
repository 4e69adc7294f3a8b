"""Executors: how an attempt's work is carried out (a thread, a child process, a shell
command; later a container or a Celery task), behind one small interface.

May import `headwater.domain`, `headwater.errors` and `headwater.authoring` (to call
Python tasks).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from headwater.executors.base import Executor

# An executor's name -> (its module, its class).
_MADE_BY = {
    "inline": ("headwater.executors.inline", "InlineExecutor"),
    "process": ("headwater.executors.process", "ProcessExecutor"),
    "command": ("headwater.executors.command", "CommandExecutor"),
}


class Executors(dict[str, "Executor"]):
    """A worker's executors by name, each made (its module imported) when first asked
    for: a run of plain Python tasks never loads the process and command executors."""

    def __missing__(self, kind: str) -> Executor:
        module, name = _MADE_BY[kind]  # KeyError for an unknown one, as a plain dict's
        made: Executor = getattr(importlib.import_module(module), name)()
        # Two threads may make one each at once: executors keep no state, either will do.
        return self.setdefault(kind, made)

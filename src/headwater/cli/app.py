"""The `headwater` program: its command table, loading each command when it is used.

Typer reads every command's signature and type hints when the program starts (~40 ms
for 27 commands, before `headwater run` can begin). Here `COMMANDS` and `GROUPS` name
the module of each command; a module is imported, and its command turned into click's
form, only when the command runs or `--help` lists it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperGroup

# `headwater NAME`: the module that declares it with `@command`, in --help order.
COMMANDS = {
    "init": "headwater.cli.project_cmd",
    "list": "headwater.cli.project_cmd",
    "show": "headwater.cli.project_cmd",
    "validate": "headwater.cli.project_cmd",
    "run": "headwater.cli.run_cmd",
    "runs": "headwater.cli.run_cmd",
    "worker": "headwater.cli.worker_cmd",
    "workers": "headwater.cli.worker_cmd",
    "submit": "headwater.cli.run_cmd",
    "backfill": "headwater.cli.backfill_cmd",
    "cancel": "headwater.cli.run_cmd",
    "trigger": "headwater.cli.remote",
    "status": "headwater.cli.remote",
    "logs": "headwater.cli.remote",
    "serve": "headwater.cli.serve_cmd",
    "api": "headwater.cli.serve_cmd",
    "scheduler": "headwater.cli.serve_cmd",
    "recipe-schema": "headwater.cli.project_cmd",
    "version": "headwater.cli.project_cmd",
}
# `headwater NAME SUBCOMMAND`: (module, its Typer), in --help order.
GROUPS = {
    "db": ("headwater.cli.db_cmd", "db_app"),
    "limits": ("headwater.cli.limits_cmd", "limits_app"),
    "sensors": ("headwater.cli.sensors_cmd", "sensors_app"),
    "schedules": ("headwater.cli.schedules_cmd", "schedules_app"),
    "backfills": ("headwater.cli.backfill_cmd", "backfills_app"),
}

F = TypeVar("F", bound=Callable[..., Any])

# The --project option every command that reads a project takes.
ProjectOpt = Annotated[
    Path | None,
    typer.Option(
        "--project",
        "-C",
        help="Project folder (default: the current folder).",
        envvar="HEADWATER_PROJECT",
    ),
]
_declared: dict[str, tuple[str, typer.Typer]] = {}  # name -> (module, a Typer holding it)


def command(name: str | None = None) -> Callable[[F], F]:
    """Declare the `headwater NAME` command (like `Typer.command`; list it in `COMMANDS`)."""

    def declare(fn: F) -> F:
        found = name or fn.__name__.strip("_").replace("_", "-")
        holder = typer.Typer(add_completion=False)
        holder.command(found)(fn)
        _declared[found] = (fn.__module__, holder)
        return fn

    return declare


def _build(name: str) -> Any:
    if name in GROUPS:
        module, attribute = GROUPS[name]
        group = typer.main.get_group(getattr(importlib.import_module(module), attribute))
        group.name = name
        return group
    importlib.import_module(COMMANDS[name])
    module, holder = _declared.get(name, ("nowhere", typer.Typer()))
    if module != COMMANDS[name]:
        raise LookupError(f"command {name!r} is not declared in {COMMANDS[name]}")
    return typer.main.get_command(holder)


class _Commands(MutableMapping[str, Any]):
    """The click commands by name (typer's own copy of click, which it does not export),
    each built when first looked up."""

    def __init__(self) -> None:
        self._built: dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._built:
            if name not in COMMANDS and name not in GROUPS:
                raise KeyError(name)
            self._built[name] = _build(name)
        return self._built[name]

    def __setitem__(self, name: str, value: Any) -> None:
        self._built[name] = value

    def __delitem__(self, name: str) -> None:
        del self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(dict.fromkeys([*COMMANDS, *GROUPS, *self._built]))

    def __len__(self) -> int:
        return len(set(COMMANDS) | set(GROUPS) | set(self._built))


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
    pass  # makes `app` a group; its commands are the tables above

"""`headwater run` parsed without click (headwater.cli.run_here) means what click means.

The typer declaration in headwater.cli.run_cmd is the command's definition: the fast
parser must know exactly its options, read every line it accepts as click reads it, and
leave every line it is unsure of to click.
"""

from __future__ import annotations

import inspect
import sys
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import typer
from typer._click.exceptions import UsageError

from headwater.cli import run_cmd, run_here
from headwater.cli.app import app
from headwater.cli.main import main


def _click_command() -> Any:
    group = typer.main.get_command(app)
    return group.get_command(typer.Context(group), "run")  # type: ignore[attr-defined]


def _by_click(argv: list[str]) -> dict[str, Any]:
    params = dict(_click_command().make_context("run", list(argv)).params)
    return _comparable(params)


def _comparable(params: dict[str, Any]) -> dict[str, Any]:
    return {
        name: (
            [str(item) for item in value]
            if isinstance(value, list | tuple)
            else str(value)
            if isinstance(value, Path)
            else value
        )
        for name, value in params.items()
    }


def _kind(annotation: Any) -> str:
    """The fast parser's kind for a parameter of run_cmd.run, from its type hint."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        (annotation,) = set(typing.get_args(annotation)) - {type(None)}
    hint = annotation
    if typing.get_origin(hint) is list:
        return "many"
    return {bool: "flag", int: "int", Path: "path", str: "text"}[hint]


def test_the_fast_parser_knows_exactly_the_declared_options() -> None:
    hints = typing.get_type_hints(run_cmd.run)
    declared: dict[str, tuple[str, str]] = {}
    for param in _click_command().params:
        if param.param_type_name == "option" and param.name != "help":
            for spelling in [*param.opts, *param.secondary_opts]:
                declared[spelling] = (param.name, _kind(hints[param.name]))

    assert declared == run_here.OPTIONS
    assert set(inspect.signature(run_cmd.run).parameters) == set(run_here.defaults())
    assert set(inspect.signature(run_here.run_here).parameters) == set(run_here.defaults())


ACCEPTED = [
    ["etl"],
    ["etl", "-j", "4"],
    ["-j4", "etl"],
    ["--concurrency=2", "etl", "--force"],
    ["etl", "-p", "a=1", "--param", "b=[1, 2]", "-pc=3", "--param=d=x"],
    ["etl", "-t", "load.limit=5", "--task-param", "n.k=v"],
    ["etl", "-p", "-x"],  # an option's value may start with a dash
    ["--", "etl"],
    ["-j", "2", "--", "-odd-name"],
    ["etl", "--resume", "0123abc", "--start-in", "2s"],
    ["etl", "--start-at", "2026-01-01T00:00", "--expires-at", "2026-01-02"],
    ["-C", "/tmp/project", "etl"],
    ["--project=/tmp/project", "etl", "--params-file", "args.json"],
    ["etl", "-j", "+3"],
    ["pipelines/etl.yaml", "-p", "a="],
]


@pytest.mark.parametrize("argv", ACCEPTED, ids=" ".join)
def test_an_accepted_command_line_means_what_click_reads(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(run_here.PROJECT_ENV, raising=False)

    parsed = run_here.parse(argv)

    assert parsed is not None
    assert _comparable(parsed) == _by_click(argv)


@pytest.mark.parametrize("value", ["/srv/etl", ""])
def test_the_project_comes_from_the_environment_as_click_reads_it(
    value: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(run_here.PROJECT_ENV, value)

    parsed = run_here.parse(["etl"])

    assert parsed is not None
    assert _comparable(parsed) == _by_click(["etl"])
    assert parsed["project"] == (Path(value) if value else None)


REFUSED = [
    [],
    ["-h"],
    ["etl", "--help"],
    ["etl", "other"],
    ["etl", "--no-such-option"],
    ["etl", "-x"],
    ["etl", "-j", "0"],
    ["etl", "-j", "many"],
    ["etl", "-j", "\u0663"],  # an Arabic-Indic 3: int() reads it, click does not
    ["etl", "-j"],
    ["etl", "--force=yes"],
    ["etl", "--params-file="],
]


@pytest.mark.parametrize("argv", REFUSED, ids=lambda argv: " ".join(argv) or "nothing")
def test_a_line_the_fast_parser_is_unsure_of_goes_to_click(argv: list[str]) -> None:
    assert run_here.parse(argv) is None
    if argv != ["etl", "--params-file="]:  # click takes an empty path and the run says why
        with pytest.raises((UsageError, typer.Exit)):  # an error, or the help printed
            _click_command().make_context("run", list(argv))


@pytest.mark.parametrize("argv", [["etl"], ["etl", "--params-file="]], ids=["fast", "click"])
def test_ctrl_c_ends_a_run_as_typer_ends_a_command(
    argv: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*_: Any, **__: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(run_here, "run_here", interrupted)
    monkeypatch.setattr(sys, "argv", ["headwater", "run", *argv])

    with pytest.raises(SystemExit) as ended:
        main()

    assert ended.value.code == 130

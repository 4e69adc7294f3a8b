"""`headwater init`, `list`, `show`, `validate`, `recipe-schema` and `version`: a
project's definitions, without running anything."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import typer

from headwater.cli.app import ProjectOpt, command
from headwater.cli.errors import EXIT_INVALID, handled
from headwater.cli.shared import find_pipeline, open_project, read_settings


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
        loaded = open_project(read_settings(project))
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
        spec = find_pipeline(open_project(read_settings(project), quiet=True), pipeline).spec
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
        loaded = open_project(read_settings(project), quiet=True)
        if pipeline is not None:
            find_pipeline(loaded, pipeline).spec  # noqa: B018 - compiling validates
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


@command("recipe-schema")
def recipe_schema() -> None:
    """Print the JSON Schema of recipe files."""
    from headwater.authoring.recipes import recipe_json_schema

    typer.echo(json.dumps(recipe_json_schema(), indent=2))


@command()
def version() -> None:
    """Print headwater's version."""
    from headwater import __version__

    typer.echo(__version__)

"""The command table of `headwater` (headwater.cli.app): every listed command loads.

Commands are imported only when used, so a name listed for the wrong module, or a module
that fails to import, would otherwise show up only when someone runs that command.
"""

from __future__ import annotations

import pytest
import typer

from headwater.cli.app import COMMANDS, GROUPS, app


@pytest.mark.parametrize("name", [*COMMANDS, *GROUPS])
def test_every_listed_command_loads_under_its_name(name: str) -> None:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)

    command = group.get_command(ctx, name)  # type: ignore[attr-defined]

    assert command is not None
    assert command.name == name
    assert command.help


def test_help_lists_the_commands_in_table_order() -> None:
    group = typer.main.get_command(app)

    assert group.list_commands(typer.Context(group)) == [*COMMANDS, *GROUPS]  # type: ignore[attr-defined]

"""`headwater db upgrade`: create or upgrade the database schema."""

from __future__ import annotations

import typer

from headwater.cli.app import ProjectOpt
from headwater.cli.errors import handled
from headwater.cli.shared import read_settings

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def db_upgrade(project: ProjectOpt = None) -> None:
    """Create or upgrade the database schema to the newest version."""
    from headwater.store.engine import open_database
    from headwater.store.migrate import HEAD_REVISION, upgrade

    with handled():
        settings = read_settings(project)
        db = open_database(settings.database_url)
        try:
            upgrade(db)
        finally:
            db.dispose()
    typer.echo(f"database at revision {HEAD_REVISION}: {_redact(settings.database_url)}")


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)

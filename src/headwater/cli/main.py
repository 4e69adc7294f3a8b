"""`headwater`: run pipelines, inspect projects, manage the database.

The commands live in modules named for what they do (`run_cmd`, `project_cmd`,
`serve_cmd`, ...); `headwater.cli.app` lists them and loads each one when it is used.
"""

from __future__ import annotations

from headwater.cli.app import app
from headwater.cli.errors import EXIT_FAILED, EXIT_INVALID


def main() -> None:
    app()


__all__ = ["EXIT_FAILED", "EXIT_INVALID", "app", "main"]

"""The published documents stay true to the code."""

from __future__ import annotations

import json
from pathlib import Path

from headwater.authoring.recipes import recipe_json_schema

ROOT = Path(__file__).resolve().parents[2]


def test_published_recipe_schema_is_current() -> None:
    published = json.loads((ROOT / "docs" / "recipe.schema.json").read_text())
    assert published == recipe_json_schema(), (
        "run: headwater recipe-schema > docs/recipe.schema.json"
    )


def test_readme_names_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make demo" in readme
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()

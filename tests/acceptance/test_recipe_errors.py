"""A recipe with several mistakes: every one is reported, with its place, in one go."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from .conftest import count_rows, explain, hw, sqlite_db

RECIPE = """\
name: broken_recipe
params:
  min_amount: {type: number, default: 0}
tasks:
  - id: extract
    task: pipelines.etl.extract
    args: {source: data/orders.csv}
  - id: check
    task: pipelines.etl.validate
    args: {rows: {$output: extract}, min_amount: "lots"}
  - id: ping
    task: pipelines.etl.extract
    args: {source: data/orders.csv}
    after: [pong]
  - id: pong
    task: pipelines.etl.extract
    args: {source: data/orders.csv}
    after: [ping]
  - id: report
    task: pipelines.etl.no_such_task
    args: {checked: {$output: check}}
"""
PROBLEM = re.compile(r"^\s*(?P<file>\S+): (?P<path>\$\.tasks\[\d+\]\S*): (?P<message>.+)$")


def _problems(result: subprocess.CompletedProcess[str]) -> list[re.Match[str]]:
    return [m for m in map(PROBLEM.match, result.stderr.splitlines()) if m]


def _assert_three_problems_reported(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 2, explain(result)
    problems = _problems(result)
    assert problems, explain(result)
    assert {Path(m["file"]).name for m in problems} == {"broken_recipe.yaml"}, explain(result)

    def found(path: str, *words: str) -> bool:
        return any(m["path"] == path and all(w in m["message"] for w in words) for m in problems)

    assert found("$.tasks[1].args.min_amount", "'lots'", "number"), explain(result)
    assert any(
        m["path"] in ("$.tasks[2]", "$.tasks[3]")
        and "cycle" in m["message"]
        and "ping" in m["message"]
        and "pong" in m["message"]
        for m in problems
    ), explain(result)
    assert found("$.tasks[4].task", "unknown task", "pipelines.etl.no_such_task"), explain(result)


def test_validate_and_run_report_every_recipe_problem_and_write_nothing(
    examples: Path, tmp_path: Path
) -> None:
    recipe = examples / "broken_recipe.yaml"
    recipe.write_text(RECIPE, encoding="utf-8")

    checked = hw("validate", "broken_recipe.yaml", cwd=examples)
    _assert_three_problems_reported(checked)

    ran = hw("run", "-C", examples, recipe, cwd=tmp_path)
    _assert_three_problems_reported(ran)
    assert "started" not in ran.stderr
    assert not sqlite_db(examples).exists() or (
        count_rows(examples, "runs") == 0 and count_rows(examples, "pipelines") == 0
    )

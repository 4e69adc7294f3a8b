"""Helpers for driving the `headwater` command in subprocesses.

Every test works on a copy of the examples project in a temporary folder, so runs never
write into the repository; the database is the default SQLite file in the copy's
`.headwater/` folder unless a test says otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

HEADWATER = Path(sys.executable).with_name("headwater")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
TIMEOUT_SECONDS = 60
STATES = "succeeded|cached|failed|upstream_failed|cancelled|running|ready|pending"
_SUMMARY_ROW = re.compile(rf"^\s*(\S+)\s+({STATES})\s+(\d+)\s+(\S+)\s*$")
_STARTED = re.compile(r"^run ([0-9a-f]{32}) started$", re.MULTILINE)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment a user's shell would give: no HEADWATER_* settings leaking in from
    the test run, no pytest variables, and a wide console so tables do not wrap."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("HEADWATER_", "PYTEST_")) and k not in ("COLUMNS", "LINES")
    }
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def hw(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `headwater ARGS...` in `cwd`; `env` adds to (or overrides) a clean environment."""
    return subprocess.run(
        [str(HEADWATER), *map(str, args)],
        cwd=cwd,
        env=clean_env(**(env or {})),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_SECONDS,
        check=False,
    )


def explain(result: subprocess.CompletedProcess[str]) -> str:
    """What to show when an assertion on a command fails."""
    return (
        f"$ {' '.join(result.args)}\nexit {result.returncode}\n"
        f"--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    )


def run_id_of(result: subprocess.CompletedProcess[str]) -> str:
    """The id from the `run <id> started` line that `headwater run` prints on stderr."""
    found = _STARTED.findall(result.stderr)
    assert len(found) == 1, explain(result)
    return str(found[0])


def summary_rows(stdout: str) -> dict[str, tuple[str, int]]:
    """The run summary table as {task: (state, attempts)}."""
    rows = {}
    for line in stdout.splitlines():
        match = _SUMMARY_ROW.match(line)
        if match:
            rows[match[1]] = (match[2], int(match[3]))
    return rows


def summary_states(stdout: str) -> dict[str, str]:
    return {task: state for task, (state, _) in summary_rows(stdout).items()}


def sqlite_db(project: Path) -> Path:
    return project / ".headwater" / "headwater.db"


def count_rows(project: Path, table: str) -> int:
    """Rows in a table of the project's SQLite database; 0 if there is no database."""
    db = sqlite_db(project)
    if not db.exists():
        return 0
    with sqlite3.connect(db) as conn:
        exists = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()[0]
        if not exists:
            return 0
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


ONE_TASK_PIPELINE = """
from headwater import pipeline, task


@task
def one() -> int:
    return 1


@pipeline
def just_one():
    return one()
"""


def one_task_project(root: Path) -> Path:
    """A project in `root` with one pipeline, `just_one`, of one task, `one`."""
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "one.py").write_text(ONE_TASK_PIPELINE)
    return root


def copy_examples(target: Path) -> Path:
    """A fresh copy of the examples project, without any state a local run left there."""
    shutil.copytree(
        EXAMPLES, target, ignore=shutil.ignore_patterns(".headwater", "__pycache__", "*.pyc")
    )
    return target


@pytest.fixture
def examples(tmp_path: Path) -> Path:
    """A private copy of the examples project."""
    return copy_examples(tmp_path / "examples")

"""`headwater submit` then `headwater cancel`, as a user would, with no worker running."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from .conftest import explain, hw, sqlite_db


def _states(project: Path, run_id: str) -> dict[str, str]:
    with sqlite3.connect(sqlite_db(project)) as db:
        rows = db.execute(
            "SELECT node_id, state FROM task_runs WHERE run_id = ? AND map_index = -1", (run_id,)
        )
        return dict(rows.fetchall())


def test_submit_then_cancel_a_node_then_the_run(examples: Path) -> None:
    submitted = hw("submit", "orders_etl", cwd=examples)
    assert submitted.returncode == 0, explain(submitted)
    run_id = submitted.stdout.strip()
    assert len(run_id) == 32
    assert _states(examples, run_id)["extract"] == "ready"  # waiting for a worker

    one = hw("cancel", run_id, "--node", "extract", cwd=examples)
    assert one.returncode == 0, explain(one)
    assert "cancelled" in one.stdout
    states = _states(examples, run_id)
    assert states["extract"] == "cancelled"
    assert states["validate"] == "upstream_failed"

    listed = hw("runs", cwd=examples)
    assert run_id in listed.stdout, explain(listed)
    assert "failed" in listed.stdout, explain(listed)
    again = hw("cancel", run_id, cwd=examples)
    assert again.returncode == 0, explain(again)
    assert "already finished" in again.stdout


def test_cancel_reports_bad_input_with_exit_code_2(examples: Path) -> None:
    submitted = hw("submit", "word_count", cwd=examples)
    run_id = submitted.stdout.strip()
    bad_node = hw("cancel", run_id, "--node", "count_words[x]", cwd=examples)
    assert bad_node.returncode == 2, explain(bad_node)
    assert "--node" in bad_node.stderr
    unknown = hw("cancel", "0" * 32, cwd=examples)
    assert unknown.returncode == 2, explain(unknown)
    assert "no run" in unknown.stderr

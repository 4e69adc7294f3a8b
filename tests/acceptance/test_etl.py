"""The ETL example from the command line: outputs in the store and the database, caching,
`runs`, `--force`."""

from __future__ import annotations

import csv
import json
import sqlite3
from contextlib import closing
from pathlib import Path

from .conftest import explain, hw, run_id_of, sqlite_db, summary_rows, summary_states

TASKS = ("extract", "validate", "write_clean", "write_error_report")


def _attempt_folders(artifacts: Path) -> set[Path]:
    return {p for p in artifacts.glob("*/*/attempts/*") if p.is_dir()}


def _task_dir(artifacts: Path, task: str) -> Path:
    found = [p for p in artifacts.glob(f"pipelines.etl.{task}/*") if p.is_dir()]
    assert len(found) == 1, f"expected one artifact folder for {task}, found {found}"
    return found[0]


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_etl_runs_once_then_is_cached_and_force_runs_it_again(
    examples: Path, tmp_path: Path
) -> None:
    artifacts = examples / ".headwater" / "artifacts" / "orders_etl"

    first = hw("run", "-C", examples, "orders_etl", cwd=tmp_path)
    assert first.returncode == 0, explain(first)
    assert summary_states(first.stdout) == dict.fromkeys(TASKS, "succeeded"), explain(first)

    clean_dir = _task_dir(artifacts, "write_clean")
    errors_dir = _task_dir(artifacts, "write_error_report")
    clean, errors = clean_dir / "clean.csv", errors_dir / "errors.csv"
    written = json.loads((clean_dir / "output.json").read_text())
    assert written["rows"] == len(_csv_rows(clean)) > 0
    assert Path(written["path"]) == clean
    error_rows = _csv_rows(errors)
    assert error_rows, "the example data has bad rows; errors.csv should list them"
    assert set(error_rows[0]) == {"line", "field", "message"}
    assert any(r["message"] == "unknown currency 'XYZ'" for r in error_rows)
    for task in ("write_clean", "write_error_report"):  # they wrote files: all in the store
        folder = _task_dir(artifacts, task)
        assert (folder / "output.json").is_file(), task
        assert (folder / "params.json").is_file(), task
    # extract and validate returned small JSON and wrote no file: the database keeps it.
    assert not list(artifacts.glob("pipelines.etl.extract/*/output.json"))
    with closing(sqlite3.connect(sqlite_db(examples))) as db:
        kept = dict(
            db.execute(
                "SELECT task, args FROM task_runs WHERE run_id = ? AND output IS NOT NULL",
                (run_id_of(first),),
            )
        )
    assert json.loads(kept["pipelines.etl.extract"]) == {"source": "data/orders.csv"}

    # Attempt log folders exist for the tasks that printed or logged something.
    attempts_after_first = _attempt_folders(artifacts)
    assert attempts_after_first, "the ETL tasks log their progress"
    mtimes = {p: p.stat().st_mtime_ns for p in (clean, errors, clean_dir / "output.json")}

    second = hw("run", "-C", examples, "orders_etl", cwd=tmp_path)
    assert second.returncode == 0, explain(second)
    assert summary_states(second.stdout) == dict.fromkeys(TASKS, "cached"), explain(second)
    assert _attempt_folders(artifacts) == attempts_after_first, "a cached task ran again"
    assert {p: p.stat().st_mtime_ns for p in mtimes} == mtimes, "a cached output was rewritten"

    listed = hw("runs", "-C", examples, cwd=tmp_path)
    assert listed.returncode == 0, explain(listed)
    for run_id in (run_id_of(first), run_id_of(second)):
        line = next((ln for ln in listed.stdout.splitlines() if run_id in ln), None)
        assert line is not None, f"run {run_id} is not listed\n{explain(listed)}"
        assert "orders_etl" in line
        assert "succeeded" in line

    forced = hw("run", "-C", examples, "orders_etl", "--force", cwd=tmp_path)
    assert forced.returncode == 0, explain(forced)
    rows = summary_rows(forced.stdout)
    assert {task: state for task, (state, _) in rows.items()} == dict.fromkeys(
        TASKS, "succeeded"
    ), explain(forced)
    new_attempts = _attempt_folders(artifacts) - attempts_after_first
    assert len(new_attempts) == len(attempts_after_first), sorted(p.name for p in new_attempts)
    assert all(run_id_of(forced) in p.name for p in new_attempts)
    assert clean.stat().st_mtime_ns > mtimes[clean]


def test_runs_shows_whole_run_ids_on_an_80_column_console(examples: Path) -> None:
    started = hw("run", "orders_etl", cwd=examples)
    assert started.returncode == 0, explain(started)
    listed = hw("runs", cwd=examples, env={"COLUMNS": "80"})
    assert listed.returncode == 0, explain(listed)
    # The id is what `headwater run --resume RUN_ID` needs; a user copies it from here.
    assert run_id_of(started) in listed.stdout, explain(listed)

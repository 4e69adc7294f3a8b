"""`headwater backfill`, `headwater backfills` and `headwater schedules` as a user runs
them, on the examples project (SQLite)."""

from __future__ import annotations

from pathlib import Path

from .conftest import explain, hw


def test_backfill_runs_every_date_and_lists_it(examples: Path) -> None:
    made = hw(
        "backfill",
        "word_count",
        "--start",
        "2026-01-01",
        "--end",
        "2026-01-03",
        "-p",
        "top=1",
        "--max-running",
        "2",
        "--worker",
        cwd=examples,
    )
    assert made.returncode == 0, explain(made)
    backfill_id = made.stdout.strip()
    assert len(backfill_id) == 32, explain(made)
    assert "3 runs of word_count, 2 at a time" in made.stderr
    listed = hw("backfills", cwd=examples)
    assert f"{backfill_id}  word_count  succeeded  (3 succeeded)" in listed.stdout, explain(listed)


def test_backfill_cancel_as_a_whole_and_bad_ranges(examples: Path) -> None:
    made = hw(
        "backfill",
        "word_count",
        "--start",
        "2026-01-01",
        "--end",
        "2026-03-31",
        "--no-wait",
        cwd=examples,
    )
    assert made.returncode == 0, explain(made)
    backfill_id = made.stdout.strip()
    cancelled = hw("backfills", "cancel", backfill_id, cwd=examples)
    assert cancelled.returncode == 0, explain(cancelled)
    assert "cancelled  (90 cancelled)" in cancelled.stdout, explain(cancelled)

    bad = hw("backfill", "word_count", "--start", "2026-02-01", "--end", "2026-01-01", cwd=examples)
    assert bad.returncode == 2, explain(bad)
    assert "end: must not be before start" in bad.stderr
    unknown = hw("backfills", "cancel", "nope", cwd=examples)
    assert unknown.returncode != 0
    assert "no backfill 'nope'" in unknown.stderr


def test_schedules_list_pause_and_resume(examples: Path) -> None:
    (examples / "pipelines" / "scheduled.py").write_text(
        "from headwater import pipeline, schedule\n"
        "from pipelines.wordcount import count_words\n\n"
        "@schedule('30 2 * * *', timezone='Europe/London')\n"
        "@pipeline\n"
        "def nightly_count():\n"
        "    return count_words('the the river')\n"
    )
    registered = hw("submit", "nightly_count", cwd=examples)  # registers the code location
    assert registered.returncode == 0, explain(registered)
    listed = hw("schedules", cwd=examples)
    assert "nightly_count" in listed.stdout, explain(listed)
    assert "30 2 * * *" in listed.stdout
    assert "Europe/London" in listed.stdout
    paused = hw("schedules", "pause", "nightly_count", cwd=examples)
    assert paused.stdout.strip() == "nightly_count: paused", explain(paused)
    assert hw("schedules", "resume", "nightly_count", cwd=examples).stdout.strip() == (
        "nightly_count: active"
    )

"""Working with a project from the command line: init, list, show, run's argument checks,
a recipe with a command step, and PostgreSQL instead of the default SQLite file."""

from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import sqlalchemy as sa

from .conftest import (
    clean_env,
    count_rows,
    explain,
    hw,
    one_task_project,
    run_id_of,
    sqlite_db,
    summary_states,
)

EXAMPLE_PIPELINES = ("orders_etl", "orders_report", "word_count")


@pytest.fixture(scope="module")
def new_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by `headwater init`."""
    where = tmp_path_factory.mktemp("init")
    created = hw("init", "weather", cwd=where)
    assert created.returncode == 0, explain(created)
    return where / "weather"


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and not {".headwater", "__pycache__", ".pytest_cache"} & set(p.parts)
    }


def test_init_makes_a_project_that_runs_and_whose_test_passes(new_project: Path) -> None:
    assert (new_project / "pipelines" / "hello.py").is_file()
    ran = hw("run", "hello", "-p", "name=Ada", cwd=new_project)
    assert ran.returncode == 0, explain(ran)
    assert summary_states(ran.stdout) == {"greet": "succeeded", "count_letters": "succeeded"}
    assert 'output: {"greeting": "Hello, Ada!", "letters": 8}' in ran.stdout, explain(ran)

    tested = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            str(new_project / "tests"),
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=new_project,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert tested.returncode == 0, explain(tested)
    assert "2 passed" in tested.stdout, explain(tested)


def test_init_refuses_to_overwrite_a_project(new_project: Path) -> None:
    before = _files(new_project)
    again = hw("init", new_project.name, cwd=new_project.parent)
    assert again.returncode != 0, explain(again)
    assert "not overwriting" in again.stderr, explain(again)
    assert "hello.py" in again.stderr, explain(again)
    assert "Traceback" not in again.stderr
    assert _files(new_project) == before


def test_list_shows_the_pipelines_of_the_project(examples: Path) -> None:
    listed = hw("list", "-C", examples, cwd=examples.parent)
    assert listed.returncode == 0, explain(listed)
    # A row starts with the name and the node count; wrapped descriptions add lines too.
    names = re.findall(r"^\s*(\w+)\s+\d+\s", listed.stdout, re.MULTILINE)
    assert names == list(EXAMPLE_PIPELINES), explain(listed)
    assert listed.stderr == ""


def test_a_module_that_fails_to_import_is_reported_and_the_rest_still_work(
    examples: Path,
) -> None:
    (examples / "pipelines" / "broken.py").write_text(
        'raise ValueError("the broken module says boom")\n', encoding="utf-8"
    )
    listed = hw("list", cwd=examples)
    assert listed.returncode == 0, explain(listed)
    assert "pipelines.broken" in listed.stderr, explain(listed)
    assert "Traceback (most recent call last)" in listed.stderr, explain(listed)
    assert "ValueError: the broken module says boom" in listed.stderr, explain(listed)
    for name in EXAMPLE_PIPELINES:
        assert name in listed.stdout, explain(listed)

    ran = hw("run", "word_count", "-p", "top=3", cwd=examples)
    assert ran.returncode == 0, explain(ran)
    assert "ValueError: the broken module says boom" in ran.stderr, explain(ran)
    assert summary_states(ran.stdout)["merge_counts"] == "succeeded", explain(ran)
    assert re.search(r'output: \[\["the", \d+\], \["\w+", \d+\], \["\w+", \d+\]\]', ran.stdout)


def test_show_prints_nodes_and_parameters_without_creating_a_database(examples: Path) -> None:
    shown = hw("show", "orders_etl", cwd=examples)
    assert shown.returncode == 0, explain(shown)
    for word in (
        "extract",
        "validate",
        "write_clean",
        "write_error_report",
        "pipelines.etl.validate",
        "retries=2",
    ):
        assert word in shown.stdout, f"{word!r} missing\n{explain(shown)}"
    params = re.findall(r"^\s+(\w+): (\w+)", shown.stdout, re.MULTILINE)
    assert ("source", "string") in params, explain(shown)
    assert ("min_amount", "number") in params, explain(shown)
    assert not sqlite_db(examples).exists()


def test_show_json_prints_the_spec(examples: Path) -> None:
    shown = hw("show", "orders_report", "--json", cwd=examples)
    assert shown.returncode == 0, explain(shown)
    spec = json.loads(shown.stdout)
    assert spec["name"] == "orders_report"
    assert [n["id"] for n in spec["nodes"]] == ["extract", "validate", "clean", "line_count"]
    assert set(spec["params"]["properties"]) == {"source", "min_amount"}


def test_run_of_an_unknown_pipeline_exits_2_naming_it(examples: Path) -> None:
    ran = hw("run", "no_such_pipeline", cwd=examples)
    assert ran.returncode == 2, explain(ran)
    assert "no_such_pipeline" in ran.stderr, explain(ran)
    assert "Traceback" not in ran.stderr
    assert count_rows(examples, "runs") == 0


def test_a_mistake_in_a_new_project_leaves_no_database_behind(tmp_path: Path) -> None:
    """`headwater run` builds a new project's database while it loads, and names it only
    once the pipeline is found."""
    project = one_task_project(tmp_path)
    ran = hw("run", "no_such_pipeline", cwd=project)
    assert ran.returncode == 2, explain(ran)
    assert not (project / ".headwater").exists()

    ran = hw("run", "just_one", cwd=project)
    assert ran.returncode == 0, explain(ran)
    names = {p.name for p in (project / ".headwater").iterdir()}
    assert "headwater.db" in names
    assert not [name for name in names if name.endswith(".new")]  # no build left over


def test_a_param_without_equals_sign_exits_2(examples: Path) -> None:
    ran = hw("run", "orders_etl", "-p", "min_amount", cwd=examples)
    assert ran.returncode == 2, explain(ran)
    assert "KEY=VALUE" in ran.stderr, explain(ran)
    assert "'min_amount'" in ran.stderr, explain(ran)
    assert count_rows(examples, "runs") == 0


def test_a_run_argument_of_the_wrong_type_exits_2_and_runs_nothing(examples: Path) -> None:
    ran = hw("run", "orders_etl", "-p", "min_amount=abc", cwd=examples)
    assert ran.returncode == 2, explain(ran)
    assert "min_amount" in ran.stderr, explain(ran)
    assert "'abc'" in ran.stderr, explain(ran)
    assert "started" not in ran.stderr
    assert count_rows(examples, "runs") == 0
    assert count_rows(examples, "task_runs") == 0
    assert not (examples / ".headwater" / "artifacts" / "orders_etl").exists()


def test_the_recipe_with_a_command_step_runs_and_prints_its_output(examples: Path) -> None:
    ran = hw("run", "orders_report", "-p", "min_amount=100", cwd=examples)
    assert ran.returncode == 0, explain(ran)
    assert summary_states(ran.stdout) == dict.fromkeys(
        ("extract", "validate", "clean", "line_count"), "succeeded"
    ), explain(ran)
    artifacts = examples / ".headwater" / "artifacts" / "orders_report"
    (clean,) = artifacts.glob("pipelines.etl.write_clean/*/clean.csv")
    lines = len(clean.read_text(encoding="utf-8").splitlines()) - 1
    assert lines > 0
    assert f'output: {{"lines": {lines}, "min_amount": 100}}' in ran.stdout, explain(ran)
    (log,) = artifacts.glob("orders_report.line_count/*/attempts/*/stdout.log")
    assert f"clean file has {lines} data lines (minimum amount 100)" in log.read_text()
    with closing(sqlite3.connect(sqlite_db(examples))) as db:
        (args,) = db.execute(
            "SELECT args FROM task_runs WHERE run_id = ? AND task = 'pipelines.etl.validate'",
            (run_id_of(ran),),
        ).fetchone()
    assert json.loads(args)["min_amount"] == 100  # a small output: kept in the database


def test_db_upgrade_and_a_run_on_postgresql(examples: Path, empty_postgres_url: str) -> None:
    postgres_url = empty_postgres_url
    env = {"HEADWATER_DATABASE_URL": postgres_url}
    upgraded = hw("db", "upgrade", cwd=examples, env=env)
    assert upgraded.returncode == 0, explain(upgraded)
    assert "database at revision" in upgraded.stdout, explain(upgraded)
    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            assert sa.inspect(conn).has_table("runs")
            assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

        ran = hw("run", "orders_etl", cwd=examples, env=env)
        assert ran.returncode == 0, explain(ran)
        assert set(summary_states(ran.stdout).values()) == {"succeeded"}, explain(ran)
        with engine.connect() as conn:
            state = conn.execute(
                sa.text("SELECT state FROM runs WHERE id = :id"), {"id": run_id_of(ran)}
            ).scalar()
        assert state == "succeeded"
    finally:
        engine.dispose()
    assert not sqlite_db(examples).exists(), "the run used SQLite, not PostgreSQL"

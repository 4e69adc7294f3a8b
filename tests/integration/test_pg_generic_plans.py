"""Statements PostgreSQL runs many times find a run's rows by index in its generic plan too.

psycopg prepares a statement on the server after a few executions, and PostgreSQL then
may plan it once for any values (a generic plan). A value bound as a parameter where an
index's WHERE needs a literal (the partial indexes of ready task runs), or an ORDER BY
id with a LIMIT, then let it walk every task run in id order: the CLI's live display
read the whole table ten times a second. The statements are the store's own, captured
as they run, then planned with `plan_cache_mode = force_generic_plan` on a table of
~40,000 task runs of 200 runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.services.context import Services, open_services
from headwater.services.runs import register_pipeline, start_run
from headwater.store import claims as claim_store
from headwater.store import runs as run_store
from headwater.store.sql import NOW

pytestmark = pytest.mark.postgres

REGISTRY = Registry()
ELEMENTS = 10_000
OTHER_RUNS = 199
OTHER_ELEMENTS = 150

with use_registry(REGISTRY):

    @task
    def listed(n: int) -> list[int]:
        return list(range(n))

    @task
    def each(x: int) -> int:
        return x

    @pipeline
    def wide(n: int = 3):
        return each.map(listed(n))


@pytest.fixture
def svc(empty_postgres_url: str, tmp_path: Any) -> Iterator[Services]:
    settings = Settings(
        project_dir=tmp_path, database_url=empty_postgres_url, artifacts=str(tmp_path / "a")
    )
    made = open_services(settings)
    yield made
    # Later tests on this database start empty (their fixtures truncate it) and with the
    # statistics of an empty one, not of these 40,000 rows.
    with made.db.engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(sa.text("TRUNCATE task_runs, runs RESTART IDENTITY CASCADE"))
        conn.execute(sa.text("ANALYZE"))
    made.close()


def _run_with_many_task_runs(svc: Services) -> str:
    """A run of ELEMENTS task runs among OTHER_RUNS runs of OTHER_ELEMENTS each, analyzed:
    the generic plan's estimate of a run's rows is then the table's over its runs."""
    register_pipeline(svc, wide.spec)
    run_id = start_run(svc, "wide")
    insert = (
        "INSERT INTO task_runs (run_id, node_id, map_index, task, state, queue,"
        " available_at, waiting_on, max_attempts, created_at)"
        " SELECT runs.id, 'each', g, 'each', CASE WHEN g % 500 = 0 THEN 'running'"
        " WHEN g % 500 = 1 THEN 'ready' ELSE 'succeeded' END, 'default', 0, 0, 1, 0"
        " FROM runs, generate_series(0, :n) g WHERE runs.id {which} :run"
    )
    with svc.db.write() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, pipeline, version_id, state, args, task_args, remaining,"
                " created_at) SELECT substr(md5(g::text), 1, 32), pipeline, version_id, state,"
                " args, task_args, 0, created_at FROM runs, generate_series(1, :others) g"
                " WHERE runs.id = :run"
            ),
            {"run": run_id, "others": OTHER_RUNS},
        )
        conn.execute(sa.text(insert.format(which="=")), {"run": run_id, "n": ELEMENTS - 1})
        conn.execute(sa.text(insert.format(which="<>")), {"run": run_id, "n": OTHER_ELEMENTS - 1})
    with svc.db.engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE"))
    return run_id


def _captured(svc: Services, call: Callable[[Any], object]) -> tuple[str, dict[str, Any]]:
    """The task_runs statement `call` runs, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def note(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if "task_runs" in statement:
            seen.append((statement, params))

    sa.event.listen(svc.db.engine, "before_cursor_execute", note)
    try:
        with svc.db.engine.begin() as conn:
            call(conn)
    finally:
        sa.event.remove(svc.db.engine, "before_cursor_execute", note)
    assert seen, "the statement was not seen"
    return seen[0]


def _generic_plan(svc: Services, statement: str, params: dict[str, Any]) -> str:
    names: list[str] = []

    def number(match: re.Match[str]) -> str:
        names.append(match.group(1))
        return f"${len(names)}"

    numbered = re.sub(r"%\((\w+)\)s", number, statement)
    with svc.db.engine.connect() as conn:
        conn.execute(sa.text("SET plan_cache_mode = force_generic_plan"))
        conn.exec_driver_sql(f"PREPARE probe AS {numbered}".replace("%%", "%"))
        values = ", ".join(_literal(params[n]) for n in names)
        rows = conn.exec_driver_sql(f"EXPLAIN EXECUTE probe({values})").fetchall()
        conn.exec_driver_sql("DEALLOCATE probe")
    return "\n".join(row[0] for row in rows)


def _literal(value: object) -> str:
    if isinstance(value, bool | int | float):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


def _walks_task_runs(plan: str) -> bool:
    """A sequential scan of task_runs, or a walk of its primary key with no condition."""
    if "Seq Scan on task_runs" in plan:
        return True
    lines = plan.splitlines()
    for i, line in enumerate(lines):
        if "Index Scan" in line and "pk_task_runs" in line:
            rest = lines[i + 1 : i + 2]
            if not any("Index Cond" in r for r in rest):
                return True
    return False


def test_the_live_displays_running_task_runs_are_found_by_index(svc: Services) -> None:
    run_id = _run_with_many_task_runs(svc)
    statement, params = _captured(svc, lambda conn: run_store.running_labels(conn, run_id, 5))

    plan = _generic_plan(svc, statement, params)

    assert not _walks_task_runs(plan), plan


def test_a_claim_with_concurrency_limits_finds_ready_task_runs_by_index(svc: Services) -> None:
    run_id = _run_with_many_task_runs(svc)
    candidates = claim_store._candidates("postgresql", NOW["postgresql"], False, True)
    statement, params = _captured(
        svc, lambda conn: conn.execute(candidates, {"b_run": run_id, "b_lookahead": 8})
    )

    plan = _generic_plan(svc, statement, params)

    assert not _walks_task_runs(plan), plan

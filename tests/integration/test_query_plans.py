"""Every statement of a local run on SQLite finds its rows by an index (issue 7).

The statements are the ones a real run executes (SQLite's trace callback), each asked for
its plan on the finished database. A statement that names task runs by node must look
them up by (run, node, index); a plan that instead walks the run's task runs (as one did
through a (run, state) index, dropped since) makes each step of a chain cost time in
proportion to the chain's length.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.local import run_pipeline
from headwater.services.context import open_services
from headwater.store import sqlite as sqlite_store

REGISTRY = Registry()
_BY_NODE = "(run_id=? AND node_id="  # the unique constraint's index (SQLite names it)

with use_registry(REGISTRY):

    @task
    def inc(x: int) -> int:
        return x + 1

    @task
    def upto(n: int) -> list[int]:
        return list(range(n))

    @task(retries=1, backoff={"base_seconds": 0.0, "jitter": False})
    def fussy(x: int) -> int:
        if x == 2:
            raise ValueError("two")
        return x

    @pipeline
    def chain_and_map(n: int = 4):
        x = inc(0)
        for _ in range(20):
            x = inc(x)
        # Two downstream of one node: a completion that names several nodes at once.
        return fussy.map(upto(n)), inc(x), inc(x)


@pytest.fixture
def statements(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement run on SQLite connections opened meanwhile, values inlined."""
    seen: list[str] = []
    connect = sqlite3.connect

    def traced(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = connect(*args, **kwargs)
        conn.set_trace_callback(seen.append)
        return conn

    monkeypatch.setattr(sqlite_store.sqlite3, "connect", traced)
    return seen


def test_a_local_run_finds_every_row_it_touches_by_an_index(
    statements: list[str], tmp_path: Path
) -> None:
    settings = Settings(
        project_dir=tmp_path,
        database_url=f"sqlite:///{tmp_path / 'headwater.db'}",
        artifacts=str(tmp_path / "artifacts"),
        concurrency=2,
    )
    svc = open_services(settings)
    try:
        result = run_pipeline(svc, settings, chain_and_map, registry=REGISTRY)  # type: ignore[arg-type]
    finally:
        svc.close()
    assert result.task_states["fussy[2]"] == "failed"  # a retry and a failure were recorded

    shapes: dict[str, str] = {}
    for sql in statements:
        text = " ".join(sql.split())
        if text.split(" ", 1)[0] in ("SELECT", "UPDATE", "DELETE", "INSERT"):
            shapes.setdefault(re.sub(r"'[^']*'|\b\d+(\.\d+)?\b", "?", text), text)
    assert len(shapes) > 15  # the trace saw the run's statements

    db = sqlite3.connect(tmp_path / "headwater.db")
    bad: dict[str, list[str]] = {}
    for text in shapes.values():
        plan = [row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {text}")]
        scans = [step for step in plan if re.match(r"SCAN (task_runs|attempts|runs)\b", step)]
        by_node = re.search(r"\bnode_id (=|IN)", text) and text.split()[0] in ("UPDATE", "SELECT")
        if by_node and not any(_BY_NODE in step for step in plan):
            scans.append(f"not by {_BY_NODE}: {plan}")
        if scans:
            bad[text] = scans
    assert bad == {}, "\n".join(f"{k}\n    {v}" for k, v in bad.items())

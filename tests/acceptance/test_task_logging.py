"""`headwater run` puts tasks' `logging` records, INFO included, in their attempt logs,
also now that it loads logging only once something has (issue 7)."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import explain, hw, summary_states

TOP_LEVEL = """
import logging

from headwater import pipeline, task

log = logging.getLogger("pipelines.chatty")


@task
def first() -> int:
    log.info("info from first")
    return 1


@task
def second(x: int) -> int:
    log.warning("warning from second")
    return x


@pipeline
def chatty():
    return second(first())
"""

# No project module imports logging: the first task does, in its body.
IN_BODY = """
from headwater import pipeline, task


@task
def first() -> int:
    import logging

    return 1


@task
def second(x: int) -> int:
    import logging

    logging.getLogger("pipelines.chatty").info("info from second")
    return x


@pipeline
def chatty():
    return second(first())
"""


# No project module imports logging: the first task imports it and logs in one body.
IN_FIRST_BODY = """
from headwater import pipeline, task


@task
def first() -> int:
    import logging

    logging.getLogger("pipelines.chatty").info("info from first")
    logging.getLogger("pipelines.chatty").warning("warning from first")
    return 1


@task
def second(x: int) -> int:
    return x


@pipeline
def chatty():
    return second(first())
"""


def _stderr_logs(project: Path) -> str:
    return "".join(p.read_text() for p in sorted(project.rglob("stderr.log")))


@pytest.mark.parametrize(
    "source",
    [TOP_LEVEL, IN_BODY, IN_FIRST_BODY],
    ids=["top-level", "in-body", "in-the-body-that-logs"],
)
def test_task_log_records_reach_attempt_logs(tmp_path: Path, source: str) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "chatty.py").write_text(source)

    ran = hw("run", "chatty", "-j", "1", cwd=tmp_path)

    assert ran.returncode == 0, explain(ran)
    assert summary_states(ran.stdout) == {"first": "succeeded", "second": "succeeded"}
    logs = _stderr_logs(tmp_path)
    if source is TOP_LEVEL:
        assert " INFO pipelines.chatty: info from first\n" in logs
        assert " WARNING pipelines.chatty: warning from second\n" in logs
    elif source is IN_BODY:
        assert " INFO pipelines.chatty: info from second\n" in logs
    else:
        assert " INFO pipelines.chatty: info from first\n" in logs
        assert " WARNING pipelines.chatty: warning from first\n" in logs
    assert "info from" not in ran.stderr  # the console shows only warnings and errors

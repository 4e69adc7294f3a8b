"""A failed run from the command line, and `headwater run --resume` picking it up."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from .conftest import copy_examples, explain, hw, run_id_of, summary_states

FLAKY = '''\
"""first -> middle -> last, plus an independent side task; middle needs a marker file."""

from pathlib import Path

from headwater import pipeline, task

CALLS = Path(__file__).resolve().parents[1] / "calls.log"


def _called(name: str) -> None:
    with CALLS.open("a", encoding="utf-8") as handle:
        handle.write(name + "\\n")


@task
def first() -> int:
    _called("first")
    return 1


@task
def middle(x: int, marker: str) -> int:
    _called("middle")
    if not Path(marker).exists():
        raise RuntimeError(f"marker file {marker} is missing")
    return x + 1


@task
def last(x: int) -> int:
    _called("last")
    return x * 10


@task
def side() -> str:
    _called("side")
    return "side"


@pipeline
def flaky(marker: str):
    return {"last": last(middle(first(), marker)), "side": side()}


@task
def needs_marker(marker: str) -> int:
    if not Path(marker).exists():
        raise RuntimeError("no marker yet")
    return 1


@task
def independent() -> str:
    return "kept"


@task
def join(a: int, b: str) -> str:
    return f"{a} {b}"


@pipeline
def failing_first(marker: str):
    """The failing node comes first in the spec, the independent one after it."""
    return join(needs_marker(marker), independent())
'''


@dataclass
class Failed:
    project: Path
    marker: Path
    result: subprocess.CompletedProcess[str]

    def calls(self) -> list[str]:
        path = self.project / "calls.log"
        return path.read_text().split() if path.exists() else []


@pytest.fixture(scope="module")
def failed(tmp_path_factory: pytest.TempPathFactory) -> Failed:
    """The flaky pipeline run once, with its marker file missing."""
    project = copy_examples(tmp_path_factory.mktemp("resume") / "examples")
    (project / "pipelines" / "flaky.py").write_text(FLAKY, encoding="utf-8")
    marker = project / "ready.marker"
    result = hw("run", "flaky", "-p", f"marker={marker}", cwd=project)
    return Failed(project, marker, result)


def test_a_failing_task_fails_the_run_and_skips_its_downstream(failed: Failed) -> None:
    result = failed.result
    assert result.returncode == 1, explain(result)
    assert summary_states(result.stdout) == {
        "first": "succeeded",
        "middle": "failed",
        "last": "upstream_failed",
        "side": "succeeded",
    }, explain(result)
    assert f"RuntimeError: marker file {failed.marker} is missing" in result.stdout
    # The summary's title may wrap between the id and the state.
    assert re.search(rf"run {run_id_of(result)}:\s+failed", result.stdout), explain(result)
    assert sorted(failed.calls()) == ["first", "middle", "side"]


def test_resume_runs_only_the_failed_task_and_its_downstream(failed: Failed) -> None:
    failed.marker.touch()
    before = len(failed.calls())
    resumed = hw(
        "run",
        "flaky",
        "-p",
        f"marker={failed.marker}",
        "--resume",
        run_id_of(failed.result),
        cwd=failed.project,
    )
    assert resumed.returncode == 0, explain(resumed)
    assert summary_states(resumed.stdout) == {
        "first": "cached",
        "middle": "succeeded",
        "last": "succeeded",
        "side": "cached",
    }, explain(resumed)
    assert sorted(failed.calls()[before:]) == ["last", "middle"]
    assert '"last": 20' in resumed.stdout


def test_resume_keeps_outputs_of_reused_tasks(examples: Path) -> None:
    (examples / "pipelines" / "flaky.py").write_text(FLAKY, encoding="utf-8")
    marker = examples / "ready.marker"
    failing = hw("run", "failing_first", "-p", f"marker={marker}", cwd=examples)
    assert failing.returncode == 1, explain(failing)
    marker.touch()
    resumed = hw(
        "run",
        "failing_first",
        "-p",
        f"marker={marker}",
        "--resume",
        run_id_of(failing),
        cwd=examples,
    )
    assert resumed.returncode == 0, explain(resumed)
    assert summary_states(resumed.stdout) == {
        "needs_marker": "succeeded",
        "independent": "cached",
        "join": "succeeded",
    }, explain(resumed)
    assert 'output: "1 kept"' in resumed.stdout

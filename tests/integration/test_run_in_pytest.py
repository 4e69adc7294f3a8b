"""`headwater.run` inside a user's test: no configuration, a result, and no files left.

The temporary folder is redirected to one of this test's own, so other tests running at
the same time (their attempts stage files as ``headwater-stage-*``) cannot disturb the
before/after comparison.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

import headwater
from headwater import pipeline, task
from headwater.authoring.registry import Registry, use_registry

SEEN: dict[str, Any] = {}

with use_registry(Registry()):

    @task
    def greet(name: str) -> str:
        ctx = headwater.current_context()
        SEEN["output_dir"] = ctx.output_dir
        SEEN["artifact_root"] = ctx.artifact_root
        (ctx.output_dir / "greeting.txt").write_text(f"hello {name}")
        print(f"greeting {name}")
        return f"hello {name}"

    @task
    def shout(text: str, times: int = 1) -> str:
        return "!".join([text.upper()] * times)

    @pipeline
    def greeting_in_pytest(name: str = "world", times: int = 2):
        hello = greet(name)
        return {"plain": hello, "loud": shout(hello, times=times)}

    @task
    def broken(name: str) -> str:
        raise ValueError(f"cannot greet {name}")

    @pipeline
    def broken_in_pytest(name: str = "world"):
        return broken(name)


def _files(root: Path) -> set[str]:
    return {str(path.relative_to(root)) for path in root.rglob("*")}


def _headwater_temp_files() -> set[str]:
    root = Path(tempfile.gettempdir())
    return {str(path) for path in root.glob("headwater-*")} | {
        str(path) for path in root.glob("headwater-*/**/*")
    }


@pytest.fixture
def clean_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty working directory, a private temp folder and no HEADWATER_* settings."""
    for name in list(os.environ):
        if name.startswith("HEADWATER_"):
            monkeypatch.delenv(name)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    SEEN.clear()
    return cwd


def test_run_returns_the_result_and_leaves_no_files(clean_place: Path) -> None:
    temp_before = _headwater_temp_files()
    cwd_before = _files(clean_place)

    result = headwater.run(greeting_in_pytest, name="ada", times=3)

    assert result.state == "succeeded"
    assert result.ok
    assert result.output == {"plain": "hello ada", "loud": "HELLO ADA!HELLO ADA!HELLO ADA"}
    # The run did use the temporary folder: that is what must be gone now.
    assert str(SEEN["artifact_root"]).startswith(str(Path(tempfile.gettempdir()) / "headwater-"))
    assert not Path(SEEN["artifact_root"]).exists()
    assert not Path(SEEN["output_dir"]).exists()
    assert _headwater_temp_files() == temp_before
    assert _files(clean_place) == cwd_before == set()


def test_a_failed_run_returns_its_failure_and_leaves_no_files(clean_place: Path) -> None:
    temp_before = _headwater_temp_files()

    result = headwater.run(broken_in_pytest, name="bob")

    assert result.state == "failed"
    assert not result.ok
    assert result.output is None
    (failure,) = result.failures
    assert failure.message == "cannot greet bob"
    assert _headwater_temp_files() == temp_before
    assert _files(clean_place) == set()


def test_run_rejects_wrong_arguments_before_running(clean_place: Path) -> None:
    with pytest.raises(headwater.ValidationError, match="times"):
        headwater.run(greeting_in_pytest, times="many")

    assert _files(clean_place) == set()
    assert _headwater_temp_files() == set()

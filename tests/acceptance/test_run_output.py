"""`headwater run` writing into a pipe that was closed (`headwater run etl | head -1`), and
what its process leaves behind when it exits."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import HEADWATER, TIMEOUT_SECONDS, clean_env, explain, hw, one_task_project


def test_a_closed_output_pipe_ends_the_command_quietly(tmp_path: Path) -> None:
    one_task_project(tmp_path)
    proc = subprocess.Popen(
        [str(HEADWATER), "run", "just_one"],
        cwd=tmp_path,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # the reader went away before the summary was written

    _, err = proc.communicate(timeout=TIMEOUT_SECONDS)

    assert proc.returncode == 1, err  # as click ends a command whose output pipe broke
    assert "Traceback" not in err, err
    assert "started" in err  # the run itself went ahead


LEAKY_PIPELINE = """
import gc

from headwater import pipeline, task


@task
def leave_open(name: str) -> str:
    f = open(name, "w")  # never closed: its buffer is written when Python finalizes it
    f.write("written at exit")
    holder = {"file": f}
    holder["itself"] = holder  # a cycle: only the cyclic garbage collector frees it
    gc.collect()  # while still in use: into the oldest generation, collected at exit
    return name


@pipeline
def leaky():
    return leave_open("left-open.txt")
"""


def test_a_file_a_task_left_open_is_written_when_the_run_exits(tmp_path: Path) -> None:
    (tmp_path / "pipelines").mkdir()
    (tmp_path / "pipelines" / "__init__.py").write_text("")
    (tmp_path / "pipelines" / "leaky.py").write_text(LEAKY_PIPELINE)

    result = hw("run", "leaky", cwd=tmp_path)

    assert result.returncode == 0, explain(result)
    # As a plain Python program would: the interpreter's last collection finalizes it.
    assert (tmp_path / "left-open.txt").read_text() == "written at exit"
    left = [
        p.name for p in (tmp_path / ".headwater").iterdir() if p.name.endswith(("-wal", "-shm"))
    ]
    assert left == []  # the database was closed


LEAKY_AT_IMPORT = """
import gc

f = open("left-open.txt", "w")  # never closed: its buffer is written when finalized
f.write("written at exit")
holder = {"file": f}
holder["itself"] = holder
gc.collect()  # while still in use: into the oldest generation, collected at exit
del f, holder
"""


def test_a_file_a_project_module_left_open_is_written_when_a_command_exits(
    tmp_path: Path,
) -> None:
    one_task_project(tmp_path)
    (tmp_path / "pipelines" / "leaky.py").write_text(LEAKY_AT_IMPORT)

    result = hw("list", cwd=tmp_path)  # a command that click parses

    assert result.returncode == 0, explain(result)
    assert "just_one" in result.stdout, explain(result)
    assert (tmp_path / "left-open.txt").read_text() == "written at exit"

"""`headwater run` writing into a pipe that was closed (`headwater run etl | head -1`)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from .conftest import HEADWATER, TIMEOUT_SECONDS, clean_env, one_task_project


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

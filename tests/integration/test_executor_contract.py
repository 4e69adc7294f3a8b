"""The executor contract, run against every executor: inline (in the caller's thread),
process (a child interpreter) and command (a shell). One attempt is launched as the
worker launches it; its outcome, logs, output files and termination are what a user
sees of it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import headwater
from headwater.context import current_context
from headwater.executors import capture
from headwater.executors.base import AttemptContext, Executor, Outcome
from headwater.executors.command import CommandExecutor
from headwater.executors.inline import InlineExecutor
from headwater.executors.process import ProcessExecutor
from headwater.worker.code import CodeLocation


@headwater.task
def shout(word: str) -> str:
    print(f"saying {word}")
    return word.upper()


@headwater.task
def explode(word: str) -> str:
    raise ValueError(f"no {word}")


@headwater.task
def spin(seconds: float) -> str:
    # Pure Python, so an inline interrupt lands between bytecodes.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        sum(range(100))
    return "finished"


@headwater.task
def write_file(word: str) -> str:
    (current_context().output_dir / "word.txt").write_text(word)
    return "written"


COMMANDS = {
    "shout": 'echo "saying $HW_ARG_WORD"; '
    'echo "::output:: \\"$(echo $HW_ARG_WORD | tr a-z A-Z)\\""',
    "explode": 'echo "no $HW_ARG_WORD" >&2; exit 3',
    "spin": "sleep 30",
    "write_file": 'printf "%s" "$HW_ARG_WORD" > "$HW_OUTPUT_DIR/word.txt"; '
    "echo '::output:: \"written\"'",
}
TASKS = {"shout": shout, "explode": explode, "spin": spin, "write_file": write_file}
EXECUTORS: dict[str, Callable[[], Executor]] = {
    "inline": InlineExecutor,
    "process": ProcessExecutor,
    "command": CommandExecutor,
}


@pytest.fixture(params=sorted(EXECUTORS))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "logs", tmp_path / "out"


def launch(kind: str, name: str, args: dict[str, Any], folders: tuple[Path, Path]) -> Any:
    log_dir, output_dir = folders
    task = TASKS[name].definition
    if kind == "command":
        task = task.replace(kind="command", command=COMMANDS[name])
    ctx = AttemptContext(
        "run1", "p", name, -1, 1, task, args, log_dir, output_dir, "/artifacts/p", load
    )
    return EXECUTORS[kind]().launch(ctx)


def load(task: Any) -> Any:
    return CodeLocation(headwater.authoring.registry.current_registry()).load_callable(task)


def finish(execution: Any, seconds: float = 60) -> Outcome:
    # As a worker does while it runs: print() and logging go to the attempt's log.
    # (Installed here, not in a fixture: pytest swaps sys.stdout between phases.)
    capture.install()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            outcome = execution.wait(0.1)
            if outcome is not None:
                return outcome  # type: ignore[no-any-return]
    finally:
        capture.uninstall()
    raise AssertionError("the attempt did not end")


def test_a_successful_attempt_gives_its_output_and_logs_its_stdout(
    kind: str, folders: tuple[Path, Path]
) -> None:
    outcome = finish(launch(kind, "shout", {"word": "hi"}, folders))

    assert outcome.state == "succeeded"
    assert outcome.output == "HI"
    log_dir = folders[0]
    assert "saying hi" in (log_dir / "stdout.log").read_text()
    assert "saying hi" in (log_dir / "combined.log").read_text()


def test_a_failing_attempt_gives_the_error_and_logs_it(
    kind: str, folders: tuple[Path, Path]
) -> None:
    outcome = finish(launch(kind, "explode", {"word": "way"}, folders))

    assert outcome.state == "failed"
    assert "no way" in (folders[0] / "stderr.log").read_text()
    if kind == "command":
        assert outcome.error_type == "CommandFailed"
        assert "code 3" in outcome.message
    else:
        assert outcome.error_type == "ValueError"
        assert outcome.message == "no way"
        assert "raise ValueError" in outcome.traceback


def test_files_written_to_the_output_folder_are_there_after_the_attempt(
    kind: str, folders: tuple[Path, Path]
) -> None:
    outcome = finish(launch(kind, "write_file", {"word": "kept"}, folders))

    assert outcome.state == "succeeded"
    assert (folders[1] / "word.txt").read_text() == "kept"


def test_an_attempt_that_writes_nothing_leaves_no_folders(
    kind: str, folders: tuple[Path, Path]
) -> None:
    if kind == "command":
        pytest.skip("a shell command gets its output folder made before it starts")
    finish(launch(kind, "spin", {"seconds": 0}, folders))

    assert not folders[0].exists()
    assert not folders[1].exists()


def test_terminate_stops_a_running_attempt(kind: str, folders: tuple[Path, Path]) -> None:
    execution = launch(kind, "spin", {"seconds": 30}, folders)
    started = time.monotonic()
    # Inline attempts run inside `wait`, so the stop comes from another thread, as the
    # heartbeat or a timeout timer sends it.
    threading.Timer(0.5, execution.terminate).start()

    outcome = finish(execution)

    assert outcome.state == "cancelled"
    assert time.monotonic() - started < 20


def test_an_inline_interrupt_never_escapes_the_attempt() -> None:
    """Stops racing the end of attempts: each lands inside its attempt or not at all,
    never in the worker code that runs after it."""
    escaped: list[BaseException] = []
    outcomes: list[str] = []

    def many() -> None:
        for i in range(300):
            execution = launch(
                "inline",
                "spin",
                {"seconds": 0.0005 * (i % 7)},
                (Path("/nonexistent"), Path("/nonexistent")),
            )
            threading.Timer(0.0005 * (i % 5), execution.terminate).start()
            try:
                outcomes.append(execution.wait(None).state)
                for _ in range(200):  # worker code after the attempt
                    sum(range(50))
            except BaseException as exc:  # noqa: BLE001 - what we look for
                escaped.append(exc)

    thread = threading.Thread(target=many)
    thread.start()
    thread.join(120)

    assert escaped == []
    assert len(outcomes) == 300
    assert set(outcomes) <= {"succeeded", "cancelled"}


def test_inline_attempts_leave_no_context_behind_in_the_thread(
    folders: tuple[Path, Path],
) -> None:
    finish(launch("inline", "shout", {"word": "x"}, folders))

    with pytest.raises(headwater.errors.HeadwaterError, match="only available while a task runs"):
        current_context()

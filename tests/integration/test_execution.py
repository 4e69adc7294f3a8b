"""Local runs through `run_pipeline`, on both backends: retries, failures, timeouts,
logs, command tasks, output files, resume, map edge cases, large outputs, cancellation.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import headwater
from headwater import command, pipeline, task
from headwater.authoring.registry import Registry, use_registry
from headwater.config import Settings
from headwater.domain.spec import Backoff
from headwater.domain.states import AttemptState, RunState, TaskRunState
from headwater.local import RunResult, run_pipeline
from headwater.services.context import Services
from headwater.services.runs import cancel_run, get_run_view
from headwater.store.runs import TaskRunRow

REGISTRY = Registry()
FAST_RETRY = Backoff(base_seconds=0.01)
DEADLINE_SECONDS = 10.0  # only to keep a broken run from hanging the suite

CALLS: list[str] = []
FLAKY_FAILURES_LEFT = {"n": 0}
RESUME_B_FAILS = {"yes": True}
SPIN_STARTED = threading.Event()
SPIN_STOPPED = threading.Event()


class BadRow(ValueError):
    """A row the task cannot read."""


def _flaky() -> str:
    CALLS.append("flaky")
    if FLAKY_FAILURES_LEFT["n"] > 0:
        FLAKY_FAILURES_LEFT["n"] -= 1
        raise RuntimeError("not yet")
    return f"ok on attempt {headwater.current_context().attempt}"


with use_registry(REGISTRY):

    @task(retries=2, backoff=FAST_RETRY)
    def flaky_twice_retried() -> str:
        return _flaky()

    @task(retries=1, backoff=FAST_RETRY)
    def flaky_once_retried() -> str:
        return _flaky()

    @pipeline
    def retried_enough():
        return flaky_twice_retried()

    @pipeline
    def retried_too_little():
        return flaky_once_retried()

    @task
    def read_rows(row: int) -> int:
        raise BadRow(f"row {row} is bad")

    @pipeline
    def bad_rows(row: int = 3):
        return read_rows(row)

    @task(timeout=0.5)
    def spin() -> None:
        SPIN_STARTED.set()
        try:
            while True:
                time.sleep(0.01)
        finally:
            SPIN_STOPPED.set()

    @pipeline
    def spinning():
        spin()

    slow_command = command("slow_command", "sleep 30", timeout=0.5)

    @pipeline
    def sleeping():
        return slow_command()

    @task
    def chatty(word: str) -> str:
        print(f"to stdout: {word}")
        sys.stderr.write(f"to stderr: {word}\n")
        logging.getLogger("headwater.tests.chatty").warning("logged: %s", word)
        return word

    @pipeline
    def talking(word: str = "hello"):
        return chatty(word)

    echo_args = command(
        "echo_args",
        'printf \'::output:: {"name": "%s", "count": %s, "stdin": %s}\\n\' '
        '"$HW_ARG_NAME" "$HW_ARG_COUNT" "$(cat)"',
        params={"name": {"type": "string"}, "count": {"type": "integer"}},
    )

    @pipeline
    def echoing(name: str = "world", count: int = 3):
        return echo_args(name=name, count=count)

    exit_three = command("exit_three", "echo about to fail; echo oops >&2; exit 3")

    @pipeline
    def exiting():
        return exit_three()

    @task
    def write_files(rows: int) -> dict[str, Any]:
        out = headwater.current_context().output_dir
        (out / "report.csv").write_text("".join(f"{i}\n" for i in range(rows)))
        (out / "parts").mkdir()
        (out / "parts" / "part-0.txt").write_text("zero")
        return {"rows": rows}

    @pipeline
    def writing(rows: int = 2):
        return write_files(rows)

    @task
    def step_a() -> int:
        CALLS.append("a")
        return 1

    @task
    def step_b(x: int) -> int:
        CALLS.append("b")
        if RESUME_B_FAILS["yes"]:
            raise RuntimeError("b fails the first time")
        return x + 1

    @task
    def step_c(y: int) -> int:
        CALLS.append("c")
        return y * 10

    @task
    def step_d() -> str:
        CALLS.append("d")
        return "d"

    @pipeline
    def resumable():
        return {"c": step_c(step_b(step_a())), "d": step_d()}

    @task
    def fails_first() -> int:
        CALLS.append("fails_first")
        if RESUME_B_FAILS["yes"]:
            raise RuntimeError("fails the first time")
        return 1

    @task
    def kept() -> str:
        CALLS.append("kept")
        return "kept"

    @pipeline
    def resumable_first_fails():
        return {"first": fails_first(), "kept": kept()}

    @task
    def items(n: int) -> Any:
        return list(range(n)) if n >= 0 else {"not": "a list"}

    @task
    def double(x: int) -> int:
        return 2 * x

    @task
    def collect(xs: list[int]) -> list[int]:
        CALLS.append(f"collect({xs})")
        return xs

    @pipeline
    def mapping(n: int = 0):
        return collect(double.map(items(n)))

    @task
    def many(n: int) -> list[int]:
        return list(range(n))

    @task
    def summary(xs: list[int]) -> dict[str, int]:
        return {"count": len(xs), "total": sum(xs), "last": xs[-1]}

    @pipeline
    def big(n: int = 20000):
        return summary(many(n))


def _run(svc: Services, settings: Settings, pipe: Any, **kwargs: Any) -> RunResult:
    return run_pipeline(svc, settings, pipe, registry=REGISTRY, **kwargs)


def _node(result: RunResult, node_id: str) -> TaskRunRow:
    (row,) = [tr for tr in result.view.task_runs if tr.label == node_id]
    return row


def _attempts(result: RunResult, node_id: str) -> list[Any]:
    row = _node(result, node_id)
    return [a for a in result.view.attempts if a.task_run_id == row.id]


def _prefix(settings: Settings, result: RunResult, node_id: str) -> Path:
    row = _node(result, node_id)
    assert row.cache_key is not None
    return Path(settings.artifacts) / result.view.run.pipeline / row.task / row.cache_key


# -- retries and failures -----------------------------------------------------------


def test_a_task_failing_twice_succeeds_on_its_third_attempt(
    services: Services, settings: Settings
) -> None:
    FLAKY_FAILURES_LEFT["n"] = 2
    CALLS.clear()

    result = _run(services, settings, retried_enough)

    assert result.state == RunState.SUCCEEDED
    assert result.output == "ok on attempt 3"
    assert CALLS == ["flaky"] * 3
    attempts = _attempts(result, "flaky_twice_retried")
    assert [(a.number, a.state) for a in attempts] == [
        (1, AttemptState.FAILED),
        (2, AttemptState.FAILED),
        (3, AttemptState.SUCCEEDED),
    ]
    assert attempts[0].error_message == "not yet"


def test_a_task_out_of_retries_fails_the_run(services: Services, settings: Settings) -> None:
    FLAKY_FAILURES_LEFT["n"] = 2
    CALLS.clear()

    result = _run(services, settings, retried_too_little)

    assert result.state == RunState.FAILED
    assert result.output is None
    assert CALLS == ["flaky"] * 2
    assert result.task_states == {"flaky_once_retried": "failed"}
    assert [a.state for a in _attempts(result, "flaky_once_retried")] == ["failed", "failed"]


def test_a_failure_keeps_the_exception_type_message_and_traceback(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, bad_rows, args={"row": 7})

    assert result.state == RunState.FAILED
    (failure,) = result.failures
    assert failure.node == "read_rows"
    assert failure.error_type.endswith("BadRow")
    assert failure.message == "row 7 is bad"
    assert "Traceback (most recent call last)" in failure.traceback
    assert 'raise BadRow(f"row {row} is bad")' in failure.traceback
    assert "in read_rows" in failure.traceback
    (attempt,) = result.view.attempts
    assert (attempt.error_type, attempt.error_message) == (failure.error_type, failure.message)
    assert attempt.traceback == failure.traceback


# -- timeouts -----------------------------------------------------------------------


def test_an_inline_task_past_its_timeout_is_stopped(services: Services, settings: Settings) -> None:
    SPIN_STARTED.clear()
    SPIN_STOPPED.clear()

    result = _run(services, settings, spinning)

    assert SPIN_STARTED.is_set()
    assert result.state == RunState.FAILED
    assert result.task_states == {"spin": "failed"}
    (attempt,) = result.view.attempts
    assert attempt.state == AttemptState.TIMED_OUT
    assert "timed out" in (attempt.error_message or "")
    # The task's own thread really stops, rather than spinning on in the background.
    assert SPIN_STOPPED.wait(DEADLINE_SECONDS)


def test_a_command_past_its_timeout_is_killed(services: Services, settings: Settings) -> None:
    started = time.monotonic()

    result = _run(services, settings, sleeping)

    assert time.monotonic() - started < DEADLINE_SECONDS
    assert result.state == RunState.FAILED
    (attempt,) = result.view.attempts
    assert attempt.state == AttemptState.TIMED_OUT


# -- logs ---------------------------------------------------------------------------


def test_stdout_stderr_and_logging_go_to_the_attempt_logs(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, talking, args={"word": "pelican"})

    assert result.output == "pelican"
    (attempt,) = result.view.attempts
    assert attempt.log_label
    logs = _prefix(settings, result, "chatty") / "attempts" / attempt.log_label
    stdout = (logs / "stdout.log").read_text()
    stderr = (logs / "stderr.log").read_text()
    combined = (logs / "combined.log").read_text()
    assert "to stdout: pelican" in stdout
    assert "to stderr: pelican" in stderr
    assert "logged: pelican" in stderr
    assert "WARNING" in stderr
    assert "to stderr" not in stdout
    assert "logged" not in stdout
    lines = combined.splitlines()
    assert [line for line in lines if "pelican" in line][:2] == [
        "to stdout: pelican",
        "to stderr: pelican",
    ]
    assert any("logged: pelican" in line for line in lines)


# -- command tasks ------------------------------------------------------------------


def test_a_command_gets_its_arguments_and_sets_its_output(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, echoing, args={"name": "ada lovelace", "count": 4})

    assert result.state == RunState.SUCCEEDED
    assert result.output == {
        "name": "ada lovelace",
        "count": 4,
        "stdin": {"name": "ada lovelace", "count": 4},
    }
    prefix = _prefix(settings, result, "echo_args")
    assert json.loads((prefix / "output.json").read_text()) == result.output


def test_a_command_exiting_non_zero_fails_its_attempt(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, exiting)

    assert result.state == RunState.FAILED
    (attempt,) = result.view.attempts
    assert attempt.state == AttemptState.FAILED
    assert attempt.error_type == "CommandFailed"
    assert "code 3" in (attempt.error_message or "")
    (logs,) = Path(settings.artifacts).glob(f"exiting/exit_three/*/attempts/{attempt.log_label}")
    assert "about to fail" in (logs / "stdout.log").read_text()
    assert "oops" in (logs / "stderr.log").read_text()


def test_the_logs_of_a_failed_attempt_can_be_found_from_the_database(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, exiting)

    (attempt,) = result.view.attempts
    logs = _prefix(settings, result, "exit_three") / "attempts" / str(attempt.log_label)
    assert "oops" in (logs / "stderr.log").read_text()


# -- output files -------------------------------------------------------------------


def test_files_in_output_dir_are_stored_beside_the_output(
    services: Services, settings: Settings
) -> None:
    result = _run(services, settings, writing, args={"rows": 3})

    assert result.output == {"rows": 3}
    prefix = _prefix(settings, result, "write_files")
    assert (prefix / "report.csv").read_text() == "0\n1\n2\n"
    assert (prefix / "parts" / "part-0.txt").read_text() == "zero"
    assert json.loads((prefix / "output.json").read_text()) == {"rows": 3}
    assert json.loads((prefix / "params.json").read_text()) == {"rows": 3}


# -- resume -------------------------------------------------------------------------


def test_resume_reruns_only_the_failed_step_and_what_follows(
    services: Services, settings: Settings
) -> None:
    CALLS.clear()
    RESUME_B_FAILS["yes"] = True
    first = _run(services, settings, resumable)
    assert first.state == RunState.FAILED
    assert first.task_states == {
        "step_a": "succeeded",
        "step_b": "failed",
        "step_c": "upstream_failed",
        "step_d": "succeeded",
    }
    assert sorted(CALLS) == ["a", "b", "d"]

    CALLS.clear()
    RESUME_B_FAILS["yes"] = False
    second = _run(services, settings, resumable, resume_from=first.run_id)

    assert second.state == RunState.SUCCEEDED
    assert second.output == {"c": 20, "d": "d"}
    assert CALLS == ["b", "c"]
    assert second.task_states == {
        "step_a": "cached",
        "step_b": "succeeded",
        "step_c": "succeeded",
        "step_d": "cached",
    }
    assert second.view.run.resumed_from == first.run_id
    attempted = {_node_of(second, a.task_run_id) for a in second.view.attempts}
    assert attempted == {"step_b", "step_c"}
    assert get_run_view(services, first.run_id) == first.view


def test_resume_keeps_the_outputs_of_reused_steps_in_any_order(
    services: Services, settings: Settings
) -> None:
    RESUME_B_FAILS["yes"] = True
    first = _run(services, settings, resumable_first_fails)
    assert first.task_states == {"fails_first": "failed", "kept": "succeeded"}

    CALLS.clear()
    RESUME_B_FAILS["yes"] = False
    second = _run(services, settings, resumable_first_fails, resume_from=first.run_id)

    assert CALLS == ["fails_first"]
    assert second.state == RunState.SUCCEEDED
    assert second.output == {"first": 1, "kept": "kept"}
    assert _node(second, "kept").cache_key == _node(first, "kept").cache_key


def _node_of(result: RunResult, task_run_id: int) -> str:
    return next(tr.label for tr in result.view.task_runs if tr.id == task_run_id)


# -- map ----------------------------------------------------------------------------


def test_map_over_an_empty_list_gives_an_empty_list(services: Services, settings: Settings) -> None:
    CALLS.clear()

    result = _run(services, settings, mapping, args={"n": 0})

    assert result.state == RunState.SUCCEEDED
    assert result.output == []
    assert CALLS == ["collect([])"]
    assert result.task_states["double"] == "succeeded"


def test_map_over_a_list_gives_the_list_of_outputs(services: Services, settings: Settings) -> None:
    result = _run(services, settings, mapping, args={"n": 3})

    assert result.output == [0, 2, 4]
    assert result.task_states["double[2]"] == "succeeded"


def test_map_over_something_that_is_not_a_list_fails_that_node(
    services: Services, settings: Settings
) -> None:
    CALLS.clear()

    result = _run(services, settings, mapping, args={"n": -1})

    assert result.state == RunState.FAILED
    assert result.task_states == {
        "items": "succeeded",
        "double": "failed",
        "collect": "upstream_failed",
    }
    assert CALLS == []
    (failure,) = result.failures
    assert failure.node == "double"
    assert "map needs a list" in failure.message
    assert "dict" in failure.message


# -- large outputs ------------------------------------------------------------------


def test_a_large_output_reaches_downstream_through_the_artifact(
    services: Services, settings: Settings
) -> None:
    n = 20000

    result = _run(services, settings, big, args={"n": n})

    assert result.state == RunState.SUCCEEDED
    assert result.output == {"count": n, "total": n * (n - 1) // 2, "last": n - 1}
    producer = _node(result, "many")
    assert producer.output is None  # too large for the database row
    stored = (_prefix(settings, result, "many") / "output.json").read_bytes()
    assert len(stored) > 64 * 1024
    assert json.loads(stored) == list(range(n))


# -- cancellation -------------------------------------------------------------------


def test_cancelling_a_run_stops_its_worker(services: Services, settings: Settings) -> None:
    SPIN_STARTED.clear()
    SPIN_STOPPED.clear()
    seen: dict[str, Any] = {}

    def cancel_once_running(run_id: str, worker: threading.Thread) -> None:
        seen["started"] = SPIN_STARTED.wait(DEADLINE_SECONDS)
        seen["cancelled"] = cancel_run(services, run_id)
        worker.join(DEADLINE_SECONDS)
        seen["worker_stopped_by_itself"] = not worker.is_alive()

    # A spinner with no timeout: only the cancel can stop it.
    with use_registry(Registry()) as registry:

        @task(name="spin_forever")
        def spin_forever() -> None:
            SPIN_STARTED.set()
            try:
                while True:
                    time.sleep(0.01)
            finally:
                SPIN_STOPPED.set()

        @pipeline
        def cancellable():
            spin_forever()

    result = run_pipeline(
        services, settings, cancellable, registry=registry, wait=cancel_once_running
    )

    assert seen == {"started": True, "cancelled": True, "worker_stopped_by_itself": True}
    assert SPIN_STOPPED.wait(DEADLINE_SECONDS)
    assert result.state == RunState.CANCELLED
    assert result.task_states == {"spin_forever": TaskRunState.CANCELLED}
    (attempt,) = result.view.attempts
    assert attempt.state == AttemptState.CANCELLED

"""headwater.client and the CLI commands on it (trigger, status, logs, cancel --server)
against a real `headwater serve` process, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from headwater.client import ApiNotFound, ApiValidationError, Client, ServerUnavailable

from .api_server import serving
from .conftest import explain, hw

SLEEPER = {
    "name": "sleeper",
    "tasks": [{"id": "nap", "command": "echo going to sleep; sleep 8"}],
}
FAILING = {
    "name": "failing",
    "tasks": [{"id": "boom", "command": "echo about to fail >&2; exit 3"}],
}


@pytest.fixture
def server(examples: Path, database_url: str) -> Iterator[str]:
    with serving(examples, database_url) as url:
        yield url


def test_the_client_lists_triggers_waits_and_raises_problems(server: str) -> None:
    with Client(server) as client:
        assert {p.name for p in client.list_pipelines()} >= {"word_count", "orders_etl"}
        accepted = client.trigger("word_count", {"top": 2}, tags=["from-client"])
        run = client.wait(accepted.id, timeout=60, poll_seconds=0.1)
        assert run.ok
        assert run.tags == ["from-client"]
        merged = next(tr for tr in run.task_runs if tr.node == "merge_counts")
        assert len(merged.output) == 2
        again = client.trigger("word_count", {"top": 2}, idempotency_key="once")
        assert client.trigger("word_count", {"top": 2}, idempotency_key="once").id == again.id
        with pytest.raises(ApiValidationError) as invalid:
            client.trigger("word_count", {"top": "many"})
        assert invalid.value.problems[0].path == "args.top"
        with pytest.raises(ApiNotFound):
            client.get_run("0" * 32)


def test_the_client_cancels_a_running_run(server: str) -> None:
    with Client(server) as client:
        client.create_pipeline(SLEEPER)
        accepted = client.trigger("sleeper")
        assert client.cancel(accepted.id) is True
        assert client.wait(accepted.id, timeout=30, poll_seconds=0.1).state == "cancelled"
        assert client.cancel(accepted.id) is False


def test_trigger_wait_then_status_from_the_command_line(server: str, examples: Path) -> None:
    started = hw("trigger", "word_count", "-p", "top=2", "--wait", "--server", server, cwd=examples)
    assert started.returncode == 0, explain(started)
    run_id = started.stdout.split()[0]
    assert len(run_id) == 32
    assert "succeeded" in started.stdout
    shown = hw("status", run_id, cwd=examples, env={"HEADWATER_SERVER": server})
    assert shown.returncode == 0, explain(shown)
    assert f"run {run_id} (word_count): succeeded" in shown.stdout
    assert "merge_counts" in shown.stdout
    as_json = hw("status", run_id, "--json", "--server", server, cwd=examples)
    assert f'"id": "{run_id}"' in as_json.stdout


def test_a_failed_run_exits_1_and_status_shows_why(server: str, examples: Path) -> None:
    with Client(server) as client:
        client.create_pipeline(FAILING)
    result = hw("trigger", "failing", "--wait", "--server", server, cwd=examples)
    assert result.returncode == 1, explain(result)
    assert "failed" in result.stdout


def test_bad_requests_exit_2_with_the_servers_message(server: str, examples: Path) -> None:
    unknown = hw("trigger", "nope", "--server", server, cwd=examples)
    assert unknown.returncode == 2, explain(unknown)
    assert "no pipeline named 'nope'" in unknown.stderr
    invalid = hw("trigger", "word_count", "-p", "top=many", "--server", server, cwd=examples)
    assert invalid.returncode == 2, explain(invalid)
    assert "args.top" in invalid.stderr
    missing = hw("status", "f" * 32, "--server", server, cwd=examples)
    assert missing.returncode == 2, explain(missing)
    assert "error:" in missing.stderr
    no_server = hw("status", "f" * 32, cwd=examples)
    assert no_server.returncode == 2, explain(no_server)
    assert "HEADWATER_SERVER" in no_server.stderr


def test_cancel_through_the_server(server: str, examples: Path) -> None:
    with Client(server) as client:
        client.create_pipeline(SLEEPER)
        run_id = client.trigger("sleeper").id
        cancelled = hw("cancel", run_id, "--server", server, cwd=examples)
        assert cancelled.returncode == 0, explain(cancelled)
        assert f"{run_id}: cancelled" in cancelled.stdout
        assert client.wait(run_id, timeout=30, poll_seconds=0.1).state == "cancelled"
    node = hw("cancel", run_id, "--node", "nap", "--server", server, cwd=examples)
    assert node.returncode == 2, explain(node)


def test_an_unreachable_server_is_a_clear_error(examples: Path) -> None:
    with Client("http://127.0.0.1:9") as client, pytest.raises(ServerUnavailable):
        client.list_pipelines()
    result = hw("trigger", "word_count", "--server", "http://127.0.0.1:9", cwd=examples)
    assert result.returncode == 1, explain(result)
    assert "cannot reach http://127.0.0.1:9" in result.stderr


TICKER = {
    "name": "ticker",
    "tasks": [
        {"id": "first", "command": "for i in 1 2 3; do echo tick $i; sleep 0.3; done"},
        {"id": "second", "command": "echo to stderr >&2; echo done", "after": ["first"]},
    ],
}


def test_logs_of_a_run_and_of_one_node(server: str, examples: Path) -> None:
    with Client(server) as client:
        client.create_pipeline(TICKER)
        run_id = client.trigger("ticker").id
        assert client.wait(run_id, timeout=60, poll_seconds=0.1).ok
        attempt = client.get_run(run_id).attempts("first")[0]
        assert client.logs(attempt.id, "stdout", tail=1) == "tick 3\n"
    everything = hw("logs", run_id, "--server", server, cwd=examples)
    assert everything.returncode == 0, explain(everything)
    assert everything.stdout.index("tick 1") < everything.stdout.index("to stderr")
    assert "==> first attempt 1" in everything.stdout
    only = hw(
        "logs", run_id, "--node", "second", "--stream", "stderr", "--server", server, cwd=examples
    )
    assert only.returncode == 0, explain(only)
    assert only.stdout == "to stderr\n"
    tail = hw("logs", run_id, "--node", "first", "--tail", "1", "--server", server, cwd=examples)
    assert tail.stdout == "tick 3\n"
    unknown = hw("logs", run_id, "--node", "third", "--server", server, cwd=examples)
    assert unknown.returncode == 2, explain(unknown)
    assert "no node 'third'" in unknown.stderr


def test_logs_follow_prints_attempts_as_they_write_until_the_run_ends(
    server: str, examples: Path
) -> None:
    with Client(server) as client:
        client.create_pipeline(TICKER)
        run_id = client.trigger("ticker").id
    followed = hw("logs", run_id, "--follow", "--server", server, cwd=examples)
    assert followed.returncode == 0, explain(followed)
    out = followed.stdout
    assert [line for line in out.splitlines() if line.startswith("tick")] == [
        "tick 1",
        "tick 2",
        "tick 3",
    ]
    assert out.index("tick 3") < out.index("==> second attempt 1") < out.index("done")
    with Client(server) as client:
        assert client.get_run(run_id).ok  # --follow returned only once the run was over

"""Group commit of run creation, on both backends: concurrent callers' runs share one
transaction, yet each caller gets its own answer, its own error, and a run it can read
as soon as it has the id."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from headwater import pipeline, task
from headwater.api.app import create_app
from headwater.authoring.registry import Registry, use_registry
from headwater.errors import Conflict, NotFound, StoreUnavailable, ValidationError
from headwater.services.context import Services
from headwater.services.run_batches import create_runs, run_writer
from headwater.services.runs import get_run_view, register_pipeline, run_request, start_run
from headwater.store import runs as run_store

REGISTRY = Registry()

with use_registry(REGISTRY):

    @task
    def load(n: int) -> int:
        return n

    @task
    def report(total: int) -> int:
        return total

    @pipeline
    def numbers(n: int = 1):
        return report(load(n))


@pytest.fixture
def svc(services: Services) -> Services:
    register_pipeline(services, numbers.spec)
    return services


def _batch(svc: Services, items: list[tuple[dict[str, Any], str | None]]) -> list[Any]:
    """The outcomes of `items` created as one batch, in one transaction."""
    with svc.db.write() as conn:
        return create_runs(svc, conn, items)


def _in_threads(count: int, call: Callable[[int], Any]) -> list[Any]:
    """`call(i)` for i < count, all released at once; each result or raised error."""
    results: list[Any] = [None] * count
    gate = threading.Barrier(count)

    def one(i: int) -> None:
        gate.wait()
        try:
            results[i] = call(i)
        except Exception as exc:  # noqa: BLE001 - collected and asserted by the caller
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def test_a_batch_creates_each_run_as_asked_with_its_first_task_ready(svc: Services) -> None:
    outcomes = _batch(svc, [(run_request("numbers", {"n": i}), None) for i in range(5)])
    assert len(set(outcomes)) == 5
    for i, run_id in enumerate(outcomes):
        view = get_run_view(svc, run_id)
        assert view.run.args == {"n": i}
        assert view.run.state == "running"
        assert view.run.remaining == 2
        states = {tr.node_id: tr.state.value for tr in view.task_runs}
        assert states == {"load": "ready", "report": "pending"}


def test_bad_requests_in_a_batch_fail_alone(svc: Services) -> None:
    outcomes = _batch(
        svc,
        [
            (run_request("numbers", {"n": 1}), None),
            (run_request("numbers", {"n": "many"}), None),
            (run_request("nope", {}), None),
            (run_request("numbers", {"n": 2}), None),
        ],
    )
    assert isinstance(outcomes[1], ValidationError)
    assert isinstance(outcomes[2], NotFound)
    assert [get_run_view(svc, outcomes[i]).run.args for i in (0, 3)] == [{"n": 1}, {"n": 2}]
    with svc.db.read() as conn:
        assert len(run_store.list_runs(conn, "numbers")) == 2


def test_one_idempotency_key_twice_in_a_batch_is_one_run(svc: Services) -> None:
    same, other = run_request("numbers", {"n": 1}), run_request("numbers", {"n": 2})
    earlier = start_run(svc, "numbers", {"n": 3}, idempotency_key="old")
    outcomes = _batch(
        svc,
        [
            (same, "k"),
            (dict(same), "k"),
            (other, "k"),
            (run_request("numbers", {"n": 3}), "old"),
            (other, "old"),
        ],
    )
    assert outcomes[0] == outcomes[1]
    assert isinstance(outcomes[2], Conflict)
    assert outcomes[3] == earlier
    assert isinstance(outcomes[4], Conflict)
    with svc.db.read() as conn:
        assert len(run_store.list_runs(conn, "numbers")) == 2


def test_a_refused_request_leaves_its_key_free_for_the_next_in_the_batch(svc: Services) -> None:
    outcomes = _batch(
        svc,
        [(run_request("numbers", {"n": "bad"}), "k"), (run_request("numbers", {"n": 1}), "k")],
    )
    assert isinstance(outcomes[0], ValidationError)
    assert get_run_view(svc, outcomes[1]).run.args == {"n": 1}


def test_concurrent_callers_each_get_their_own_run_or_error(svc: Services) -> None:
    def call(i: int) -> str:
        args = {"n": "bad"} if i % 7 == 3 else {"n": i}
        return start_run(svc, "numbers", args)

    results = _in_threads(24, call)
    for i, result in enumerate(results):
        if i % 7 == 3:
            assert isinstance(result, ValidationError)
        else:
            assert isinstance(result, str)
            # The run exists the moment its caller has the id.
            assert get_run_view(svc, result).run.args == {"n": i}
    good = [r for r in results if isinstance(r, str)]
    assert len(set(good)) == len(good) == 24 - 3


def test_a_lone_caller_writes_its_run_itself_and_starts_no_thread(svc: Services) -> None:
    """`headwater run`: no writer thread (nor its connection) for one run."""
    before = set(threading.enumerate())
    run_id = start_run(svc, "numbers", {"n": 1})
    assert get_run_view(svc, run_id).run.args == {"n": 1}
    started = [t.name for t in set(threading.enumerate()) - before]
    assert "hw-run-writer" not in started


def test_concurrent_callers_with_one_key_get_one_run(svc: Services) -> None:
    results = _in_threads(12, lambda i: start_run(svc, "numbers", {"n": 1}, idempotency_key="k"))
    assert len(set(results)) == 1
    assert isinstance(results[0], str)


def test_a_database_error_fails_its_batch_and_the_writer_carries_on(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    fail = _fail_next_run_insert(monkeypatch)
    fail.set()
    with pytest.raises(StoreUnavailable):
        start_run(svc, "numbers", {"n": 1})
    run_id = start_run(svc, "numbers", {"n": 2})
    assert get_run_view(svc, run_id).run.args == {"n": 2}
    with svc.db.read() as conn:
        assert [r.id for r in run_store.list_runs(conn, "numbers")] == [run_id]


def test_runs_started_after_close_are_refused(svc: Services) -> None:
    start_run(svc, "numbers", {"n": 1})
    run_writer(svc).stop()
    with pytest.raises(StoreUnavailable):
        start_run(svc, "numbers", {"n": 2})


def test_closing_waits_for_a_caller_writing_its_own_run(
    svc: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Services.close stops the writer, then closes the database: never under a caller's
    transaction."""
    from headwater.services import run_batches

    writing, release = threading.Event(), threading.Event()
    write_batch = run_batches._write_batch

    def slow_write(*args: Any) -> Any:
        writing.set()
        release.wait(10)
        return write_batch(*args)

    monkeypatch.setattr(run_batches, "_write_batch", slow_write)
    events: list[str] = []
    caller = threading.Thread(target=lambda: events.append(start_run(svc, "numbers", {"n": 1})))
    caller.start()
    assert writing.wait(10)
    stopper = threading.Thread(target=lambda: (run_writer(svc).stop(), events.append("stopped")))
    stopper.start()
    stopper.join(0.3)
    assert events == []  # stop() waits for the run being written
    release.set()
    caller.join(10)
    stopper.join(10)
    assert events[-1] == "stopped"
    assert get_run_view(svc, events[0]).run.args == {"n": 1}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_starts_runs_whatever_lock_the_parent_held(svc: Services) -> None:
    if svc.db.dialect != "sqlite":
        pytest.skip("the child would write on the parent's PostgreSQL connection")
    writer = run_writer(svc)
    held, done = threading.Event(), threading.Event()

    def hold_the_lock() -> None:
        with writer._cond:
            held.set()
            done.wait(10)

    holder = threading.Thread(target=hold_the_lock)
    holder.start()
    assert held.wait(10)
    try:
        pid = os.fork()
        if pid == 0:  # the child: the holder thread did not come along
            code = 1
            try:
                signal.alarm(10)
                start_run(svc, "numbers", {"n": 1})
                code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
    finally:
        done.set()
        holder.join()
    assert os.waitstatus_to_exitcode(status) == 0


# -- through the API ------------------------------------------------------------------


@pytest.fixture
def client(svc: Services) -> Iterator[TestClient]:
    with TestClient(create_app(svc)) as test_client:
        yield test_client


def test_concurrent_triggers_are_each_answered_and_readable_at_once(client: TestClient) -> None:
    def trigger(i: int) -> tuple[int, dict[str, Any], int]:
        body = {"args": {"n": "bad" if i == 5 else i}}
        accepted = client.post("/api/v1/pipelines/numbers/runs", json=body)
        if accepted.status_code != 202:
            return accepted.status_code, accepted.json(), 0
        read = client.get(accepted.json()["status_url"])
        return accepted.status_code, read.json(), read.status_code

    results = _in_threads(16, trigger)
    assert results[5][0] == 422
    assert results[5][1]["errors"][0]["path"] == "args.n"
    ok = [r for i, r in enumerate(results) if i != 5]
    assert all(status == 202 and read_status == 200 for status, _, read_status in ok)
    assert [run["args"] for _, run, _ in ok] == [{"n": i} for i in range(16) if i != 5]
    assert len({run["id"] for _, run, _ in ok}) == 15


def test_a_database_error_is_a_503_problem(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_next_run_insert(monkeypatch).set()
    failed = client.post("/api/v1/pipelines/numbers/runs", json={"args": {"n": 1}})
    assert failed.status_code == 503
    assert failed.headers["content-type"].startswith("application/problem+json")
    assert failed.json()["type"] == "urn:headwater:problem:database-unavailable"
    again = client.post("/api/v1/pipelines/numbers/runs", json={"args": {"n": 1}})
    assert again.status_code == 202, again.text


def _fail_next_run_insert(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """An event that, while set, makes the next INSERT INTO runs fail in the database
    (and clears itself)."""
    armed = threading.Event()
    real = run_store._insert_sql

    def failing(dialect: str, table: str, columns: tuple[str, ...]) -> str:
        sql = real(dialect, table, columns)
        if armed.is_set() and table == "runs":
            armed.clear()
            return sql.replace("INSERT INTO runs ", "INSERT INTO no_such_table ", 1)
        return sql

    monkeypatch.setattr(run_store, "_insert_sql", failing)
    return armed

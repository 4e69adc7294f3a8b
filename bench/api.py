"""API benchmarks (issue 4): trigger requests per second against `headwater serve` on
SQLite (target >= 500/s) and the latency of GET /api/v1/runs/{id} (target p50 <= 10 ms).
Prints a markdown table (median, min, max over --repeat rounds, each on a fresh server,
and the load average before and after).

    python bench/api.py [--triggers 2000] [--clients 8] [--gets 1000] [--repeat 3]
        [--command serve|api] [--backend sqlite|postgresql]

Triggers come from `--clients` threads, each with its own keep-alive connection; the
embedded worker of `headwater serve` runs the runs meanwhile, as it would in use.
GETs are sequential from one connection, on a finished run of the same pipeline.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlsplit

import httpx
from fleet import drop_database, new_database

HEADWATER = Path(sys.executable).with_name("headwater")
RUNS_PATH = "/api/v1/pipelines/single/runs"
PROJECT = """
from headwater import pipeline, task

@task(cache=False)
def noop(x: int) -> int:
    return x

@pipeline
def single(x: int = 1):
    noop(x)
"""


@contextmanager
def server(command: str, backend: str = "sqlite") -> Iterator[str]:
    """A fresh project on a fresh database (SQLite, or a new PostgreSQL database) served
    by `headwater <command> --port 0`; its URL."""
    root = Path(tempfile.mkdtemp(prefix="headwater-apibench-"))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    (root / "pipelines" / "bench.py").write_text(PROJECT)
    url, database = new_database(backend, root)
    env = {**os.environ, "HEADWATER_DATABASE_URL": url}
    log = root / "serve.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), command, "--port", "0"], cwd=root, env=env, stdout=out, stderr=out
        )
    try:
        yield _wait_for_url(log, proc)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(60)
        drop_database(database)
        shutil.rmtree(root, ignore_errors=True)


def _wait_for_url(log: Path, proc: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for line in log.read_text().splitlines():
            if "serving at " in line:
                return line.split("serving at ", 1)[1].split()[0]
        if proc.poll() is not None:
            raise SystemExit(f"headwater exited:\n{log.read_text()}")
        time.sleep(0.05)
    raise SystemExit("headwater did not start")


def triggers_per_second(url: str, total: int, clients: int) -> float:
    """`total` POST .../runs spread over `clients` threads, each with its own keep-alive
    connection; requests per second. The clients use the standard library's
    http.client: httpx costs about 1.5 ms of CPU a request, as much as the server's
    whole work, and on 2 cores the client's CPU is taken from the server."""
    per_client = total // clients
    failures: list[str] = []
    start_together = threading.Barrier(clients + 1)
    address = urlsplit(url)

    def post_many() -> None:
        http = HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
        headers = {"Content-Type": "application/json"}
        start_together.wait()
        for i in range(per_client):
            http.request("POST", RUNS_PATH, json.dumps({"args": {"x": i}}), headers)
            response = http.getresponse()
            body = response.read()
            if response.status != 202:
                failures.append(body.decode())
        http.close()

    threads = [threading.Thread(target=post_many) for _ in range(clients)]
    for thread in threads:
        thread.start()
    start_together.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if failures:
        raise SystemExit(f"{len(failures)} triggers failed, e.g. {failures[0]}")
    return per_client * clients / elapsed


def get_run_latency_ms(url: str, count: int, *, finished: bool) -> tuple[float, float]:
    """(p50, p99) of GET /api/v1/runs/{id} in ms, on a finished run if `finished` (else
    on one no worker has taken: `headwater api` runs none)."""
    with httpx.Client(base_url=url, timeout=60) as http:
        run_id = http.post("/api/v1/pipelines/single/runs", json={}).json()["id"]
        while finished and http.get(f"/api/v1/runs/{run_id}").json()["state"] == "running":
            time.sleep(0.05)
        for _ in range(20):  # warm the connection and the server's caches
            http.get(f"/api/v1/runs/{run_id}")
        samples = []
        for _ in range(count):
            began = time.perf_counter()
            response = http.get(f"/api/v1/runs/{run_id}")
            samples.append((time.perf_counter() - began) * 1000)
            if response.status_code != 200:
                raise SystemExit(response.text)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--triggers", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--gets", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--command", choices=("serve", "api"), default="serve")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    options = parser.parse_args()
    rates, p50s, p99s = [], [], []
    load_before = os.getloadavg()[0]
    for round_ in range(options.repeat):
        with server(options.command, options.backend) as url:
            rates.append(triggers_per_second(url, options.triggers, options.clients))
            p50, p99 = get_run_latency_ms(url, options.gets, finished=options.command == "serve")
        p50s.append(p50)
        p99s.append(p99)
        print(
            f"round {round_ + 1}: {rates[-1]:.0f} triggers/s, GET run p50 {p50:.2f} ms, "
            f"p99 {p99:.2f} ms",
            file=sys.stderr,
        )
    loads = " to ".join(f"{load:.1f}" for load in (load_before, os.getloadavg()[0]))
    print(
        f"`headwater {options.command}` on {options.backend}, {options.repeat} rounds, "
        f"load average {loads}:\n"
    )
    print("| measure | median | min | max | target |")
    print("|---|---:|---:|---:|---|")
    for label, values, form, target in (
        (f"trigger requests/s ({options.clients} clients)", rates, ".0f", ">= 500"),
        ("GET /api/v1/runs/{id} p50 ms", p50s, ".2f", "<= 10"),
        ("GET /api/v1/runs/{id} p99 ms", p99s, ".2f", ""),
    ):
        low, mid, high = min(values), statistics.median(values), max(values)
        print(f"| {label} | {mid:{form}} | {low:{form}} | {high:{form}} | {target} |")


if __name__ == "__main__":
    main()

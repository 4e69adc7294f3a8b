"""What the CLI prints: the live run display, the run summary, pipelines and runs.

rich draws on a terminal only. Off one (a pipe, a log file, CI) the run's lines and its
summary are plain text, so `headwater run` there does not import rich (~40 ms).
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any, TextIO

from headwater.store import runs as run_store

if TYPE_CHECKING:
    from rich.console import Console, Group
    from rich.spinner import Spinner

    from headwater.config import Settings
    from headwater.domain.spec import PipelineSpec
    from headwater.local import RunResult
    from headwater.services.context import Services
    from headwater.store.runs import RunRow

STATE_STYLE = {
    "succeeded": "green",
    "cached": "cyan",
    "failed": "red",
    "upstream_failed": "yellow",
    "cancelled": "magenta",
    "running": "blue",
    "ready": "white",
    "pending": "dim",
}
REFRESH_SECONDS = 0.1
RUNNING_SHOWN = 8
DONE = ("succeeded", "cached", "failed", "upstream_failed", "cancelled")


def on_terminal(stream: TextIO) -> bool:
    """Whether rich would draw on `stream`: its own test (TTY_COMPATIBLE, FORCE_COLOR,
    then isatty), without importing it."""
    compatible = os.environ.get("TTY_COMPATIBLE", "")
    if compatible in ("0", "1"):
        return compatible == "1"
    force = os.environ.get("FORCE_COLOR")
    if force is not None:
        return force != ""
    try:
        return stream.isatty()
    except ValueError:  # closed
        return False


class RunDisplay:
    """Live progress on a terminal (done/total, running tasks with spinners, failures),
    then a summary table. Off a terminal, only the summary, as plain text."""

    def __init__(self, svc: Services) -> None:
        self.svc = svc
        self.run_id = ""
        self.started_at = time.monotonic()

    def started(self, run_id: str) -> None:
        self.run_id = run_id
        if on_terminal(sys.stderr):
            _console(stderr=True).print(f"run [bold]{run_id}[/] started")
        else:
            print(f"run {run_id} started", file=sys.stderr, flush=True)

    def watch(self, run_id: str, worker: threading.Thread) -> None:
        if not on_terminal(sys.stderr):
            worker.join()
            return
        from rich.live import Live

        spinners: dict[str, Spinner] = {}
        with Live(console=_console(stderr=True), refresh_per_second=10, transient=True) as live:
            while worker.is_alive():
                live.update(self._frame(run_id, spinners))
                worker.join(REFRESH_SECONDS)

    def _frame(self, run_id: str, spinners: dict[str, Spinner]) -> Group:
        from rich.console import Group
        from rich.spinner import Spinner
        from rich.text import Text

        with self.svc.db.read() as conn:
            counts = run_store.count_states(conn, run_id)
            running = run_store.running_labels(conn, run_id, RUNNING_SHOWN)
        total = sum(counts.values())
        done = sum(counts.get(s, 0) for s in DONE)
        elapsed = time.monotonic() - self.started_at
        head = Text.assemble(
            (f"{done}/{total} done", "bold"),
            f"  {elapsed:5.1f}s  ",
            *[
                (f"{counts[s]} {s}  ", STATE_STYLE[s])
                for s in ("running", "cached", "failed")
                if counts.get(s)
            ],
        )
        rows = [
            spinners.setdefault(label, Spinner("dots", text=Text(label, style="blue")))
            for label in running
        ]
        return Group(head, *rows)

    def summary(self, result: RunResult, settings: Settings) -> None:
        rows = _summary_rows(result)
        lines = []
        if on_terminal(sys.stdout):
            _print_rich_summary(result, rows)
        else:
            lines = _plain_summary(result, rows)
        if result.ok and result.output is not None:
            lines.append("output: " + _short(result.output))
        lines.append(f"artifacts: {settings.artifacts}")
        # One write: print() writes each line and its newline apart, which unbuffered
        # (PYTHONUNBUFFERED, `python -u`) makes two system calls a line.
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()


# One summary row: node label, [(count, state)], attempts, seconds.
_Row = tuple[str, list[tuple[int, str]], int, str]
_COLUMNS = ("task", "state", "attempts", "seconds")
_FAILURES_SHOWN = 5


def _summary_rows(result: RunResult) -> list[_Row]:
    by_node: dict[str, list[Any]] = defaultdict(list)
    for tr in result.view.task_runs:
        by_node[tr.node_id].append(tr)
    found = []
    for node, rows in by_node.items():
        children = [r for r in rows if r.map_index >= 0] or rows
        states: dict[str, int] = defaultdict(int)
        for r in children:
            states[r.state.value] += 1
        label = node + (f" x{len(children)}" if children is not rows or len(children) > 1 else "")
        attempts = sum(r.attempts for r in children)
        found.append((label, [(n, s) for s, n in states.items()], attempts, _seconds(rows)))
    return found


def _state_text(states: list[tuple[int, str]], *, styled: bool) -> str:
    single = sum(n for n, _ in states) == 1
    parts = []
    for n, state in states:
        text = state if single else f"{n} {state}"
        parts.append(f"[{STATE_STYLE.get(state, 'white')}]{text}[/]" if styled else text)
    return ", ".join(parts)


def _print_rich_summary(result: RunResult, rows: list[_Row]) -> None:
    from rich.table import Table
    from rich.text import Text

    out = _console()
    table = Table(
        box=None,
        title=f"run {result.run_id}: [{STATE_STYLE.get(result.state, 'white')}]{result.state}[/]",
        title_justify="left",
    )
    for column in _COLUMNS:
        table.add_column(column, justify="right" if column in ("attempts", "seconds") else "left")
    for label, states, attempts, seconds in rows:
        table.add_row(label, _state_text(states, styled=True), str(attempts), seconds)
    out.print(table)
    for failure in result.failures[:_FAILURES_SHOWN]:
        out.print(f"[red]✗ {failure.node}[/]: {failure.error_type}: {failure.message}")
        if failure.traceback:
            out.print(Text(_tail(failure.traceback, 12), style="dim"))
    more = _more_failures(result)
    if more:
        print(more)


def _plain_summary(result: RunResult, rows: list[_Row]) -> list[str]:
    lines = [f"run {result.run_id}: {result.state}"]
    cells = [list(_COLUMNS)] + [
        [label, _state_text(states, styled=False), str(attempts), seconds]
        for label, states, attempts, seconds in rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(_COLUMNS))]
    for row in cells:
        lines.append(
            " "
            + "  ".join(
                cell.rjust(width) if i >= 2 else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )
    for failure in result.failures[:_FAILURES_SHOWN]:
        lines.append(f"✗ {failure.node}: {failure.error_type}: {failure.message}")
        if failure.traceback:
            lines.append(_tail(failure.traceback, 12))
    more = _more_failures(result)
    if more:
        lines.append(more)
    return lines


def _more_failures(result: RunResult) -> str:
    if len(result.failures) > _FAILURES_SHOWN:
        return f"... and {len(result.failures) - _FAILURES_SHOWN} more failures"
    return ""


def _console(*, stderr: bool = False) -> Console:
    from rich.console import Console

    return Console(stderr=stderr)


def _seconds(rows: list[Any]) -> str:
    starts = [r.started_at for r in rows if r.started_at]
    ends = [r.ended_at for r in rows if r.ended_at]
    if not starts or not ends:
        return "-"
    return f"{max(ends) - min(starts):.2f}"


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _short(value: Any, limit: int = 300) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " ..."


def print_pipeline(spec: PipelineSpec) -> None:
    from rich.console import Console
    from rich.table import Table

    from headwater.domain.dag import build_graph

    console = Console()
    graph = build_graph(spec.nodes)
    console.print(f"[bold]{spec.name}[/]  version {spec.content_hash[:12]}")
    if spec.description:
        console.print(spec.description)
    props = spec.params.get("properties", {})
    if props:
        console.print("\n[bold]parameters[/]")
        required = set(spec.params.get("required", []))
        for name, prop in props.items():
            kind = prop.get("type", "any")
            extra = (
                " (required)"
                if name in required
                else f" = {prop['default']!r}"
                if "default" in prop
                else ""
            )
            console.print(f"  {name}: {kind}{extra}")
    table = Table(
        "node",
        "task",
        "after",
        "settings",
        box=None,
        title="\n[bold]nodes[/]",
        title_justify="left",
    )
    for node_id in graph.order:
        node = spec.node_map[node_id]
        task = spec.tasks.get(node.task)
        upstream = ", ".join(sorted(graph.upstream[node_id])) or "-"
        settings = []
        if node.map:
            settings.append(f"map over {node.map}")
        if task is not None:
            if task.kind == "command":
                settings.append("command")
            if task.retries:
                settings.append(f"retries={task.retries}")
            if task.timeout_seconds:
                settings.append(f"timeout={task.timeout_seconds:g}s")
            if not task.cache:
                settings.append("no cache")
            if task.queue != "default":
                settings.append(f"queue={task.queue}")
        table.add_row(node_id, node.task, upstream, ", ".join(settings))
    console.print(table)


def print_runs(found: list[RunRow]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("pipeline", "state", "started", "seconds", box=None)
    table.add_column("run", no_wrap=True, min_width=32)  # whole, so it can be pasted
    for run in found:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.created_at))
        seconds = f"{run.ended_at - run.created_at:.2f}" if run.ended_at else "-"
        table.add_row(
            run.pipeline,
            f"[{STATE_STYLE.get(run.state, 'white')}]{run.state}[/]",
            started,
            seconds,
            run.id,
        )
    Console().print(table)


__all__ = ["RunDisplay", "print_pipeline", "print_runs"]


def print_workers(found: list[Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("host", "pid", "queues", "state", "running", "heartbeat", box=None)
    table.add_column("worker", no_wrap=True)
    now = time.time()
    for w in found:
        style = {"running": "green", "stopping": "yellow", "dead": "red"}.get(w.state, "dim")
        table.add_row(
            w.host,
            str(w.pid),
            ",".join(w.queues) or "all",
            f"[{style}]{w.state}[/]",
            f"{w.running}/{w.concurrency}",
            f"{now - w.heartbeat_at:.0f}s ago",
            w.id,
        )
    Console().print(table)
    if not found:
        Console().print("no workers")

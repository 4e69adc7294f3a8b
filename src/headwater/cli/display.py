"""What the CLI prints: the live run display, the run summary, pipelines and runs."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group
from rich.live import Live
from rich.spinner import Spinner
from rich.table import Table
from rich.text import Text

from headwater.store import runs as run_store

if TYPE_CHECKING:
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


class RunDisplay:
    """Live progress on a terminal (done/total, running tasks with spinners, failures),
    then a summary table. Off a terminal, only the summary."""

    def __init__(self, svc: Services, console: Console | None = None) -> None:
        self.svc = svc
        self.console = console or Console(stderr=True)
        self.out = Console()
        self.run_id = ""
        self.started_at = time.monotonic()

    def started(self, run_id: str) -> None:
        self.run_id = run_id
        self.console.print(f"run [bold]{run_id}[/] started")

    def watch(self, run_id: str, worker: threading.Thread) -> None:
        if not self.console.is_terminal:
            worker.join()
            return
        spinners: dict[str, Spinner] = {}
        with Live(console=self.console, refresh_per_second=10, transient=True) as live:
            while worker.is_alive():
                live.update(self._frame(run_id, spinners))
                worker.join(REFRESH_SECONDS)

    def _frame(self, run_id: str, spinners: dict[str, Spinner]) -> Group:
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
        table = Table(
            box=None,
            title=f"run {result.run_id}: "
            f"[{STATE_STYLE.get(result.state, 'white')}]{result.state}[/]",
            title_justify="left",
        )
        for column in ("task", "state", "attempts", "seconds"):
            table.add_column(
                column, justify="right" if column in ("attempts", "seconds") else "left"
            )
        by_node: dict[str, list[Any]] = defaultdict(list)
        for tr in result.view.task_runs:
            by_node[tr.node_id].append(tr)
        for node, rows in by_node.items():
            children = [r for r in rows if r.map_index >= 0] or rows
            states: dict[str, int] = defaultdict(int)
            for r in children:
                states[r.state.value] += 1
            state_text = ", ".join(
                f"[{STATE_STYLE.get(s, 'white')}]{n} {s}[/]"
                if len(children) > 1
                else f"[{STATE_STYLE.get(s, 'white')}]{s}[/]"
                for s, n in states.items()
            )
            label = node + (
                f" x{len(children)}" if children is not rows or len(children) > 1 else ""
            )
            attempts = sum(r.attempts for r in children)
            seconds = _seconds(rows)
            table.add_row(label, state_text, str(attempts), seconds)
        self.out.print(table)
        for failure in result.failures[:5]:
            self.out.print(f"[red]✗ {failure.node}[/]: {failure.error_type}: {failure.message}")
            if failure.traceback:
                self.out.print(Text(_tail(failure.traceback, 12), style="dim"))
        if len(result.failures) > 5:
            self.out.print(f"... and {len(result.failures) - 5} more failures")
        if result.ok and result.output is not None:
            self.out.print(Text("output: " + _short(result.output)))
        self.out.print(f"artifacts: {settings.artifacts}")


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

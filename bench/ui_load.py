"""How long the run page of a 2,000-task pipeline takes to open in Chromium.

Runs `big` (bench/ui_pipeline.py: 400 five-step chains, 2,000 tasks) once with
`headwater run`, serves it with `headwater api`, then opens /runs/{id} in Debian's
Chromium (Playwright) several times and reports medians of:

- first view: a fresh server and a fresh browser profile, so dagre lays the graph out
  (in a Web Worker); the browser then hands the layout to the server;
- later views: another fresh browser profile, the page embeds the server's copy of the
  layout (a pipeline version's layout never changes);
- DOMContentLoaded: the server-rendered page and its data, parsed.

"Open" = navigation start until every node is drawn and coloured by state.

    python bench/ui_load.py [--repeat 5] [--tables 400]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
HEADWATER = Path(sys.executable).with_name("headwater")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TARGET_SECONDS = 2.0


def make_project(tables: int) -> Path:
    root = Path(tempfile.mkdtemp(prefix="headwater-ui-bench-"))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    source = (HERE / "ui_pipeline.py").read_text().replace("range(400)", f"range({tables})")
    (root / "pipelines" / "big.py").write_text(source)
    return root


def run_pipeline(root: Path) -> str:
    started = time.perf_counter()
    done = subprocess.run(
        [str(HEADWATER), "run", "big", "-C", str(root)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"headwater run big failed:\n{done.stdout}\n{done.stderr}")
    found = re.search(r"run ([0-9a-f]{32})", done.stdout + done.stderr)
    if found is None:
        raise SystemExit(f"no run id in the output:\n{done.stdout}\n{done.stderr}")
    print(f"ran big in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return found.group(1)


def serve(root: Path) -> tuple[subprocess.Popen[bytes], str]:
    log = root / "api.log"
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(HEADWATER), "api", "--port", "0", "-C", str(root)], stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        found = re.search(r"serving at (\S+)", log.read_text())
        if found:
            return proc, found.group(1)
        time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"headwater api did not start:\n{log.read_text()}")


def open_page(page: Any, url: str, reload: bool = False) -> dict[str, float]:
    if reload:
        page.reload(wait_until="commit")
    else:
        page.goto(url, wait_until="commit")
    page.wait_for_selector("#graph[data-ready=true]", timeout=120_000)
    timing = page.evaluate(
        """() => {
          const nav = performance.getEntriesByType('navigation')[0];
          return {dom: nav.domContentLoadedEventEnd, ready: performance.now(),
                  status: document.getElementById('graph-status').textContent,
                  nodes: document.querySelectorAll('#graph g.node').length};
        }"""
    )
    layout = re.search(r"laid out in (\d+) ms", timing["status"])
    drawn = re.search(r"drawn in (\d+) ms", timing["status"])
    return {
        "open_s": timing["ready"] / 1000,
        "dom_s": timing["dom"] / 1000,
        "layout_ms": float(layout.group(1)) if layout else 0.0,
        "draw_ms": float(drawn.group(1)) if drawn else float("nan"),
        "nodes": timing["nodes"],
    }


def measure(root: Path, url_path: str, repeat: int) -> dict[str, list[dict[str, float]]]:
    from playwright.sync_api import sync_playwright

    found: dict[str, list[dict[str, float]]] = {"first view": [], "later views": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for _ in range(repeat):
            proc, base = serve(root)  # a fresh server: no layout cached
            try:
                for kind in ("first view", "later views"):
                    context = browser.new_context(viewport={"width": 1400, "height": 900})
                    found[kind].append(open_page(context.new_page(), base + url_path))
                    context.close()
            finally:
                proc.send_signal(signal.SIGINT)
                proc.wait(20)
        browser.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tables", type=int, default=400, help="five tasks per table")
    options = parser.parse_args()
    root = make_project(options.tables)
    try:
        run_id = run_pipeline(root)
        samples = measure(root, f"/runs/{run_id}", options.repeat)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    results = {
        kind: {
            "tasks": options.tables * 5,
            "nodes_drawn": rows[0]["nodes"],
            **{
                f"median_{key}": statistics.median(r[key] for r in rows)
                for key in ("open_s", "dom_s", "layout_ms", "draw_ms")
            },
            "min_open_s": min(r["open_s"] for r in rows),
            "max_open_s": max(r["open_s"] for r in rows),
        }
        for kind, rows in samples.items()
    }
    print(
        "| run page | tasks | median open s | min | max | DOMContentLoaded s "
        "| layout ms | draw ms | target s |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for kind, r in results.items():
        print(
            f"| {kind} | {r['tasks']} | {r['median_open_s']:.2f} | {r['min_open_s']:.2f} | "
            f"{r['max_open_s']:.2f} | {r['median_dom_s']:.2f} | {r['median_layout_ms']:.0f} | "
            f"{r['median_draw_ms']:.0f} | {TARGET_SECONDS} |"
        )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"ui-load-{stamp}.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

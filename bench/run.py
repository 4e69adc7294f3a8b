"""headwater's benchmarks: `make bench` prints a markdown table of medians.

Each workload runs as a whole process (`headwater run` in a fresh project folder,
embedded SQLite, history persisted), several times; the table shows the median, the
min and max (machine noise) and peak RSS. Results are also written as JSON under
bench/results/ (gitignored). headwater's own modules are byte-compiled first, so start-up
is measured as an installed package starts (see `ensure_bytecode`).

    python bench/run.py [--repeat 5] [--only w1_chain,w4_start_up]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
HEADWATER = Path(sys.executable).with_name("headwater")
WORKLOADS = {  # name: (extra CLI arguments, repeats scale, target seconds)
    "w1_chain": ([], 1.0, 0.25),
    "w2_fan_out": ([], 1.0, 0.9),
    "w3_parallel_sleep": (["-j", "4"], 0.6, 2.6),
    "w4_start_up": ([], 1.0, 0.25),
    "w5_large": ([], 0.4, 10.0),
}


def ensure_bytecode() -> None:
    """Write .pyc files for headwater's modules if any are missing or stale.

    An editable install leaves src/ uncompiled, and with PYTHONDONTWRITEBYTECODE set the
    measured processes would compile every module again on each start (~0.2 s of W4).
    compileall writes the files whatever that variable says, and skips fresh ones.
    """
    spec = importlib.util.find_spec("headwater")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("headwater is not installed in this interpreter")
    package = next(iter(spec.submodule_search_locations))
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)


def fresh_project() -> Path:
    root = Path(tempfile.mkdtemp(prefix="headwater-bench-"))
    (root / "pipelines").mkdir()
    (root / "pipelines" / "__init__.py").write_text("")
    shutil.copy(HERE / "workloads.py", root / "pipelines" / "workloads.py")
    return root


def run_once(name: str, extra: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one `headwater run` in a fresh folder."""
    root = fresh_project()
    try:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [str(HEADWATER), "run", name, *extra],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err = proc.stderr.read().decode() if proc.stderr else ""
            raise SystemExit(f"{name} failed ({proc.returncode}):\n{err}")
        return seconds, usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--only", default="")
    options = parser.parse_args()
    chosen = [w for w in WORKLOADS if not options.only or w in options.only.split(",")]
    ensure_bytecode()
    load_before = os.getloadavg()[0]
    results = {}
    for name in chosen:
        extra, scale, target = WORKLOADS[name]
        repeat = max(3, round(options.repeat * scale))
        samples = [run_once(name, extra) for _ in range(repeat)]
        seconds = [s for s, _ in samples]
        results[name] = {
            "median_s": statistics.median(seconds),
            "min_s": min(seconds),
            "max_s": max(seconds),
            "peak_rss_mib": max(m for _, m in samples),
            "runs": repeat,
            "target_s": target,
        }
        print(f"{name}: {results[name]['median_s']:.3f} s", file=sys.stderr)
    print_table(results)
    # Besides headwater, the figures depend on the interpreter's build (the same CPython
    # version built with PGO and LTO runs it ~15-20% faster: bench/README.md) and on
    # what else the machine was doing.
    machine = {
        "python": f"{platform.python_version()} ({os.path.realpath(sys.executable)})",
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    print(
        f"\npython {machine['python']}; load average {load_before:.2f} before, "
        f"{machine['load_average'][1]:.2f} after"
    )
    out = HERE / "results"
    out.mkdir(exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (out / f"bench-{stamp}.json").write_text(json.dumps({**results, "machine": machine}, indent=2))


def print_table(results: dict[str, dict[str, float]]) -> None:
    print("| workload | median s | min s | max s | peak RSS MiB | target s | runs |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in results.items():
        print(
            f"| {name} | {r['median_s']:.3f} | {r['min_s']:.3f} | {r['max_s']:.3f} | "
            f"{r['peak_rss_mib']:.0f} | {r['target_s']} | {r['runs']:.0f} |"
        )
    if "w2_fan_out" in results and "w4_start_up" in results:
        per_task = (results["w2_fan_out"]["median_s"] - results["w4_start_up"]["median_s"]) / 502
        print(f"\nper-task overhead (W2 - W4) / 502: {per_task * 1000:.2f} ms (target <= 1 ms)")


if __name__ == "__main__":
    main()

"""Run the issue-15 benchmarks one after the other and print every figure next to its target.

Each benchmark runs as its own process (its full output, with its method, is shown as it
runs) and writes its figures to a JSON file; the table at the end quotes the median of the
runs (and the best run), the target and whether it is met. After its measured runs each
benchmark profiles one more run (cProfile, or CPU by package for the stream) and prints
where the time goes, so a missed target comes with its explanation.

* ``bench/gui.py``: 4 sensors x 200 Hz through the BLE stack, analysis and GUI, one process.
* ``bench/stream.py --issue15``: 4 x 200 Hz, both ends of the BLE stack in-process.
* ``bench/gait.py``: streaming gait 4 x 200 Hz; offline gait 1 h at 100 Hz.
* ``bench/analyze.py``: ``poise analyze`` of a 1-hour recording as a whole process.

``--load N`` starts N busy processes (a pure-Python spin loop each, nice 0) beside the
benchmarks for the whole run and stops them at the end: the "under load" run of the issue
(``make bench LOAD=2``). CPU-time figures (process time) move little under load; wall
time, frame rate and latency do.

Run: ``.venv/bin/python bench/summary.py [--load 2] [--quick]`` (``--quick``: fewer, shorter
runs, for a smoke test of the benchmarks themselves).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent

# (key, measure, unit, target text, met(value))
ROWS = (
    ("gui_fps", "bench/gui.py: live view frame rate", "fps", ">= 60", lambda v: v >= 60),
    ("gui_cpu_pct", "bench/gui.py: whole app CPU", "% core", "< 50", lambda v: v < 50),
    ("stream_pct", "bench/stream.py: 4 x 200 Hz CPU", "% core", "< 10", lambda v: v < 10),
    ("stream_p99_ms", "bench/stream.py: p99 latency", "ms", "< 20", lambda v: v < 20),
    ("stream_host_pct", "bench/stream.py: host side (info)", "% core", "-", None),
    ("gait_stream_pct", "bench/gait.py: streaming CPU", "% core", "< 5", lambda v: v < 5),
    (
        "gait_worst_update_cpu_ms",
        "bench/gait.py: worst update (CPU)",
        "ms",
        "< 20",
        lambda v: v < 20,
    ),
    (
        "gait_worst_update_wall_ms",
        "bench/gait.py: worst update (wall)",
        "ms",
        "< 20",
        lambda v: v < 20,
    ),
    ("gait_offline_cpu_s", "bench/gait.py: offline 1 h CPU", "s", "<= 0.7", lambda v: v <= 0.7),
    ("analyze_wall_s", "poise analyze 1 h: wall", "s", "<= 1.5", lambda v: v <= 1.5),
    ("analyze_rss_mb", "poise analyze 1 h: max RSS", "MB", "<= 200", lambda v: v <= 200),
    ("analyze_cpu_s", "poise analyze 1 h: CPU (info)", "s", "-", None),
)


def start_load(n: int) -> list[subprocess.Popen]:
    """N busy processes: each spins one core in pure Python until killed."""
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(max(n, 0))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--load", type=int, default=0, help="busy processes beside the benchmarks")
    ap.add_argument("--quick", action="store_true", help="short runs (smoke test)")
    args = ap.parse_args()
    quick = args.quick
    # --profile: after its measured runs, each prints where the time goes (the figures are
    # taken without the profiler)
    benches = (
        (
            "gui.py",
            ["--profile"] + (["--seconds", "3", "--runs", "2", "--warmup", "2"] if quick else []),
        ),
        ("stream.py", ["--issue15", "--profile"] + (["--seconds", "2"] if quick else [])),
        ("gait.py", ["--profile"] + (["--runs", "2", "--minutes-stream", "0.5"] if quick else [])),
        ("analyze.py", ["--profile"] + (["--runs", "2"] if quick else [])),
    )
    load = start_load(args.load)
    figures: dict[str, dict[str, float]] = {}
    t_start = time.monotonic()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for script, extra in benches:
                out = Path(tmp) / (script + ".json")
                print(f"== bench/{script} {' '.join(extra)}", flush=True)
                r = subprocess.run(
                    [sys.executable, str(BENCH / script), *extra, "--json", str(out)]
                )
                if r.returncode != 0 or not out.exists():
                    print(f"bench/{script} failed (exit {r.returncode})", file=sys.stderr)
                    return 1
                figures.update(json.loads(out.read_text()))
                print(flush=True)
    finally:
        for p in load:
            p.kill()
            p.wait()
    elapsed = time.monotonic() - t_start
    try:
        load_avg = ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load_avg = "?"
    print(
        f"== issue 15 summary: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; {args.load} busy process(es) beside the benchmarks; "
        f"load average at the end {load_avg}; {elapsed:.0f} s"
    )
    print(f"{'measure':<36} {'median':>9} {'best':>9}  {'unit':<7} {'target':<8} met")
    for key, name, unit, target, met in ROWS:
        f = figures.get(key)
        if f is None:
            print(f"{name:<36} {'-':>9} {'-':>9}  {unit:<7} {target:<8} ?")
            continue
        best = f.get("best", f["min"])  # a frame rate's best is its highest
        verdict = "-" if met is None else ("yes" if met(f["median"]) else "NO")
        print(f"{name:<36} {f['median']:>9.2f} {best:>9.2f}  {unit:<7} {target:<8} {verdict}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: ``poise analyze`` of a 1-hour recording as a whole process (wall, CPU, max RSS).

Method
------
* Input: one hour of 100 Hz lower-back data, the shipped mobgap-lab trials
  (``recordings/mobgap-lab/*/imu_lowerback.csv``) tiled end to end, written as a CSV and
  turned into a ``.poise`` recording by ``poise import-csv`` (built once, in a temporary
  folder, not timed).
* Timed: the whole ``poise analyze FILE --format json`` process, started with
  ``subprocess`` and reaped with ``os.wait4``: wall time from start to exit, user+system
  CPU and max RSS of that process alone. Interpreter start, imports, loading the file, the
  analysis and writing the JSON (to a file) are all inside.
* Runs: one warm-up (fills the OS file cache and ``__pycache__``), then ``--runs`` (5) timed
  runs; the minimum and the median are printed. The processes run without
  ``PYTHONDONTWRITEBYTECODE`` even when the caller's environment sets it: with it, no
  ``__pycache__`` is written and every run would compile Poise's modules from source again
  (about 0.2 s), which an installed Poise (pip compiles it) or a clone after its first run
  never does.
* When a figure misses its target, ``-X importtime`` (the 8 slowest imports) and a cProfile
  of one run (top functions by cumulative time) are printed, so the output shows where the
  time goes.

Run: ``.venv/bin/python bench/analyze.py [--runs 5] [--profile]``.
Targets (issue 15): <= 1.5 s wall, <= 200 MB max RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "recordings" / "mobgap-lab"
TARGET_WALL_S = 1.5
TARGET_RSS_MB = 200.0
#: The environment of the measured processes: bytecode is cached (see the module docstring).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def build_hour(folder: Path, rate_hz: float = 100.0, seconds: float = 3600.0) -> Path:
    """Tile the shipped mobgap-lab trials to ``seconds`` and import them as a recording."""
    parts = [
        np.loadtxt(f, delimiter=",", skiprows=1) for f in sorted(DATA.glob("*/imu_lowerback.csv"))
    ]
    x = np.concatenate(parts)
    n = int(seconds * rate_hz)
    x = np.tile(x, (n // len(x) + 1, 1))[:n]
    csv = folder / "hour.csv"
    header = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    np.savetxt(csv, x, delimiter=",", header=header, comments="", fmt="%.6f")
    out = folder / "hour.poise"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "poise",
            "import-csv",
            str(csv),
            "-o",
            str(out),
            "--rate",
            f"{rate_hz:g}",
        ]
        + ["--data-dir", str(folder / "data")],
        check=True,
        capture_output=True,
    )
    csv.unlink()
    return out


def run_once(cmd: list[str], out_path: Path) -> tuple[float, float, float]:
    """One process: (wall s, CPU s, max RSS MB)."""
    with open(out_path, "wb") as out:
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.PIPE, env=ENV)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode() if p.stderr else ""
    if p.returncode != 0:
        raise SystemExit(f"poise analyze failed ({p.returncode}): {err}")
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024.0


def profile(cmd: list[str], folder: Path) -> None:
    """Print the slowest imports and a cProfile of one run."""
    r = subprocess.run(
        [sys.executable, "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=ENV
    )
    rows = []
    for line in r.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            _, cum, name = line.split("|")
            if cum.strip().isdigit():
                rows.append((int(cum), name.rstrip()))
    rows.sort(reverse=True)
    print("  slowest imports (cumulative, -X importtime):")
    for cum, name in rows[:8]:
        print(f"    {cum / 1e6:6.3f} s {name}")
    prof = folder / "analyze.prof"
    subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(prof), *cmd[1:]],
        capture_output=True,
        check=True,
        env=ENV,
    )
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(str(prof), stream=buf).sort_stats("cumulative").print_stats(22)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    print("  cProfile of one run (top by cumulative time, profiler overhead included):")
    for ln in lines[start:]:
        print("    " + ln)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--profile", action="store_true", help="print the profile even on target")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rec = build_hour(folder)
        cmd = [sys.executable, "-m", "poise", "analyze", str(rec), "--format", "json"]
        cmd += ["--data-dir", str(folder / "data")]
        run_once(cmd, folder / "out.json")  # warm-up
        runs = [run_once(cmd, folder / "out.json") for _ in range(args.runs)]
        walls, cpus, rss = (list(v) for v in zip(*runs, strict=True))
        print(
            "poise analyze, 1 h at 100 Hz (mobgap-lab trials tiled), whole process, "
            f"1 warm-up + {args.runs} runs:"
        )
        print(
            f"  wall    min {min(walls):.2f} s, median {statistics.median(walls):.2f} s "
            f"(runs {', '.join(f'{w:.2f}' for w in walls)})  [target <= {TARGET_WALL_S} s]"
        )
        print(f"  CPU     min {min(cpus):.2f} s, median {statistics.median(cpus):.2f} s (user+sys)")
        print(
            f"  max RSS min {min(rss):.0f} MB, median {statistics.median(rss):.0f} MB  "
            f"[target <= {TARGET_RSS_MB:.0f} MB]"
        )
        missed = statistics.median(walls) > TARGET_WALL_S or min(rss) > TARGET_RSS_MB
        if missed or args.profile:
            profile(cmd, folder)
    figures = {
        "analyze_wall_s": {"min": min(walls), "median": statistics.median(walls)},
        "analyze_cpu_s": {"min": min(cpus), "median": statistics.median(cpus)},
        "analyze_rss_mb": {"min": min(rss), "median": statistics.median(rss)},
    }
    if args.json:
        args.json.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

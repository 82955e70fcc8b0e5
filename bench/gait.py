"""Benchmark of the gait analysis; prints its figures (not a test).

Method
------
1. Offline: one hour of 100 Hz lower-back data (the shipped mobgap-lab trials tiled end to
   end) through :class:`analysis.gait.GaitAnalyzer` in this process. Timed: process CPU time
   of ``analyze`` (data already in memory, imports done). Warm-up: one 60-s analysis.
   Runs: ``--runs`` (3); min and median printed. Target (issue 15): <= 0.7 s CPU.
2. Streaming: four :class:`analysis.gait.StreamingGait` instances fed 200 Hz data (the
   trials resampled and tiled, ``--minutes-stream`` of data each) in 20-sample blocks, as
   four sensors would deliver it. Timed: process CPU time over the whole feed divided by
   the seconds of data (% of one core for the four together), and each ``update`` call's
   thread CPU time and wall time (the worst of each; the wall figure includes preemption
   by other processes on a loaded machine). Runs: ``--runs`` (3) with fresh instances, the
   first 10 s of data of each run is warm-up (not counted); min and median printed.
   Targets (issue 15): < 5 % of one core, worst update < 20 ms.
   Garbage collection: before the streaming runs the process calls
   :func:`poise.startup.freeze_startup_objects` (collect once, then ``gc.freeze``), as the
   session and home windows do before their event loop, so that generation-2 collections
   do not traverse the ~70,000 objects of the imports (a full collection of them costs
   ~45-50 ms of CPU here). Every collection during the timed streaming is recorded
   (``gc.callbacks``, thread CPU time) and printed: how many per generation, the longest,
   and how much of the worst update was collection; also the worst update's page faults
   (``getrusage`` around each update): on this project's VM, touching memory the guest
   had given back to the host costs milliseconds per fault, counted as the thread's CPU.

Run: ``.venv/bin/python bench/gait.py [--minutes-stream M] [--runs N] [--json FILE]
[--profile]`` (``--profile``: one more offline and streaming run under cProfile).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from analysis.gait import GaitAnalyzer, StreamingGait
from poise.startup import freeze_startup_objects

DATA = Path(__file__).resolve().parents[1] / "recordings" / "mobgap-lab"


def load_all() -> tuple[np.ndarray, np.ndarray]:
    accs, gyrs = [], []
    for d in sorted(DATA.glob("*/imu_lowerback.csv")):
        x = np.loadtxt(d, delimiter=",", skiprows=1)
        accs.append(x[:, :3])
        gyrs.append(np.deg2rad(x[:, 3:]))
    return np.concatenate(accs), np.concatenate(gyrs)


def tile(x: np.ndarray, n: int) -> np.ndarray:
    reps = int(np.ceil(n / x.shape[0]))
    return np.tile(x, (reps, 1))[:n]


def _print_profile(prof, what: str) -> None:
    """The costliest functions by own time (cProfile; its overhead included)."""
    import io
    import pstats

    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(14)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    print(f"profile, {what} (own time):")
    for ln in [lines[0], *lines[start:]]:
        print("    " + ln.replace(str(Path(__file__).resolve().parents[1]) + "/", ""))


def _offline(acc: np.ndarray, gyr: np.ndarray, runs: int):
    """Offline analysis of 1 h at 100 Hz: CPU seconds of each run, and the data."""
    fs = 100.0
    n = int(3600 * fs)
    a1, g1 = tile(acc, n), tile(gyr, n)
    GaitAnalyzer(sensor_height_m=0.96).analyze(a1[:6000], g1[:6000], fs)  # warm-up
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        res = GaitAnalyzer(sensor_height_m=0.96).analyze(a1, g1, fs).result_
        times.append(time.process_time() - t0)
    print(
        f"offline: 1 h at 100 Hz ({n} samples), {runs} runs after a warm-up: "
        f"min {min(times):.2f} s CPU, median {statistics.median(times):.2f} s "
        f"(runs {', '.join(f'{t:.2f}' for t in times)}); {len(res.walking_bouts)} bouts, "
        f"{len(res.initial_contacts_s)} contacts, {len(res.turns)} turns  [target <= 0.7 s]"
    )
    return times, a1, g1


class _GcLog:
    """Every garbage collection while attached: (generation, thread CPU seconds)."""

    def __init__(self) -> None:
        self.pauses: list[tuple[int, float]] = []
        self._start = 0.0

    def __call__(self, phase: str, info: dict) -> None:
        if phase == "start":
            self._start = time.thread_time()
        else:
            self.pauses.append((info["generation"], time.thread_time() - self._start))


def _stream_run(a2, g2, m: int, warm: int, block: int, fs2: float, log: _GcLog) -> dict:
    """One streaming run of 4 sensors: CPU %, the worst update (CPU, wall, its collections
    and page faults) and the collections during the timed part."""
    who = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
    pauses = log.pauses
    streams = [StreamingGait(fs2, sensor_height_m=0.96) for _ in range(4)]
    w_cpu = w_wall = w_gc = 0.0
    w_faults = 0
    for i in range(0, m, block):
        if i == warm:
            t0 = time.process_time()
            pauses.clear()
            gc.callbacks.append(log)
        for s in streams:
            sl = slice(i, i + block)
            n_gc, f0 = len(pauses), resource.getrusage(who).ru_minflt
            c0, p0 = time.thread_time(), time.perf_counter()
            s.update(a2[sl], g2[sl])
            if i >= warm:
                w_wall = max(w_wall, time.perf_counter() - p0)
                c = time.thread_time() - c0
                if c > w_cpu:
                    w_cpu, w_gc = c, sum(d for _, d in pauses[n_gc:])
                    w_faults = resource.getrusage(who).ru_minflt - f0
    cpu = time.process_time() - t0
    gc.callbacks.remove(log)
    return {
        "pct": 100 * cpu / ((m - warm) / fs2),
        "worst_cpu": 1000 * w_cpu,
        "worst_wall": 1000 * w_wall,
        "worst_gc": 1000 * w_gc,
        "worst_faults": w_faults,
        "pauses": list(pauses),
        "bouts": len(streams[0].bouts_),
    }


def _streaming(acc: np.ndarray, gyr: np.ndarray, minutes: float, runs: int):
    """Streaming analysis, 4 sensors x 200 Hz in 20-sample blocks: figures of every run."""
    fs2 = 200.0
    a2 = resample_poly(acc, 2, 1, axis=0)
    g2 = resample_poly(gyr, 2, 1, axis=0)
    m = int(minutes * 60 * fs2)
    a2, g2 = tile(a2, m), tile(g2, m)
    block = 20
    warm = int(10 * fs2)
    frozen = freeze_startup_objects()
    log = _GcLog()
    out = [_stream_run(a2, g2, m, warm, block, fs2, log) for _ in range(runs)]
    pct, worst_cpu = [r["pct"] for r in out], [r["worst_cpu"] for r in out]
    worst_wall = [r["worst_wall"] for r in out]
    print(
        f"streaming: 4 sensors x 200 Hz, {(m - warm) / fs2:.0f} s of data (after 10 s warm-up) "
        f"in {block}-sample blocks, {runs} runs: min {min(pct):.1f} %, median "
        f"{statistics.median(pct):.1f} % of one core  [target < 5 %]; worst update CPU "
        f"min {min(worst_cpu):.1f} ms, median {statistics.median(worst_cpu):.1f} ms "
        f"(wall median {statistics.median(worst_wall):.1f} ms)  [target < 20 ms]; "
        f"bouts per sensor {out[-1]['bouts']}"
    )
    every = [p for r in out for p in r["pauses"]]
    worst_gc = ", ".join(f"{r['worst_gc']:.1f}" for r in out)
    per_gen = [sum(1 for g, _ in every if g == k) for k in range(3)]
    print(
        f"garbage collection during the streaming runs ({frozen} start-up objects frozen "
        f"first): {per_gen[0]}/{per_gen[1]}/{per_gen[2]} collections of generation 0/1/2, "
        f"longest {1000 * max((d for _, d in every), default=0.0):.1f} ms CPU; in the worst "
        f"update of each run {worst_gc} ms; its page "
        f"faults {', '.join(str(r['worst_faults']) for r in out)}"
    )
    return pct, worst_cpu, worst_wall, (a2, g2, m, block, fs2)


def _profiles(a1, g1, stream_data) -> None:
    import cProfile

    prof = cProfile.Profile()
    prof.enable()
    GaitAnalyzer(sensor_height_m=0.96).analyze(a1, g1, 100.0)
    prof.disable()
    _print_profile(prof, "offline 1 h")
    a2, g2, m, block, fs2 = stream_data
    streams = [StreamingGait(fs2, sensor_height_m=0.96) for _ in range(4)]
    prof = cProfile.Profile()
    prof.enable()
    for i in range(0, m, block):
        for s in streams:
            s.update(a2[i : i + block], g2[i : i + block])
    prof.disable()
    _print_profile(prof, f"streaming 4 x {m / fs2:.0f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes-stream", type=float, default=2.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument(
        "--profile", action="store_true", help="profile one offline and one streaming run"
    )
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    acc, gyr = load_all()
    times, a1, g1 = _offline(acc, gyr, args.runs)
    pct, worst_cpu, worst_wall, stream_data = _streaming(acc, gyr, args.minutes_stream, args.runs)
    if args.profile:
        _profiles(a1, g1, stream_data)
    if args.json:
        med = statistics.median
        args.json.write_text(
            json.dumps(
                {
                    "gait_offline_cpu_s": {"min": min(times), "median": med(times)},
                    "gait_stream_pct": {"min": min(pct), "median": med(pct)},
                    "gait_worst_update_cpu_ms": {"min": min(worst_cpu), "median": med(worst_cpu)},
                    "gait_worst_update_wall_ms": {
                        "min": min(worst_wall),
                        "median": med(worst_wall),
                    },
                }
            )
        )


if __name__ == "__main__":
    main()

"""Benchmark a week at home: read and analyse 60 million samples in bounded memory.

1. **Build** (not timed against a target): a week of one lower-back Poise wearable at
   100 Hz (60.5 million samples, about 830 MB) from :class:`sensors.daily_life.DailyLife`.
   The scenario models of :mod:`sensors.scenarios` generate a library of noise-free pieces
   once (5-min sitting pieces with posture shifts, 12 outings with walks of
   5 s to 5 min at 0.5-1.3 m/s, a minute standing, taking the sensor off and putting it
   on: about 25 minutes of signal, 1-2 s of work); every day is a random arrangement of
   those pieces between 07:30 and 22:00 (own seed per day), with fresh sensor noise per
   tile, and the night is the sensor lying still on a table. The days are written straight
   into the recording as the sensor would stream them (packets of 19 samples encoded with
   numpy, a CRC-16 each, sensor clock with 20 ppm drift and host receive times), about
   3 s per day. The file is kept in the temporary folder and reused (``--rebuild``).
2. **Analyse** (timed): ``poise analyze --daily FILE --format json`` in a child process,
   as a user runs it: the file is indexed (one pass), read an hour at a time, gait per
   hour with a minute of margin (skipped for a window in which nothing moved more than
   50 mg: the nights on the table), wear time, outcomes per day and week. Wall time and the
   child's peak resident memory (``getrusage(RUSAGE_CHILDREN).ru_maxrss``) are printed
   next to the targets (< 3 min, < 1 GB), and the daily outcomes next to the truth.
3. **Replay**: the same file through :class:`poise.player.Player` (a day's seek and a
   minute of replay into a counting sink) in the same child's memory budget.

Run: ``.venv/bin/python bench/week.py [--days 7] [--rebuild]``
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 180.0
TARGET_MB = 1024.0


def build(path: Path, days: int, rate: float, seed: int) -> dict:
    from sensors.daily_life import DailyLife, write_recording

    t0 = time.perf_counter()
    dl = DailyLife(rate, seed=seed)
    lib_s = time.perf_counter() - t0
    start = _dt.datetime(2026, 11, 30).astimezone().timestamp()  # local midnight
    blocks = itertools.chain.from_iterable(dl.blocks(d) for d in range(days))
    tmp = path.with_suffix(".partial")
    n = write_recording(tmp, blocks, start_epoch_s=start, overwrite=True)
    tmp.replace(path)
    truth = [dl.plan(d)[1] for d in range(days)]
    (path.with_suffix(".truth.json")).write_text(json.dumps(truth))
    print(
        f"built: {days} days, {n} samples at {rate:g} Hz, {path.stat().st_size / 1e6:.0f} MB "
        f"in {time.perf_counter() - t0:.1f} s (library of {len(dl.sits)} sitting pieces, "
        f"{len(dl.outings)} walks, {len(dl.stands)} standing, 2 handling pieces in "
        f"{lib_s:.1f} s; every day tiled from it) -> {path}"
    )
    return {"truth": truth}


def analyse(path: Path) -> tuple[dict, float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "poise", "analyze", "--daily", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    if proc.returncode != 0:
        sys.exit(f"poise analyze --daily failed: {proc.stderr.strip()}")
    if before and before / 1024.0 >= peak_mb:
        print("(an earlier child used more memory; the peak below is a bound)")
    return json.loads(proc.stdout), wall, peak_mb


REPLAY = r"""
import resource, sys, time
from poise.player import Player
from sensors.longread import open_recording

class Count:
    n = 0
    def add_sensor(self, *a, **k): pass
    def push_samples(self, sensor_id, t, acc, gyr): Count.n += len(t)
    def push_gap(self, *a, **k): pass
    def push_state(self, *a, **k): pass
    def push_record_event(self, e): pass
    def reset_data(self, p): pass

t0 = time.perf_counter()
rec = open_recording(sys.argv[1])
t_open = time.perf_counter() - t0
p = Player(rec, speed=10.0)
p.attach(Count())
t0 = time.perf_counter()
p.seek(5 * 86400 + 12 * 3600.0)
for _ in range(600):
    p.advance(0.01)  # 0.1 s of recording per call at 10x: one minute in all
dt = time.perf_counter() - t0
print(f"{t_open:.1f} {dt * 1000 / 601:.2f} {Count.n} "
      f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f}")
"""


def replay(path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", REPLAY, str(path)], capture_output=True, text=True, cwd=ROOT
    )
    if proc.returncode != 0:
        print(f"replay: failed: {proc.stderr.strip().splitlines()[-1:]}")
        return
    t_open, per_call_ms, n, mb = proc.stdout.split()
    print(
        f"replay: opened in {t_open} s; seek to day 6 noon and a minute at 10x: "
        f"{per_call_ms} ms per player step, {n} samples delivered; peak memory {mb} MB "
        f"[target < {TARGET_MB:.0f} MB]"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=7)
    ap.add_argument("--rate", type=float, default=100.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--file", type=Path, help="where to keep the synthetic week")
    ap.add_argument("--rebuild", action="store_true", help="build the file even if it exists")
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    path = args.file or Path(tempfile.gettempdir()) / (
        f"poise-bench-week-{args.days}d-{args.rate:g}hz-seed{args.seed}.poise"
    )
    truth_path = path.with_suffix(".truth.json")
    if args.rebuild or not path.exists() or not truth_path.exists():
        build(path, args.days, args.rate, args.seed)
    else:
        print(f"reusing {path} ({path.stat().st_size / 1e6:.0f} MB; --rebuild to build anew)")
    truth = json.loads(truth_path.read_text())
    out, wall, peak = analyse(path)
    samples = args.days * 86400 * args.rate
    print(
        f"analysed {samples / 1e6:.1f} M samples: {wall:.1f} s [target < {TARGET_S:.0f} s]; "
        f"peak memory {peak:.0f} MB [target < {TARGET_MB:.0f} MB]; "
        f"{out['windows_analysed']} analysis windows ({out['still_windows']} still: no gait "
        "analysis)"
    )
    print("day         wear h (truth)   walking min (truth)   steps (truth)   bouts (truth)")
    for d, t in zip(out["days"], truth):
        walks = t["walks"]
        print(
            f"{d['date']}  {d['wear_h']:5.1f} ({t['wear_s'] / 3600:4.1f})     "
            f"{d['walking_min']:6.1f} ({sum(w['duration_s'] for w in walks) / 60:6.1f})      "
            f"{d['steps']:6d} ({sum(w['n_steps'] for w in walks):6d})   "
            f"{d['n_bouts']:4d} ({len(walks):4d})"
        )
    w = out["week"]
    print(
        f"week: {w['wear_h']:.1f} h worn, {w['walking_min']:.1f} min walking, {w['steps']} "
        f"steps, bouts 10-30/30-60/>60 s: {w['bouts_10-30s']}/{w['bouts_30-60s']}/"
        f"{w['bouts_over60s']}, gait speed median {w['classes']['all']['speed_median_mps']} "
        f"m/s, p90 {w['classes']['all']['speed_p90_mps']} m/s"
    )
    replay(path)


if __name__ == "__main__":
    main()

"""Benchmark of the gait analysis; prints its figures (not a test).

1. Offline: one hour of 100 Hz lower-back data (the mobgap-lab trials tiled end to end) through
   :class:`analysis.gait.GaitAnalyzer`. Target: <= 2 s on one core.
2. Streaming: four :class:`analysis.gait.StreamingGait` instances fed 200 Hz data (the trials
   resampled and tiled) in 20-sample blocks, as four sensors would deliver it. Reported as CPU
   time per second of data (target: < 10 % of one core for the four together) and the worst
   single ``update`` call.

Run: ``.venv/bin/python bench/gait.py [--minutes-stream M]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly

from analysis.gait import GaitAnalyzer, StreamingGait

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes-stream", type=float, default=2.0)
    args = ap.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, numpy {np.__version__}"
    )
    acc, gyr = load_all()

    fs = 100.0
    n = int(3600 * fs)
    a1, g1 = tile(acc, n), tile(gyr, n)
    GaitAnalyzer(sensor_height_m=0.96).analyze(a1[:6000], g1[:6000], fs)  # warm-up
    times = []
    for _ in range(3):
        t0 = time.process_time()
        res = GaitAnalyzer(sensor_height_m=0.96).analyze(a1, g1, fs).result_
        times.append(time.process_time() - t0)
    print(
        f"offline: 1 h at 100 Hz ({n} samples): best {min(times):.2f} s CPU "
        f"(runs {', '.join(f'{t:.2f}' for t in times)}); {len(res.walking_bouts)} bouts, "
        f"{len(res.initial_contacts_s)} contacts, {len(res.turns)} turns  [target <= 2 s]"
    )

    fs2 = 200.0
    a2 = resample_poly(acc, 2, 1, axis=0)
    g2 = resample_poly(gyr, 2, 1, axis=0)
    m = int(args.minutes_stream * 60 * fs2)
    a2, g2 = tile(a2, m), tile(g2, m)
    streams = [StreamingGait(fs2, sensor_height_m=0.96) for _ in range(4)]
    block = 20
    worst = 0.0
    t0 = time.process_time()
    for i in range(0, m, block):
        for s in streams:
            sl = slice(i, i + block)
            c0 = time.perf_counter()
            s.update(a2[sl], g2[sl])
            worst = max(worst, time.perf_counter() - c0)
    cpu = time.process_time() - t0
    data_s = m / fs2
    print(
        f"streaming: 4 sensors x 200 Hz, {data_s:.0f} s of data in {block}-sample blocks: "
        f"{cpu:.2f} s CPU = {100 * cpu / data_s:.1f} % of one core  [target < 10 %]; "
        f"worst update {1000 * worst:.1f} ms; bouts per sensor {len(streams[0].bouts_)}"
    )


if __name__ == "__main__":
    main()

"""Benchmark: GUI frame rate and whole-process CPU while demo sensors stream.

Starts the therapist window offscreen with N virtual wearables through the full in-process
BLE stack (Bumble link, GATT server, bleak client, codec, stream hub, recorder), lets it
warm up, then measures for a while: redraws per second of the live view and the CPU time
of the whole process (every thread: BLE stack, emulator, analysis, GUI) per wall second.

Usage: ``python bench/gui.py [--sensors 4] [--rate 200] [--seconds 15]``
Targets (issue 6): >= 30 fps; the whole app under one core (CPU < 100 %).
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=15.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    args = ap.parse_args()

    import gui  # noqa: F401  (PySide6 work-around)
    from gui.app import make_app
    from gui.main_window import MainWindow
    from poise.session import Session
    from poise.sources import BleSource

    app = make_app()
    with tempfile.TemporaryDirectory() as tmp:
        session = Session(data_dir=tmp)
        win = MainWindow(session, demo_rate_hz=args.rate)
        win.resize(1366, 768)
        win.show()
        win.set_source(BleSource(demo=args.sensors, sampling_rate_hz=args.rate))
        t_end = time.monotonic() + 30.0
        while time.monotonic() < t_end and not (
            len(session.sensors) == args.sensors
            and all(i.state == "streaming" for i in session.sensors.values())
        ):
            app.processEvents()
            time.sleep(0.005)
        if not all(i.state == "streaming" for i in session.sensors.values()):
            print("sensors did not start streaming", file=sys.stderr)
            return 1

        def run_for(seconds: float) -> None:
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                app.processEvents()
                time.sleep(0.002)

        run_for(args.warmup)
        f0, c0, w0 = win.live.frames, cpu_s(), time.monotonic()
        s0 = {k: v.samples for k, v in session.sensors.items()}
        run_for(args.seconds)
        f1, c1, w1 = win.live.frames, cpu_s(), time.monotonic()
        wall = w1 - w0
        fps = (f1 - f0) / wall
        cpu_pct = 100.0 * (c1 - c0) / wall
        rates = {k: (v.samples - s0[k]) / wall for k, v in session.sensors.items()}
        gaps = sum(v.gap_samples for v in session.sensors.values())
        win.close()
        session.close()
    print(f"machine: {os.cpu_count()} CPU(s), {sys.platform}, Python {sys.version.split()[0]}")
    print(f"sensors: {args.sensors} x {args.rate} Hz through the in-process BLE stack")
    print(f"measured over {wall:.1f} s after {args.warmup:.0f} s warm-up")
    print(f"live view frame rate: {fps:.1f} fps (target >= 30)")
    print(f"process CPU (all threads): {cpu_pct:.0f} % of one core (target < 100)")
    print("samples/s per sensor: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))
    print(f"lost samples (gaps): {gaps}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

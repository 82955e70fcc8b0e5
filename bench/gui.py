"""Benchmark: GUI frame rate and whole-process CPU while demo sensors stream.

Starts the therapist window offscreen with N virtual wearables through the full in-process
BLE stack (Bumble link, GATT server, bleak client, codec, stream hub, recorder), lets it
warm up, then measures for a while: redraws per second of the live view and the CPU time
of the whole process (every thread: BLE stack, emulator, analysis, GUI) per wall second.

Method: the window is shown at 1366 x 768 and the sensors connected (not timed); then
``--warmup`` (5 s) of streaming and drawing, not counted; then ``--runs`` (3) back-to-back
windows of ``--seconds`` (10 s) each: frames drawn by the live view / wall seconds, and
process CPU (user + system, every thread) / wall seconds, and the GUI thread's own CPU
time (``time.thread_time``) / wall seconds. Min and median over the windows
are printed. The GUI thread runs Qt's own event loop (``QEventLoop.exec`` until a
single-shot timer ends the window), as ``app.exec()`` does in the app: it sleeps until a
timer or an event is due. (Until 2026-12-03 it was driven by ``processEvents`` with 2-ms
sleeps in between, which woke the GUI thread ~400 times a second for nothing and counted
that in the CPU figure.)

Usage: ``python bench/gui.py [--sensors 4] [--rate 200] [--seconds 10] [--runs 3]``
Targets (issue 15): >= 60 fps; the whole app under half a core (CPU < 50 %).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sensors", type=int, default=4)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=5.0)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument(
        "--profile",
        action="store_true",
        help="after the measured windows, profile the GUI thread (cProfile) for one more window",
    )
    return ap.parse_args()


def _profiled(run_for, seconds: float) -> str:
    """cProfile of the GUI thread over one more window (cumulative and own time)."""
    import cProfile
    import io
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    run_for(seconds)
    prof.disable()
    buf = io.StringIO()
    st = pstats.Stats(prof, stream=buf)
    st.sort_stats("cumulative").print_stats(30)
    st.sort_stats("tottime").print_stats(15)
    return buf.getvalue()


def _report(args, fps, cpu_pct, gui_pct, rates, gaps, prof_text: str) -> None:
    med = statistics.median
    print(f"machine: {os.cpu_count()} CPU(s), {sys.platform}, Python {sys.version.split()[0]}")
    print(f"sensors: {args.sensors} x {args.rate} Hz through the in-process BLE stack")
    print(f"measured: {args.runs} windows of {args.seconds:g} s after {args.warmup:g} s warm-up")
    print(
        f"live view frame rate: median {med(fps):.1f} fps, min {min(fps):.1f} "
        f"(windows {', '.join(f'{f:.1f}' for f in fps)})  [target >= 60]"
    )
    print(
        f"process CPU (all threads): median {med(cpu_pct):.0f} %, min {min(cpu_pct):.0f} % of "
        f"one core (windows {', '.join(f'{c:.0f}' for c in cpu_pct)})  [target < 50]"
    )
    print(
        f"  of which the GUI thread (model poll, analysis, redraw, paint): median "
        f"{med(gui_pct):.0f} % ({1000 * med(gui_pct) / 100 / max(med(fps), 1e-9):.1f} ms CPU "
        "per frame); the rest: BLE stack, virtual sensors, recorder threads"
    )
    print("samples/s per sensor: " + ", ".join(f"{k} {v:.0f}" for k, v in rates.items()))
    print(f"lost samples (gaps): {gaps}")
    if prof_text:
        print(f"GUI-thread profile over {args.seconds:g} s (cProfile, its overhead included):")
        print("\n".join(ln for ln in prof_text.splitlines() if ln.strip()))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "gui_fps": {"min": min(fps), "median": med(fps), "best": max(fps)},
                    "gui_cpu_pct": {"min": min(cpu_pct), "median": med(cpu_pct)},
                }
            )
        )


def main() -> int:
    args = _args()

    import gui  # noqa: F401  (PySide6 work-around)
    from gui.app import make_app, run_events_for
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
            run_events_for(seconds)

        run_for(args.warmup)
        fps, cpu_pct, gui_pct = [], [], []
        w_start = time.monotonic()
        s0 = {k: v.samples for k, v in session.sensors.items()}
        for _ in range(args.runs):
            f0, c0, w0, g0 = win.live.frames, cpu_s(), time.monotonic(), time.thread_time()
            run_for(args.seconds)
            f1, c1, w1, g1 = win.live.frames, cpu_s(), time.monotonic(), time.thread_time()
            fps.append((f1 - f0) / (w1 - w0))
            cpu_pct.append(100.0 * (c1 - c0) / (w1 - w0))
            gui_pct.append(100.0 * (g1 - g0) / (w1 - w0))
        wall = time.monotonic() - w_start
        rates = {k: (v.samples - s0[k]) / wall for k, v in session.sensors.items()}
        prof_text = ""
        if args.profile:
            prof_text = _profiled(run_for, args.seconds)
        gaps = sum(v.gap_samples for v in session.sensors.values())
        win.close()
        session.close()
    _report(args, fps, cpu_pct, gui_pct, rates, gaps, prof_text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

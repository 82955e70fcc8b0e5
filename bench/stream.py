"""Benchmark the whole in-process BLE stream: CPU use and emulator-to-subscriber latency.

Both ends run in this process on one asyncio loop: virtual sensors (Bumble GATT servers:
Poise wearables and the vendor twins, :class:`sensors.emulator.Emulator`) -> Bumble
virtual link -> bleak's public API with the Bumble backend ->
:class:`sensors.stream.StreamHub` (each device's driver: decode, gaps, clock model) -> a
subscriber callback.

* CPU: process CPU time / wall time over the streaming window (1.0 = one core busy). It
  includes the virtual sensors' own work (encoding, Bumble's GATT server and host stack),
  so it overstates what the hub costs with real sensors. A sensor's PDUs reach the
  central's host as the HCI ACL packets the central's controller would deliver, without
  a round trip through the sensor's own controller (``docs/bumble-backend.md``); the
  central side does all its usual work.
* Latency: the emulator records ``time.perf_counter()`` when it hands each packet to its
  controller (``record_send_times``); the subscriber takes ``time.perf_counter()`` when
  the decoded block arrives. p50/p99 over all packets matched by their first sample.

Usage::

    python bench/stream.py                  # the default set below, 10 s each
    python bench/stream.py --seconds 20 --mtu 23 --demo 4
    python bench/stream.py --demo polar-verity-sense:2,metamotion:2 --rate 1000

``--demo`` takes ``N`` (Poise wearables) or ``KIND:N,...`` (``firmware:N`` too: the
MicroPython firmware on a simulated IMU, its packets matched like a Poise wearable's);
``--rate`` is asked of every sensor and each takes its nearest supported rate (1000: each
its highest, Polar Verity Sense 416 Hz, MetaMotion 200 Hz, Poise 200 Hz). Default set: 1 and 4 Poise wearables at
200 Hz, then 4 vendor sensors (2 Polar Verity Sense, 2 MetaMotion) at their highest rates.

Method: per configuration, connect and start, 0.5 s settle (warm-up, not counted), then
``--runs`` (1) back-to-back windows of ``--seconds`` each on the same connections: CPU %
per window (min and median printed), latency percentiles over every block of every window.
Loop lag: the most any twin's packet timer ran late over the windows (stalls from GC or
other processes). It is read from the twins; the bench used to run a 10 ms sleeper task
for it, whose 100 wake-ups a second were counted in the CPU figure although they are
not the stream's.

``--issue15``: the issue-15 figure only (4 Poise wearables x 200 Hz, 3 windows of 10 s)
against its targets, then the same streams measured from the host side alone.

Host side alone (``--host-side``, and after ``--issue15``; an added figure, the one above
is unchanged): the same N Poise wearables run in a ``poise emulate`` subprocess and this
process reaches them over Bumble's TCP HCI transport (``tcp-client:127.0.0.1:PORT``), as
it would a controller on a USB dongle; CPU % is this process's (bleak, Bumble's host
stack, the hub, a subscriber) over the same windows; the emulator's CPU is printed beside
it (Linux: from /proc). No latency: send times stay in the other process.

Targets (issue 3 and 13): 4 sensors at their highest rates under 50 % of one core, p99
latency under 20 ms. Issue 15: 4 x 200 Hz under 10 % of one core, p99 < 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sensors.bumble_backend import close_hosts  # noqa: E402
from sensors.devices import parse_demo_spec, twin_driver_kind  # noqa: E402
from sensors.emulator import Emulator, TwinSpec  # noqa: E402
from sensors.stream import SensorSpec, StreamHub, StreamSettings, scan  # noqa: E402

DEFAULT_RUNS = (("1", 200.0), ("4", 200.0), ("polar-verity-sense:2,metamotion:2", 1000.0))


async def run_once(
    demo: str,
    rate_hz: float,
    seconds: float,
    mtu: int | None,
    windows: int = 1,
    profile: bool = False,
) -> dict:
    twins = TwinSpec.from_demo(parse_demo_spec(demo))
    n_sensors = len(twins)
    async with Emulator(specs=twins, rate_hz=rate_hz, record_send_times=True) as emu:
        found = await scan(5.0, transport=emu.transport, count=n_sensors)
        by_address = {r.address: r for r in found}
        specs = [
            SensorSpec(
                device=by_address[w.address].device, name=w.name, kind=by_address[w.address].kind
            )
            for w in emu.wearables
        ]
        hub = StreamHub(
            specs, config=StreamSettings(rate_hz, 8, 2000), transport=emu.transport, mtu=mtu
        )
        arrivals: list[tuple[int, int, float]] = []  # (sensor, first sample's key, t)

        def on_block(sb) -> None:
            t = time.perf_counter()
            # the key the twin recorded its send time under: a Poise wearable's timestamp,
            # a vendor twin's sample number in the session (the hub's index starts there)
            # (sb.sensor_time_us[0] without converting the whole block: rint == round)
            key = round(float(sb.sensor_time_s[0]) * 1e6) if sb.kind == "poise" else sb.first_index
            arrivals.append((sb.sensor_index, key, t))

        hub.subscribe(on_block=on_block)
        await hub.start()
        await asyncio.sleep(0.5)  # settle
        arrivals.clear()
        # loop lag: how late the loop ran the sensors' own packet timers (stalls: GC, other
        # processes); read from the twins, so measuring it wakes the process no extra time
        for w in emu.wearables:
            w.truth.max_timer_lag_s = 0.0
        fractions = []
        wall = 0.0
        for _ in range(windows):
            cpu0, wall0 = time.process_time(), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1, wall1 = time.process_time(), time.perf_counter()
            fractions.append((cpu1 - cpu0) / (wall1 - wall0))
            wall += wall1 - wall0
        prof = None
        if profile:  # one more window under cProfile (everything runs on this loop's thread)
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
            await asyncio.sleep(seconds)
            prof.disable()
        lag_s = max(w.truth.max_timer_lag_s for w in emu.wearables)
        n_arr = len(arrivals)
        await hub.stop()
        stats = hub.stats()
        sends = {}
        for i, w in enumerate(emu.wearables):
            if twin_driver_kind(w.kind) == "poise":  # a Poise wearable, or its firmware
                mod = 1 << (24 if stats[i].mtu == 23 else 32)  # compact: 24-bit timestamps
                sends[i] = {ts % mod: t for ts, t in w.truth.send_times_s.items()}
                arrivals = [(s, k % mod if s == i else k, t) for s, k, t in arrivals]
            else:
                sends[i] = dict(w.truth.send_times_s)
        lat = [(t - sends[i][k]) for i, k, t in arrivals[:n_arr] if k in sends[i]]
    await close_hosts()
    lat_ms = np.asarray(lat) * 1e3
    return {
        "demo": demo,
        "sensors": n_sensors,
        "rates": "/".join(f"{s.rate_hz:g}" for s in stats),
        "mtu": stats[0].mtu,
        "seconds": wall,
        "cpu_fraction": float(np.median(fractions)),
        "cpu_fraction_min": min(fractions),
        "windows": len(fractions),
        "packets": n_arr,
        "matched": int(lat_ms.size),
        "p50_ms": float(np.percentile(lat_ms, 50)) if lat_ms.size else float("nan"),
        "p99_ms": float(np.percentile(lat_ms, 99)) if lat_ms.size else float("nan"),
        "max_ms": float(lat_ms.max()) if lat_ms.size else float("nan"),
        "lost": sum(s.samples_lost for s in stats),
        "loop_lag_ms": lag_s * 1e3,
        "profile": prof,
    }


def _proc_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of another process; NaN where /proc is missing."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run_host_side(n_sensors: int, rate_hz: float, seconds: float, windows: int) -> dict:
    """The hub's process alone: the wearables in a ``poise emulate`` subprocess."""
    repo = Path(__file__).resolve().parents[1]
    emu = subprocess.Popen(
        [sys.executable, "-m", "poise", "emulate", "--count", str(n_sensors)]
        + ["--rate", f"{rate_hz:g}"],
        cwd=repo,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        transport = None
        assert emu.stdout is not None
        while transport is None:
            line = emu.stdout.readline()
            if not line:
                raise RuntimeError("poise emulate printed no transport")
            m = re.search(r"Bumble transport (tcp-client:\S+)", line)
            transport = m.group(1) if m else None
        found = await scan(5.0, transport=transport, count=n_sensors)
        specs = [SensorSpec(device=r.device, name=r.name, kind=r.kind) for r in found]
        hub = StreamHub(specs, config=StreamSettings(rate_hz, 8, 2000), transport=transport)
        blocks = [0]

        def on_block(_sb) -> None:
            blocks[0] += 1

        hub.subscribe(on_block=on_block)
        await hub.start()
        await asyncio.sleep(0.5)  # settle
        blocks[0] = 0
        host, other = [], []
        for _ in range(windows):
            cpu0, emu0, wall0 = time.process_time(), _proc_cpu_s(emu.pid), time.perf_counter()
            await asyncio.sleep(seconds)
            cpu1, emu1, wall1 = time.process_time(), _proc_cpu_s(emu.pid), time.perf_counter()
            host.append((cpu1 - cpu0) / (wall1 - wall0))
            other.append((emu1 - emu0) / (wall1 - wall0))
        n_blocks = blocks[0]
        await hub.stop()
        stats = hub.stats()
        await close_hosts()
    finally:
        emu.send_signal(signal.SIGINT)
        try:
            emu.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            emu.kill()
            emu.communicate()
    return {
        "sensors": n_sensors,
        "rates": "/".join(f"{s.rate_hz:g}" for s in stats),
        "mtu": stats[0].mtu,
        "cpu_fraction": float(np.median(host)),
        "cpu_fraction_min": min(host),
        "emulator_fraction": float(np.median(other)),
        "windows": len(host),
        "packets": n_blocks,
        "lost": sum(s.samples_lost for s in stats),
    }


def print_host_side(r: dict) -> None:
    """One line for the host-side-alone figure."""
    print(
        f"host side alone, {r['sensors']} wearables x {r['rates']} Hz in `poise emulate` over "
        f"TCP HCI, MTU {r['mtu']}: this process {100 * r['cpu_fraction']:.1f} % of one core "
        f"(min {100 * r['cpu_fraction_min']:.1f} %, {r['windows']} windows), emulator process "
        f"{100 * r['emulator_fraction']:.1f} %; {r['packets']} blocks, {r['lost']} samples lost"
    )


def print_profile(prof, seconds: float) -> None:
    """CPU of the profiled window by package (own time), and the costliest functions."""
    import pstats

    st = pstats.Stats(prof)
    groups: dict[str, float] = {}
    busy = 0.0
    for (path, _line, name), (_cc, _nc, tt, _ct, _callers) in st.stats.items():
        if name == "<method 'poll' of 'select.epoll' objects>":
            continue  # the loop waiting: idle
        busy += tt
        key = "other (stdlib, numpy, builtins)"
        for pkg in ("bumble", "pyee", "bleak", "asyncio"):
            if f"/{pkg}/" in path:
                key = pkg if pkg != "bleak" else "bleak"
                break
        for pkg in ("sensors", "firmware_protocol"):
            if f"/{pkg}/" in path and "site-packages" not in path:
                key = f"poise: {pkg}/"
        groups[key] = groups.get(key, 0.0) + tt
    print(
        f"profile of one more {seconds:g}-s window (cProfile, own time; its overhead inflates "
        f"the total): busy {busy:.2f} s = {100 * busy / seconds:.0f} % of one core"
    )
    for key, tt in sorted(groups.items(), key=lambda kv: -kv[1]):
        print(f"  {key:<34} {tt:6.2f} s  {100 * tt / max(busy, 1e-9):5.1f} %")
    import io

    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(16)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next(i for i, ln in enumerate(lines) if "ncalls" in ln)
    for ln in lines[start:]:
        print("    " + ln)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=None, help="asked of every sensor (Hz)")
    ap.add_argument("--demo", nargs="*", default=None, help="N or KIND:N,... (several runs)")
    ap.add_argument("--mtu", type=int, default=None, help="ATT MTU to request (default 247)")
    ap.add_argument("--runs", type=int, default=1, help="measured windows per configuration")
    ap.add_argument("--issue15", action="store_true", help="4 x 200 Hz, 3 windows, targets")
    ap.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    ap.add_argument("--profile", action="store_true", help="profile one more window, by package")
    ap.add_argument(
        "--host-side",
        action="store_true",
        help="only the host-side figure (N wearables of --demo N in a subprocess)",
    )
    args = ap.parse_args()
    if args.host_side:
        n = int((args.demo or ["4"])[0])
        r = asyncio.run(run_host_side(n, args.rate or 200.0, args.seconds, args.runs))
        print_host_side(r)
        return 0
    if args.issue15:
        runs = [("4", 200.0)]
        args.runs = max(args.runs, 3)
    elif args.demo:
        runs = [(d, args.rate or 200.0) for d in args.demo]
    else:
        runs = [(d, args.rate or r) for d, r in DEFAULT_RUNS]
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"method: per configuration 0.5 s settle, then {args.runs} window(s) of "
        f"{args.seconds:g} s; CPU % = process CPU / wall per window (median, min); latency "
        "over all blocks"
    )
    print(
        f"{'sensors':<36} {'rates Hz':>15} {'MTU':>4} {'CPU %':>6} {'min %':>6} {'blocks':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost':>5} {'loop lag ms':>11}"
    )
    results = []
    for demo, rate in runs:
        r = asyncio.run(run_once(demo, rate, args.seconds, args.mtu, args.runs, args.profile))
        results.append(r)
        print(
            f"{r['demo']:<36} {r['rates']:>15} {r['mtu']:>4} {100 * r['cpu_fraction']:>6.1f} "
            f"{100 * r['cpu_fraction_min']:>6.1f} "
            f"{r['packets']:>7} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
            f"{r['lost']:>5} {r['loop_lag_ms']:>11.1f}"
        )
    for r in results:
        if r["profile"] is not None:
            print(f"== {r['demo']}")
            print_profile(r["profile"], args.seconds)
    host_side = None
    if args.issue15:
        host_side = asyncio.run(run_host_side(4, 200.0, args.seconds, args.runs))
        print_host_side(host_side)
        print("targets (issue 15): 4 x 200 Hz < 10 % of one core, p99 < 20 ms")
    else:
        print("targets: 4 sensors at their highest rates < 50 % of one core, p99 < 20 ms")
    if args.json:
        r = results[0]
        figures = {
            "stream_pct": {"min": 100 * r["cpu_fraction_min"], "median": 100 * r["cpu_fraction"]},
            "stream_p99_ms": {"min": r["p99_ms"], "median": r["p99_ms"]},
        }
        if host_side is not None:
            figures["stream_host_pct"] = {
                "min": 100 * host_side["cpu_fraction_min"],
                "median": 100 * host_side["cpu_fraction"],
            }
        args.json.write_text(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())

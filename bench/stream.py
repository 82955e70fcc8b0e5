"""Benchmark the whole in-process BLE stream: CPU use and emulator-to-subscriber latency.

Both ends run in this process on one asyncio loop: virtual wearables (Bumble GATT
servers, :class:`sensors.emulator.Emulator`) -> Bumble virtual link -> bleak's public
API with the Bumble backend -> :class:`sensors.stream.StreamHub` (decode, gaps, clock
model) -> a subscriber callback.

* CPU: process CPU time / wall time over the streaming window (1.0 = one core busy).
* Latency: the emulator records ``time.perf_counter()`` when it hands each packet to its
  controller (``record_send_times``); the subscriber takes ``time.perf_counter()`` when
  the decoded block arrives. p50/p99 over all packets.

Usage::

    python bench/stream.py                  # 1 and 4 sensors at 200 Hz, 10 s each
    python bench/stream.py --seconds 20 --mtu 23 --sensors 4

Targets (issue 3): 4 x 200 Hz under 50 % of one core, p99 latency under 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from firmware_protocol.types import SensorConfig  # noqa: E402
from sensors.bumble_backend import close_hosts  # noqa: E402
from sensors.emulator import Emulator  # noqa: E402
from sensors.stream import SensorSpec, StreamHub, scan  # noqa: E402


async def run_once(n_sensors: int, rate_hz: int, seconds: float, mtu: int | None) -> dict:
    async with Emulator(count=n_sensors, rate_hz=rate_hz, record_send_times=True) as emu:
        found = await scan(5.0, transport=emu.transport, count=n_sensors)
        specs = [SensorSpec(device=r.device, name=r.name) for r in found[:n_sensors]]
        hub = StreamHub(
            specs, config=SensorConfig(rate_hz, 8, 2000), transport=emu.transport, mtu=mtu
        )
        arrivals: list[tuple[int, int, float]] = []  # (sensor, first ts as sent, t)
        bits = [32]

        def on_block(sb) -> None:
            t = time.perf_counter()
            bits[0] = sb.block.timestamp_bits
            arrivals.append((sb.sensor_index, int(sb.block.timestamp_us[0]), t))

        hub.subscribe(on_block=on_block)
        await hub.start()
        await asyncio.sleep(0.5)  # settle
        arrivals.clear()
        lag = [0.0]

        async def lag_monitor() -> None:
            # how late the loop wakes a 10 ms sleeper: stalls (GC, other processes) show here
            while True:
                t = time.perf_counter()
                await asyncio.sleep(0.01)
                lag[0] = max(lag[0], time.perf_counter() - t - 0.01)

        mon = asyncio.create_task(lag_monitor())
        cpu0, wall0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(seconds)
        cpu1, wall1 = time.process_time(), time.perf_counter()
        mon.cancel()
        n_arr = len(arrivals)
        await hub.stop()
        stats = hub.stats()
        sends = {}
        for i, spec in enumerate(specs):
            truth = emu.wearable(spec.name).truth
            mod = 1 << bits[0]  # compact packets (MTU 23) carry 24-bit timestamps
            sends[i] = {ts % mod: t for ts, t in truth.send_times_s.items()}
        lat = [(t - sends[i][ts]) for i, ts, t in arrivals[:n_arr] if ts in sends[i]]
    await close_hosts()
    lat_ms = np.asarray(lat) * 1e3
    return {
        "sensors": n_sensors,
        "rate_hz": rate_hz,
        "mtu": stats[0].mtu,
        "seconds": wall1 - wall0,
        "cpu_fraction": (cpu1 - cpu0) / (wall1 - wall0),
        "packets": n_arr,
        "matched": int(lat_ms.size),
        "p50_ms": float(np.percentile(lat_ms, 50)) if lat_ms.size else float("nan"),
        "p99_ms": float(np.percentile(lat_ms, 99)) if lat_ms.size else float("nan"),
        "max_ms": float(lat_ms.max()) if lat_ms.size else float("nan"),
        "lost": sum(s.samples_lost for s in stats),
        "loop_lag_ms": lag[0] * 1e3,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=int, default=200)
    ap.add_argument("--sensors", type=int, nargs="*", default=[1, 4])
    ap.add_argument("--mtu", type=int, default=None, help="ATT MTU to request (default 247)")
    args = ap.parse_args()
    print(
        f"machine: {platform.machine()} {platform.processor() or ''} "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(
        f"{'sensors':>7} {'rate':>5} {'MTU':>4} {'CPU %':>6} {'packets':>8} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost':>5} {'loop lag ms':>11}"
    )
    for n in args.sensors:
        r = asyncio.run(run_once(n, args.rate, args.seconds, args.mtu))
        print(
            f"{r['sensors']:>7} {r['rate_hz']:>5} {r['mtu']:>4} {100 * r['cpu_fraction']:>6.1f} "
            f"{r['packets']:>8} {r['p50_ms']:>7.2f} {r['p99_ms']:>7.2f} {r['max_ms']:>7.2f} "
            f"{r['lost']:>5} {r['loop_lag_ms']:>11.1f}"
        )
    print("targets: 4 x 200 Hz < 50 % of one core, p99 < 20 ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())

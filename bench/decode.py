"""Decode throughput of the wire protocol codec, in samples per second, one core.

Packets: 6-axis, 200 Hz, full layout at ATT MTU 247 (19 samples, 239 bytes), the
worst case of a streaming session. Prints figures for ``decode_many`` (replay and
batched streaming) over batches of several sizes, for single-packet ``decode`` (what
a notification callback costs), and for compact 20-byte packets (MTU 23).

Run: ``.venv/bin/python bench/decode.py [--seconds 1.0]``. Target (issue 2):
>= 2 million samples/s with ``decode_many``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from firmware_protocol.codec import (
    decode,
    decode_many,
    encode_data,
    max_samples_per_packet,
    to_counts,
)
from firmware_protocol.types import SensorConfig


def _packets(n_packets: int, config: SensorConfig, per_packet: int, compact: bool) -> list[bytes]:
    rng = np.random.default_rng(0)
    n = n_packets * per_packet
    acc, gyr = to_counts(rng.normal(0, 3, (n, 3)) + [9.81, 0, 0], rng.normal(0, 1, (n, 3)), config)
    period = config.sample_period_us
    return [
        encode_data(
            i % 65536,
            (i * per_packet * period) % 2**32,
            acc[i * per_packet : (i + 1) * per_packet],
            gyr[i * per_packet : (i + 1) * per_packet],
            compact=compact,
            config=config,
        )
        for i in range(n_packets)
    ]


def _rate(fn, samples_per_call: int, seconds: float) -> float:
    """Best-of-repeats samples/s of ``fn``."""
    fn()  # warm up
    best = float("inf")
    deadline = time.perf_counter() + seconds
    calls = 0
    while True:
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
        calls += 1
        if time.perf_counter() > deadline and calls >= 3:
            break
    return samples_per_call / best


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=1.0, help="time per measurement")
    args = ap.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    cfg = SensorConfig(200, 8, 2000)
    per = max_samples_per_packet(247)
    print(
        f"machine: {platform.machine()} {_cpu_name()} {platform.python_implementation()} "
        f"{platform.python_version()}, numpy {np.__version__}, 1 core"
    )
    print(f"packets: 200 Hz 6-axis, MTU 247 -> {per} samples, {11 + 12 * per} bytes each")
    for n_packets in (100, 1_000, 10_000, 50_000):
        pk = _packets(n_packets, cfg, per, False)
        r = _rate(lambda pk=pk: decode_many(pk, cfg), n_packets * per, args.seconds)
        print(f"decode_many  {n_packets:6d} packets: {r / 1e6:6.2f} M samples/s")
    pk = _packets(2_000, cfg, per, False)

    def singles() -> None:
        for p in pk:
            decode(p, cfg)

    r = _rate(singles, len(pk) * per, args.seconds)
    print(
        f"decode (one packet per call)      : {r / 1e6:6.2f} M samples/s "
        f"({1e6 * per / r:.1f} us per packet)"
    )
    cpk = _packets(20_000, cfg, 1, True)
    r = _rate(lambda: decode_many(cpk, cfg), len(cpk), args.seconds)
    print(f"decode_many compact 20-byte packets: {r / 1e6:6.2f} M samples/s")
    print("target: >= 2 M samples/s with decode_many")


if __name__ == "__main__":
    main()

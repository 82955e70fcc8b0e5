"""``poise emulate``: run virtual Poise wearables for another process to connect to.

The wearables live on a virtual BLE link inside this process; their radio is reachable
over loopback TCP: every process that opens the printed Bumble transport
(``tcp-client:127.0.0.1:PORT``) gets its own virtual controller on that link, so
``poise scan --transport tcp-client:127.0.0.1:PORT`` in another terminal finds them.
Runs until Ctrl-C, then prints the ground truth (samples produced, injected faults).

``--firmware micropython`` runs the MicroPython firmware (firmware_protocol/micropython/)
on a simulated IMU instead of the Python virtual wearable: what the client talks to is
the firmware's own code.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from poise.errors import PoiseError


def register(subparsers: Any) -> None:
    """Add the ``emulate`` sub-parser."""
    p = subparsers.add_parser(
        "emulate",
        help="run virtual wearables (Bumble) that another process can scan and connect to",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--count", type=int, default=1, help="number of wearables (default 1)")
    p.add_argument(
        "--rate",
        type=int,
        default=None,
        choices=(50, 100, 200),
        help="initial rate in Hz (default: the --source recording's rate if supported, else 100)",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument("--source", metavar="FILE", help="replay a recording (or CSV) as motion")
    src.add_argument(
        "--scenario", metavar="NAME", default=None, help="synthetic motion (default: quiet)"
    )
    p.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    p.add_argument(
        "--firmware",
        choices=("micropython",),
        default=None,
        help="run the MicroPython firmware on a simulated IMU (no fault injection)",
    )
    p.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="e.g. drop=0.05,disconnect-every=3s,corrupt=0.01,drift-ppm=100,battery-drain=1",
    )
    p.add_argument("--seed", type=int, default=0, help="seed for faults and motion noise")
    p.add_argument(
        "--seconds", type=float, default=None, help="stop after this long (default: Ctrl-C)"
    )
    p.add_argument("--truth", metavar="FILE", help="write the ground truth as JSON on exit")
    p.set_defaults(func=run)


def _source_factories(path: str, count: int) -> tuple[list[Any], Any]:
    """One source factory per wearable from a recording's sensors (cycled), and its config."""
    from sensors.virtual_wearable import array_source_factory

    try:
        from poise.inputs import load_input  # type: ignore[import-not-found]

        recording = load_input(path)
    except ImportError:
        from sensors.recording import load_recording

        recording = load_recording(path)
    if not recording.sensors:
        raise PoiseError(f"{path}: the recording holds no sensor data to replay")
    factories = []
    for i in range(count):
        sensor = recording.sensors[i % len(recording.sensors)]
        factories.append(
            array_source_factory(sensor.acc_mps2, sensor.gyr_radps, sensor.sampling_rate_hz)
        )
    return factories, recording.sensors[0].config


async def _serve(args: argparse.Namespace) -> dict[str, Any]:
    from firmware_protocol.types import SensorConfig
    from sensors.emulator import Emulator, WearableSpec
    from sensors.virtual_wearable import FaultConfig

    faults = FaultConfig.parse(args.faults)
    if args.firmware and args.faults:
        raise PoiseError("--faults applies to the virtual wearables only, not --firmware")
    specs = None
    rate = args.rate
    if args.source:
        # replay at the recording's own rate and ranges unless --rate says otherwise
        factories, config = _source_factories(args.source, args.count)
        if rate is not None:
            config = SensorConfig(rate, config.acc_range_g, config.gyro_range_dps)
        rate = config.sampling_rate_hz
        specs = [WearableSpec(source_factory=f, config=config) for f in factories]
    emulator = Emulator(
        count=args.count,
        rate_hz=rate or 100,
        scenario=args.scenario,
        faults=None if args.firmware else faults,
        seed=args.seed,
        specs=specs,
        firmware=args.firmware,
    )
    async with emulator:
        transport = await emulator.serve(port=args.port)
        names = ", ".join(w.name for w in emulator.wearables)
        print(f"poise emulate: {len(emulator.wearables)} virtual wearable(s): {names}")
        print(f"poise emulate: Bumble transport {transport}")
        print(f"  connect from another process:  poise scan --transport {transport}")
        print(f"                                 poise record -o FILE --transport {transport}")
        print("  Ctrl-C to stop", flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.seconds)
        return emulator.summary()


def run(args: argparse.Namespace) -> int:
    """Entry point of ``poise emulate``."""
    if not 1 <= args.count <= 64:
        raise PoiseError(f"--count must be 1..64, got {args.count}")
    try:
        summary = asyncio.run(_serve(args))
    except KeyboardInterrupt:
        summary = None
    if summary is not None:
        for name, truth in summary.items():
            print(
                f"{name}: produced {truth['samples_produced']} samples, sent "
                f"{truth['samples_sent']}, dropped {truth['samples_dropped']}, undelivered "
                f"{truth['samples_undelivered']}, corrupted {truth['samples_corrupted']}, "
                f"{len(truth['disconnect_times_s'])} forced disconnect(s)"
            )
        if args.truth:
            with open(args.truth, "w", encoding="utf-8") as fh:
                json.dump(summary, fh, indent=1)
    sys.stdout.flush()
    return 0

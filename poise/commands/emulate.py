"""``poise emulate``: run virtual sensors for another process to connect to.

``--count N`` Poise wearables (default 1), or ``--demo KIND:N,...`` with any kinds of
virtual twin (``poise``, ``polar-verity-sense``, ``metamotion``, ``firmware``: the
MicroPython firmware of firmware_protocol/micropython/ on a simulated IMU, a Poise wearable
whose code is the firmware's own). ``--firmware micropython`` makes every Poise wearable
such a firmware twin (``--count 2 --firmware micropython`` is ``--demo firmware:2``;
``--faults`` does not apply to them). The sensors live on a
virtual BLE link inside this process; their radio is reachable over loopback TCP: every
process that opens the printed Bumble transport (``tcp-client:127.0.0.1:PORT``) gets its
own virtual controller on that link, so ``poise scan --transport tcp-client:127.0.0.1:PORT``
in another terminal finds them. Runs until Ctrl-C, then prints the ground truth (samples
produced, injected faults).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from poise.commands import add_command
from poise.errors import PoiseError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``emulate`` sub-parser."""
    p = add_command(
        subparsers,
        "emulate",
        "run virtual sensors (Bumble) that another process can scan and connect to",
        doc=__doc__,
    )
    kinds = p.add_mutually_exclusive_group()
    kinds.add_argument(
        "--count", type=int, default=None, help="number of Poise wearables (default 1)"
    )
    kinds.add_argument(
        "--demo",
        default=None,
        metavar="N|KIND:N,...",
        help="virtual sensors of any kind: poise, polar-verity-sense, metamotion, firmware "
        "(1-4 in all)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        metavar="HZ",
        help="initial rate in Hz, nearest supported (default: the --source recording's "
        "rate if a Poise rate, else 100); the client's configuration wins",
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
        help="every Poise wearable runs the MicroPython firmware on a simulated IMU "
        "(the firmware:N demo kind; no fault injection)",
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
    p.add_argument("--force", action="store_true", help="replace an existing --truth file")
    p.set_defaults(func=run)


def _source_factories(path: str, count: int) -> tuple[list[Any], Any]:
    """One source factory per wearable from a recording's sensors (cycled), and its config."""
    from poise.inputs import load_input
    from sensors.virtual_wearable import array_source_factory

    recording = load_input(path)
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
    import asyncio  # here, not at the top: every command line would pay for it
    import signal
    from dataclasses import replace

    from sensors import devices
    from sensors.devices.poise import PoiseDriver
    from sensors.emulator import Emulator, TwinSpec
    from sensors.virtual_wearable import FaultConfig

    faults = FaultConfig.parse(args.faults)
    specs = TwinSpec.from_demo(args.demo_pairs)
    rate = args.rate
    if args.source:
        # replay at the recording's own rate and ranges unless --rate says otherwise
        factories, config = _source_factories(args.source, len(specs))
        if rate is not None:
            config = PoiseDriver.choose_config(rate, config.acc_range_g, config.gyro_range_dps)
        elif config.sampling_rate_hz not in PoiseDriver.rates_hz:
            config = PoiseDriver.choose_config(
                config.sampling_rate_hz, config.acc_range_g, config.gyro_range_dps
            )
        rate = config.sampling_rate_hz
        specs = [
            replace(
                s,
                source_factory=f,
                config=config if devices.twin_driver_kind(s.kind) == "poise" else None,
            )
            for s, f in zip(specs, factories)
        ]
    try:
        emulator = Emulator(
            rate_hz=rate or 100,
            scenario=args.scenario,
            faults=faults,
            seed=args.seed,
            specs=specs,
        )
    except ValueError as exc:
        raise PoiseError(str(exc)) from None
    async with emulator:
        transport = await emulator.serve(port=args.port)
        names = ", ".join(f"{w.name} ({w.kind}, {w.address})" for w in emulator.wearables)
        print(f"poise emulate: {len(emulator.wearables)} virtual sensor(s): {names}")
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
    from poise.outputs import check_outputs, write_atomically
    from sensors.devices import parse_demo_spec

    if args.demo is not None:
        try:
            args.demo_pairs = parse_demo_spec(args.demo)
        except ValueError as exc:
            raise PoiseError(str(exc)) from None
    else:
        count = 1 if args.count is None else args.count
        if not 1 <= count <= 64:
            raise PoiseError(f"--count must be 1..64, got {count}")
        args.demo_pairs = [("poise", count)]
    if args.firmware:
        args.demo_pairs = [("firmware" if k == "poise" else k, n) for k, n in args.demo_pairs]
    if args.truth:  # before serving: never over the replayed source, an old file only --force
        check_outputs([args.truth], [args.source], force=args.force)
    try:
        import asyncio

        summary = asyncio.run(_serve(args))
    except KeyboardInterrupt:
        summary = None
    if summary is not None:
        for name, truth in summary.items():
            print(
                f"{name}: produced {truth['samples_produced']} samples, sent "
                f"{truth['samples_sent']}, dropped {truth['samples_dropped']}, undelivered "
                f"{truth['samples_undelivered']}, corrupted {truth['samples_corrupted']}, "
                f"{len(truth['disconnect_times_s'])} forced disconnect(s) [{truth['kind']}]"
            )
        if args.truth:
            with write_atomically(
                args.truth, "w", inputs=[args.source], force=args.force, encoding="utf-8"
            ) as fh:
                json.dump(summary, fh, indent=1)
    sys.stdout.flush()
    return 0

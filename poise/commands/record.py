"""``poise record``: stream 1-4 sensors of any supported kind into a ``.poise`` recording.

Real sensors (the computer's Bluetooth, or a Bumble transport with ``--transport``)::

    poise record -o session.poise --seconds 60 --sensor Poise-0001 --placement lower-back

``--sensor`` takes a name or an address of any supported sensor (``poise scan`` lists
them with their kind). Without ``--sensor`` every supported sensor found in the scan is
used (at most 4), placed lower-back, left-shank, right-shank, sternum in scan order
unless ``--placement`` says otherwise. ``--rate`` and the ranges are what is asked of
every sensor; each takes its nearest supported value (a Polar Verity Sense streams 104 Hz
when asked for 100).

Built-in virtual sensors through the full BLE stack (Bumble backend, in-process link):
``--demo N`` Poise wearables, or ``--demo KIND:N,...`` with the demo kinds of
``sensors.devices`` (``poise``, ``polar-verity-sense``, ``metamotion``, and ``firmware``:
the MicroPython firmware of firmware_protocol/micropython/ on a simulated IMU, a Poise
wearable whose code is the firmware's own; ``--faults`` does not apply to it)::

    poise record -o demo.poise --demo 4 --rate 200 --seconds 10 \\
        --faults drop=0.05,disconnect-every=3s
    poise record -o mixed.poise --demo polar-verity-sense:1,metamotion:1,poise:1 \\
        --rate 100 --seconds 10
    poise record -o fw.poise --demo firmware:1 --rate 100 --seconds 10

Ctrl-C stops cleanly: the sensors are told to stop, the file gets its END record and
is closed. Lost samples are written as gaps; ``poise info FILE`` shows them.

An existing FILE is refused unless ``--overwrite``; then the new recording goes to a
temporary file next to it (``.FILE.<random>.tmp``, synced as it grows) that replaces FILE
when the recording ends, keeping FILE's mode. A recording that received nothing leaves
the old FILE; after a crash the old FILE is intact and the new data is in the temporary
file (``poise info`` reads it). A new FILE is created user-only (0o600).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from poise.commands import add_command
from poise.errors import PoiseError
from poise.outputs import OutputFile, check_outputs
from sensors.placements import DEFAULT_ORDER, normalise_placement

if TYPE_CHECKING:  # imported when a recording starts: the command line starts fast
    import asyncio

    from sensors.emulator import Emulator
    from sensors.stream import ScanResult, SensorSpec, StreamHub

#: The ATT MTU range of the Bluetooth Core specification (Vol 3, Part F, 3.2.8-3.2.9).
MIN_ATT_MTU = 23
MAX_ATT_MTU = 517


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``record`` sub-parser."""
    p = add_command(
        subparsers,
        "record",
        "record 1-4 sensors (or --demo virtual ones) to a .poise file",
        doc=__doc__,
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="recording to create")
    p.add_argument(
        "--seconds", type=float, default=None, metavar="S", help="stop after S s (default: Ctrl-C)"
    )
    p.add_argument(
        "--sensor",
        action="append",
        default=[],
        metavar="NAME",
        help="sensor name or address (repeat for several; default: all found, at most 4)",
    )
    p.add_argument(
        "--placement",
        action="append",
        default=[],
        metavar="P",
        help=f"placement of each sensor in order ({', '.join(DEFAULT_ORDER)})",
    )
    p.add_argument(
        "--transport",
        metavar="T",
        default=None,
        help="Bumble transport (usb:0, tcp-client:127.0.0.1:PORT); default: system Bluetooth",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=100.0,
        metavar="HZ",
        help="sampling rate asked of every sensor; each takes its nearest (default 100)",
    )
    p.add_argument(
        "--acc-range", type=float, default=8.0, metavar="G", help="g, nearest (default 8)"
    )
    p.add_argument(
        "--gyro-range",
        type=float,
        default=2000.0,
        metavar="DPS",
        help="deg/s, nearest (default 2000)",
    )
    p.add_argument("--mtu", type=int, default=None, help="ATT MTU to request, 23-517 (Bumble only)")
    p.add_argument(
        "--demo",
        default=None,
        metavar="N|KIND:N,...",
        help="record virtual sensors instead of real ones: N Poise wearables, or "
        "KIND:N,... (kinds: poise, polar-verity-sense, metamotion, firmware); 1-4 in all",
    )
    p.add_argument(
        "--faults",
        default="",
        metavar="SPEC",
        help="--demo only: drop=0.05,disconnect-every=3s,corrupt=0.01,drift-ppm=100",
    )
    p.add_argument("--scenario", default=None, help="--demo only: synthetic motion (default quiet)")
    p.add_argument("--patient", default=None, help="patient pseudonym for the header")
    p.add_argument("--notes", default="", help="free-text notes for the header")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing file (when the recording ends; it keeps its mode)",
    )
    p.add_argument("--scan-timeout", type=float, default=8.0, metavar="S", help="default 8 s")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument(
        "--lsl",
        action="store_true",
        help="also publish every sensor, the session's start/stop and live sway and gait "
        "values as Lab Streaming Layer streams (pip install 'poise[lsl]')",
    )
    p.add_argument(
        "--lsl-name",
        default="Poise",
        metavar="NAME",
        help="--lsl only: prefix of the stream names (default Poise: 'Poise lower-back', "
        "'Poise markers', 'Poise metrics')",
    )
    p.add_argument(
        "--lsl-wait",
        type=float,
        default=0.0,
        metavar="S",
        help="--lsl only: wait up to S s for an inlet (LabRecorder) on every stream before "
        "the sensors start, so the beginning is received",
    )
    p.set_defaults(func=run)


def _check_args(args: argparse.Namespace) -> None:
    from poise.store import check_pseudonym
    from sensors.devices import parse_demo_spec

    if args.patient is not None:
        args.patient = check_pseudonym(args.patient)
    if args.seconds is not None and not args.seconds > 0:
        raise PoiseError(f"--seconds must be > 0, got {args.seconds}")
    for name in ("rate", "acc_range", "gyro_range"):
        if not getattr(args, name) > 0:
            raise PoiseError(f"--{name.replace('_', '-')} must be > 0, got {getattr(args, name)}")
    if args.demo is not None:
        try:
            args.demo_pairs = parse_demo_spec(args.demo)
        except ValueError as exc:
            raise PoiseError(str(exc)) from None
        if args.faults:
            from sensors.emulator import twin_refuses_faults

            for kind, _n in args.demo_pairs:
                why = twin_refuses_faults(kind)
                if why:
                    raise PoiseError(f"--faults does not apply to {kind}:N twins: {why}")
        if args.sensor or args.transport:
            raise PoiseError("--demo records virtual sensors; drop --sensor/--transport")
    elif args.faults or args.scenario:
        raise PoiseError("--faults and --scenario only apply to --demo")
    if len(args.sensor) > 4:
        raise PoiseError(f"at most 4 sensors, got {len(args.sensor)}")
    if args.placement and args.sensor and len(args.placement) != len(args.sensor):
        raise PoiseError(
            f"{len(args.placement)} --placement for {len(args.sensor)} --sensor; give one each"
        )
    if args.mtu is not None and not MIN_ATT_MTU <= args.mtu <= MAX_ATT_MTU:
        raise PoiseError(
            f"--mtu must be an ATT MTU of {MIN_ATT_MTU} to {MAX_ATT_MTU} bytes, got {args.mtu}"
        )
    if getattr(args, "lsl", False):
        from poise.lsl import require_pylsl

        require_pylsl()
    check_outputs([Path(args.output)], force=args.overwrite, force_flag="--overwrite")


def _progress_line(hub: Any, elapsed_s: float) -> str:
    parts = []
    for s in hub.stats():
        parts.append(
            f"{s.sensor_id}: {s.state} {s.samples_received} smp"
            + (f" lost {s.samples_lost} ({s.loss_pct:.1f}%)" if s.samples_lost else "")
            + (f" crc {s.crc_errors}" if s.crc_errors else "")
            + (f" reconn {s.reconnects}" if s.reconnects else "")
        )
    return f"[{elapsed_s:6.1f} s] " + " | ".join(parts)


def _lsl_outlet(hub: Any, specs: list[Any], name: str = "Poise") -> Any:
    """Lab Streaming Layer outlets fed by the hub (:mod:`poise.lsl`): a stream per sensor
    on the recording's timeline, markers, live metrics of the first lower-back sensor."""
    from poise.lsl import LslOutlet
    from poise.sinks import SensorDeclaration

    outlet = LslOutlet(
        name,
        t0_monotonic=hub.t0_monotonic,
        addresses={sid: s.address for sid, s in zip(hub.sensor_ids, specs) if s.address},
        live_metrics=True,
    )
    for sid, spec, cfg in zip(hub.sensor_ids, specs, hub.configs()):
        outlet.add_sensor(
            SensorDeclaration(
                sid,
                placement=spec.placement or "",
                sampling_rate_hz=float(cfg.sampling_rate_hz),
                name=spec.name or sid,
            )
        )
    hub.subscribe(on_block=outlet.on_block)
    return outlet


async def record_session(args: argparse.Namespace) -> dict:
    """Scan, connect, record until ``--seconds`` or Ctrl-C; returns a summary dict."""
    import asyncio
    import signal

    from poise.recorder import Recorder
    from sensors.stream import StreamHub, StreamSettings

    config = StreamSettings(args.rate, args.acc_range, args.gyro_range)
    emulator: Emulator | None = None
    transport: Any = args.transport
    metadata: dict[str, Any] = {"patient": args.patient, "notes": args.notes}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    recorder: Recorder | None = None
    replacing: OutputFile | None = None
    hub = None
    outlet = None
    try:
        if args.demo is not None:
            emulator = _demo_emulator(args)
            await emulator.start()
            transport = emulator.transport
            metadata["source"] = {
                "kind": "demo",
                "sensors": [list(p) for p in args.demo_pairs],
                "faults": args.faults,
                "scenario": args.scenario or "quiet",
            }
        else:
            metadata["source"] = {"kind": "ble", "transport": args.transport or "system"}
        chosen = await _find_sensors(args, transport, emulator)
        specs = _sensor_specs(args, chosen)
        probe = StreamHub(specs, config=config)
        if Path(args.output).exists():  # --overwrite (checked): the old file stays until the end
            replacing = OutputFile(args.output, force=True, force_flag="--overwrite")
        recorder = Recorder(
            args.output if replacing is None else replacing.temp_path,
            metadata,
            overwrite=replacing is not None,
        )
        # the hub writes the packets, gaps and connection events itself
        writer = recorder.open(probe.recording_metadata(), raise_errors=True)
        hub = StreamHub(specs, config=config, transport=transport, recorder=writer, mtu=args.mtu)
        if getattr(args, "lsl", False):
            outlet = _lsl_outlet(hub, specs, args.lsl_name)
        if not args.quiet:
            print(
                f"poise record: {len(specs)} sensor(s) "
                + ", ".join(
                    f"{s.name} ({s.kind}, {c.sampling_rate_hz:g} Hz, {s.placement})"
                    for s, c in zip(specs, probe.configs())
                )
                + f" -> {args.output}",
                file=sys.stderr,
            )
        if outlet is not None and args.lsl_wait > 0:
            await asyncio.to_thread(outlet.wait_for_consumers, args.lsl_wait)
        await hub.start()
        if outlet is not None:
            outlet.push_marker("session_start", 0.0, file=str(args.output))
        await _record_until_stopped(hub, args, stop)
        await hub.stop()
        if outlet is not None:
            outlet.push_marker("session_stop", hub.now_s())
        stats = [s.to_dict() for s in hub.stats()]
        return {"file": args.output, "interrupted": stop.is_set(), "sensors": stats}
    finally:
        if hub is not None:
            with contextlib.suppress(Exception):
                await hub.stop()
        if recorder is not None and recorder.writer is not None:
            recorder.close(info={"interrupted": stop.is_set()})
            if replacing is not None:
                # a recording that got data replaces the old file; one that got none leaves it
                if recorder.packets_written:
                    replacing.commit()
                else:
                    replacing.abort()
        if outlet is not None:
            outlet.close()
        if emulator is not None:
            await emulator.close()
        if transport is not None:
            from sensors.bumble_backend import close_hosts

            with contextlib.suppress(Exception):
                await close_hosts()


def _demo_emulator(args: argparse.Namespace) -> Emulator:
    """The virtual sensors of ``--demo`` (on their own Bumble link), not started."""
    from sensors.emulator import Emulator, TwinSpec
    from sensors.virtual_wearable import FaultConfig

    emulator = Emulator(
        specs=TwinSpec.from_demo(args.demo_pairs),
        rate_hz=args.rate,
        scenario=args.scenario,
        faults=FaultConfig.parse(args.faults),
    )
    return emulator


async def _find_sensors(
    args: argparse.Namespace, transport: Any, emulator: Emulator | None
) -> list[ScanResult]:
    """Scan for the sensors to record: those named by ``--sensor``, the demo's in its
    order, else the first four found."""
    from bleak.exc import BleakError

    from poise.errors import bluetooth_alternatives, bluetooth_problem
    from sensors.stream import scan

    names = list(args.sensor)
    try:
        found = await scan(
            args.scan_timeout,
            transport=transport,
            names=names or None,
            count=None if names else (len(emulator.wearables) if emulator else 4),
        )
    except (BleakError, OSError) as exc:  # OSError: the D-Bus socket missing, no access
        if transport is not None:
            raise
        # say what is missing and what to do, not "[Errno 2] No such file or directory"
        raise PoiseError(
            f"{bluetooth_problem(exc)}; {bluetooth_alternatives('--demo N')}"
        ) from None
    if names:
        by_key = {**{r.name: r for r in found}, **{r.address: r for r in found}}
        missing = [n for n in names if n not in by_key]
        if missing:
            seen = ", ".join(f"{r.name} ({r.kind})" for r in found) or "none"
            raise PoiseError(
                f"sensor(s) {', '.join(missing)} not found within {args.scan_timeout:g} s "
                f"(sensors seen: {seen})"
            )
        chosen = [by_key[n] for n in names]
    elif emulator is not None:
        # the demo's order: --demo polar-verity-sense:1,poise:1 places the Polar first
        by_address = {r.address: r for r in found}
        chosen = [by_address[w.address] for w in emulator.wearables if w.address in by_address]
    else:
        chosen = found[:4]
    if not chosen:
        raise PoiseError(
            f"no supported sensor found within {args.scan_timeout:g} s"
            + ("" if args.transport else " (is Bluetooth on? try --transport usb:0)")
        )
    return chosen


def _sensor_specs(args: argparse.Namespace, chosen: list[ScanResult]) -> list[SensorSpec]:
    """One spec a chosen sensor, with its ``--placement`` (else the default order)."""
    from sensors.stream import SensorSpec

    placements: list[str | None] = [normalise_placement(p) for p in args.placement] or list(
        DEFAULT_ORDER[: len(chosen)]
    )
    if len(placements) < len(chosen):
        placements += [None] * (len(chosen) - len(placements))
    return [
        SensorSpec(name=r.name, address=r.address, placement=p, device=r.device, kind=r.kind)
        for r, p in zip(chosen, placements)
    ]


async def _record_until_stopped(
    hub: StreamHub, args: argparse.Namespace, stop: asyncio.Event
) -> None:
    """Until ``--seconds`` or ``stop`` (Ctrl-C), with a progress line a second."""
    import asyncio

    t_start = time.monotonic()
    deadline = None if args.seconds is None else t_start + args.seconds
    while not stop.is_set():
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            break
        wait = 1.0 if deadline is None else min(1.0, deadline - now)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), wait)
        if not args.quiet:
            print(_progress_line(hub, time.monotonic() - t_start), file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``poise record``."""
    import asyncio

    from bleak.exc import BleakError

    from sensors.stream import StreamError

    _check_args(args)
    try:
        summary = asyncio.run(record_session(args))
    except (StreamError, BleakError, ConnectionError) as exc:
        raise PoiseError(f"{exc} (anything recorded so far is kept in {args.output})") from None
    for s in summary["sensors"]:
        print(
            f"{s['sensor_id']} ({s['kind']}, {s['rate_hz']:g} Hz): "
            f"{s['samples_received']} samples, {s['samples_lost']} lost "
            f"({s['loss_pct']:.2f} %), {s['crc_errors']} CRC errors, "
            f"{s['reconnects']} reconnects"
        )
    print(f"wrote {summary['file']}" + (" (interrupted)" if summary["interrupted"] else ""))
    return 0

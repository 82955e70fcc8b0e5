"""``poise scan``: list every supported sensor in range (kind, model, name, address, RSSI,
battery).

Supported kinds come from ``sensors.devices``: Poise wearables, Polar Verity Sense,
MbientLab MetaMotion S/R/RL. The model shown is what the advertisement says (``poise
record`` reads the exact one from the device). Uses the computer's Bluetooth through bleak
by default. ``--transport`` selects Poise's Bumble backend instead: a USB Bluetooth dongle
driven directly (``usb:0``) or the virtual sensors of ``poise emulate`` in another process
(``tcp-client:127.0.0.1:PORT``).
"""

from __future__ import annotations

import argparse
import json

from poise.commands import add_command
from poise.errors import PoiseError, bluetooth_alternatives, bluetooth_problem


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``scan`` sub-parser."""
    p = add_command(
        subparsers,
        "scan",
        "list the supported sensors in range (kind, model, name, address)",
        doc=__doc__,
    )
    p.add_argument(
        "--transport",
        metavar="T",
        default=None,
        help="Bumble transport (usb:0, tcp-client:127.0.0.1:PORT, ...); default: system Bluetooth",
    )
    p.add_argument(
        "--timeout", type=float, default=5.0, metavar="S", help="scan time (default 5 s)"
    )
    p.add_argument(
        "--battery",
        action="store_true",
        help="connect briefly to read the battery of sensors that do not advertise it",
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Entry point of ``poise scan``."""
    import asyncio  # here, not at the top: every command line would pay for it

    from bleak.exc import BleakError

    from sensors.stream import scan

    if not args.timeout > 0:
        raise PoiseError(f"--timeout must be > 0, got {args.timeout}")

    async def go():
        try:
            return await scan(args.timeout, transport=args.transport, read_battery=args.battery)
        finally:
            if args.transport:
                from sensors.bumble_backend import close_hosts

                await close_hosts()

    try:
        results = asyncio.run(go())
    except (BleakError, OSError) as exc:  # OSError: the D-Bus socket missing, no access
        if args.transport:
            raise PoiseError(f"cannot scan with {args.transport}: {exc}") from None
        # say what is missing and what to do, not "[Errno 2] No such file or directory"
        raise PoiseError(
            f"{bluetooth_problem(exc)}; "
            + bluetooth_alternatives("poise gui --demo 1, poise record --demo 1")
        ) from None
    if args.json:
        print(json.dumps([r.to_dict() for r in results], indent=2))
        return 0
    if not results:
        print(f"no supported sensors found within {args.timeout:g} s")
        return 1
    print(f"{'kind':<19} {'model':<19} {'name':<21} {'address':<38} {'RSSI':>7} {'battery':>8}")
    for r in results:
        rssi = f"{r.rssi_dbm} dBm" if r.rssi_dbm is not None else "?"
        batt = f"{r.battery_pct} %" if r.battery_pct is not None else "?"
        print(f"{r.kind:<19} {r.model:<19} {r.name:<21} {r.address:<38} {rssi:>7} {batt:>8}")
    return 0

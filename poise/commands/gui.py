"""``poise gui``: the therapist's live session window (PySide6).

``poise gui`` scans for real sensors at start and offers demo sensors if none answers;
``--demo N`` starts N virtual Poise wearables through the full BLE stack in this process,
``--demo KIND:N,...`` virtual twins of any supported kind (``poise``,
``polar-verity-sense``, ``metamotion``, ``firmware``: the MicroPython firmware);
``--replay FILE`` opens a recording (or a CSV, read like ``poise import-csv``; ``--rate`` if
it has no time column). ``--screenshot PNG --quit-after SECONDS`` saves a picture of the
window and exits (headless checks; without a display ``QT_QPA_PLATFORM=offscreen`` is set
automatically). See docs/gui.md.
"""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``gui`` sub-command."""
    p = subparsers.add_parser("gui", help="open the therapist's session window")
    p.add_argument(
        "--demo",
        metavar="N|KIND:N,...",
        default=None,
        help="demo sensors: N Poise wearables or KIND:N,... (poise, polar-verity-sense, "
        "metamotion, firmware); 1-4 in all",
    )
    p.add_argument("--replay", metavar="FILE", help="replay a recording")
    p.add_argument(
        "--rate",
        type=float,
        metavar="HZ",
        help="rate asked of the demo sensors (default 100; each takes its nearest), or the "
        "rate of a replayed CSV without time column",
    )
    p.add_argument(
        "--scenario", default="demo", help="motion of the demo sensors (sensors.scenarios name)"
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="where recordings go (default ~/.local/share/poise, user-only)",
    )
    p.add_argument("--no-record", action="store_true", help="do not record the session")
    p.add_argument(
        "--lsl",
        action="store_true",
        help="publish the sensors, markers and live metrics as Lab Streaming Layer streams "
        "(pip install 'poise[lsl]')",
    )
    p.add_argument("--page", choices=("live", "tests", "results", "patients"), default="live")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the window")
    p.add_argument(
        "--quit-after", type=float, metavar="SECONDS", help="quit after this many seconds"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the GUI with the parsed arguments."""
    from poise.errors import PoiseError

    if args.demo and args.replay:
        raise PoiseError("use either --demo or --replay, not both")
    if args.demo:
        from sensors.devices import parse_demo_spec

        try:
            pairs = parse_demo_spec(args.demo)
        except ValueError as exc:
            raise PoiseError(str(exc)) from None
        # N Poise wearables stay an int (the scripted fallback knows only those)
        args.demo = pairs[0][1] if [k for k, _ in pairs] == ["poise"] else args.demo
    if args.rate is not None and not args.rate > 0:
        raise PoiseError(f"--rate must be > 0, got {args.rate}")
    if args.replay and not os.path.isfile(args.replay):
        raise PoiseError(f"{args.replay}: no such recording")
    if args.lsl:
        from poise.lsl import require_pylsl

        require_pylsl()  # before a window opens
    from gui.app import headless, xcb_problem

    if headless() and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        print("poise gui: no display, running offscreen", file=sys.stderr)
    problem = xcb_problem()  # before Qt aborts with a misleading message
    if problem:
        raise PoiseError(problem)
    from gui.app import run as run_gui

    return run_gui(
        demo=args.demo,
        replay=args.replay,
        data_dir=args.data_dir,
        record=not args.no_record,
        rate_hz=args.rate,
        screenshot=args.screenshot,
        quit_after_s=args.quit_after,
        page=args.page,
        scenario=args.scenario,
        lsl=args.lsl,
    )

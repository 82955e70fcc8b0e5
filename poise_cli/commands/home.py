"""``poise home``: the patient's home-exercise window (large text and buttons, one sensor).

``--demo`` uses a demo sensor whose motion follows the exercise; ``--auto`` walks through
the exercises without button presses; ``--screenshot PNG --quit-after SECONDS`` saves a
picture and exits (headless checks; ``QT_QPA_PLATFORM=offscreen`` is set without a display).
"""

from __future__ import annotations

import argparse
import os
import sys


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``home`` sub-command."""
    p = subparsers.add_parser("home", help="open the home-exercise mode")
    p.add_argument("--patient", metavar="PSEUDONYM", help="whose exercises (plan from the store)")
    p.add_argument("--data-dir", metavar="DIR", help="data folder (default ~/.local/share/poise)")
    p.add_argument("--demo", action="store_true", help="use a demo sensor (no Bluetooth)")
    p.add_argument("--speed", type=float, default=1.0, help="demo time scale (1 = real time)")
    p.add_argument("--countdown", type=float, default=5.0, help="seconds before each exercise")
    p.add_argument("--auto", action="store_true", help="start and advance exercises by itself")
    p.add_argument("--no-record", action="store_true", help="do not record the session")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the window")
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help="quit after this long")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the home window."""
    from poise.errors import PoiseError

    if not 0.1 <= args.speed <= 20:
        raise PoiseError(f"--speed must be between 0.1 and 20, got {args.speed}")
    # The CLI starts the GUI lazily (GUIDE.md); pyproject's layer contract allows exactly
    # the commands that open a window or render with Qt to import gui.
    from gui.app import headless, xcb_problem

    if headless() and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        print("poise home: no display, running offscreen", file=sys.stderr)
    problem = xcb_problem()  # before Qt aborts with a misleading message
    if problem:
        raise PoiseError(problem)
    from gui.home import run as run_home

    return run_home(
        patient=args.patient,
        data_dir=args.data_dir,
        demo=args.demo,
        time_scale=args.speed,
        countdown_s=args.countdown,
        auto=args.auto,
        screenshot=args.screenshot,
        quit_after_s=args.quit_after,
        record=not args.no_record,
    )

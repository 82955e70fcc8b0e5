"""The ``poise`` console script: poise's headless commands and the ones that need Qt.

:func:`main` is the ``poise`` command (and ``python -m gui``): the command line of
:mod:`poise.cli` with :func:`register` passed as its extra commands, which adds

* ``poise gui``: the therapist's live session window. It scans for real sensors at start
  and offers demo sensors if none answers; ``--demo N`` starts N virtual Poise wearables
  through the full BLE stack in this process, ``--demo KIND:N,...`` virtual twins of any
  supported kind (``poise``, ``polar-verity-sense``, ``metamotion``, ``firmware``: the
  MicroPython firmware); ``--replay FILE`` opens a recording (or a CSV, read like ``poise
  import-csv``; ``--rate`` if it has no time column). See docs/gui.md.
* ``poise home``: the patient's home-exercise window (large text and buttons, one sensor).
  ``--demo`` uses a demo sensor whose motion follows the exercise; ``--auto`` walks
  through the exercises without button presses.
* the PDF of ``poise report`` (:func:`write_report_pdf`, drawn with Qt).

Both windows take ``--screenshot PNG --quit-after SECONDS`` (save a picture and exit, for
headless checks; without a display ``QT_QPA_PLATFORM=offscreen`` is set automatically).
Qt is imported only when one of these runs, so the headless commands start as fast here as
with ``python -m poise``.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from poise import cli
from poise.commands import add_data_dir
from poise.errors import PoiseError


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``poise`` console script; returns the process exit code."""
    return cli.main(argv, extra_commands=(register,))


def build_parser() -> argparse.ArgumentParser:
    """The ``poise`` command's parser: every command, the window ones included."""
    return cli.build_parser((register,))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``gui`` and ``home`` and give ``report`` (registered by poise) its PDF writer."""
    _register_gui(subparsers)
    _register_home(subparsers)
    subparsers.choices["report"].set_defaults(write_pdf=write_report_pdf)


def write_report_pdf(
    report: dict, path: str, page: str, *, inputs: Sequence[Path], force: bool
) -> int:
    """Draw ``poise report``'s content as a PDF (:func:`gui.report_pdf.write_pdf`), offscreen;
    returns the page count (a :class:`poise.commands.report.PdfWriter`)."""
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.app import make_app
    from gui.report_pdf import write_pdf

    make_app()
    return write_pdf(report, path, page, inputs=tuple(inputs), force=force)


def _prepare_display(command: str) -> None:
    """Offscreen without a display; a clear error where Qt's xcb plugin can not load."""
    from gui.app import headless, xcb_problem

    if headless() and "QT_QPA_PLATFORM" not in os.environ:
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        print(f"poise {command}: no display, running offscreen", file=sys.stderr)
    problem = xcb_problem()  # before Qt aborts with a misleading message
    if problem:
        raise PoiseError(problem)


def _register_gui(subparsers: argparse._SubParsersAction) -> None:
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
    p.set_defaults(func=run_gui)


def run_gui(args: argparse.Namespace) -> int:
    """``poise gui``: run the session window with the parsed arguments."""
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
    _prepare_display("gui")
    from gui.app import run

    return run(
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


def _register_home(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``home`` sub-command."""
    p = subparsers.add_parser("home", help="open the home-exercise mode")
    p.add_argument("--patient", metavar="PSEUDONYM", help="whose exercises (plan from the store)")
    add_data_dir(p)
    p.add_argument("--demo", action="store_true", help="use a demo sensor (no Bluetooth)")
    p.add_argument("--speed", type=float, default=1.0, help="demo time scale (1 = real time)")
    p.add_argument("--countdown", type=float, default=5.0, help="seconds before each exercise")
    p.add_argument("--auto", action="store_true", help="start and advance exercises by itself")
    p.add_argument("--no-record", action="store_true", help="do not record the session")
    p.add_argument("--screenshot", metavar="PNG", help="save a picture of the window")
    p.add_argument("--quit-after", type=float, metavar="SECONDS", help="quit after this long")
    p.set_defaults(func=run_home)


def run_home(args: argparse.Namespace) -> int:
    """``poise home``: run the home-exercise window."""
    if not 0.1 <= args.speed <= 20:
        raise PoiseError(f"--speed must be between 0.1 and 20, got {args.speed}")
    _prepare_display("home")
    from gui.home import run

    return run(
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

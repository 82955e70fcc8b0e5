"""``poise batch``: many recordings and CSVs into one table (see :mod:`poise.batch`).

One row per recording and test (the tests found in it, gait, a ``fall-risk`` row with
every factor; a home recording's daily life), a per-file ``error`` column instead of
stopping, resumption by content hash (the journal next to the table), local worker
processes (``--jobs``) or a Dask distributed cluster (``--scheduler``).
"""

from __future__ import annotations

import argparse
import os

from poise.commands import add_command
from poise.errors import PoiseError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``batch`` subcommand."""
    p = add_command(
        subparsers,
        "batch",
        "analyse many recordings and CSVs into one table (CSV or Parquet)",
        description=(
            "Analyse every .poise recording and IMU CSV given (folders are searched) into "
            "one table: a row per recording and test, gait, fall risk, an error column for "
            "files that can not be analysed. Files already in the table's journal (same "
            "content, same options) are skipped, so an interrupted run continues."
        ),
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="files or folders")
    p.add_argument("--out", required=True, metavar="FILE", help="results .csv (or .parquet)")
    p.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        metavar="N",
        help="local worker processes (default: every core)",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on a Dask distributed cluster (tcp://host:8786; pip install 'poise[cluster]')",
    )
    p.add_argument("--rate", type=float, metavar="HZ", help="sampling rate of CSVs without time")
    p.add_argument("--acc-unit", choices=("m/s2", "g"), default="m/s2")
    p.add_argument("--gyro-unit", choices=("deg/s", "rad/s"), default="deg/s")
    p.add_argument("--columns", metavar="COLS", help="CSV column names (as poise analyze)")
    p.add_argument("--sensor-height-m", type=float, metavar="M")
    p.add_argument("--height-m", type=float, metavar="M")
    p.add_argument("--age", type=float, metavar="Y")
    p.add_argument("--sex", choices=("f", "m"))
    p.add_argument("--weight-kg", type=float, metavar="KG")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Execute ``poise batch``."""
    from pathlib import Path

    from poise.batch import journal_path, run_batch
    from poise.inputs import demographics_from_args

    if args.rate is not None and not args.rate > 0:
        raise PoiseError(f"--rate must be a positive number, got {args.rate}")
    options = {
        "rate_hz": args.rate,
        "acc_unit": args.acc_unit,
        "gyro_unit": args.gyro_unit,
        "columns": args.columns,
        "demographics": demographics_from_args(args),
    }
    s = run_batch(args.inputs, args.out, jobs=args.jobs, scheduler=args.scheduler, options=options)
    print(
        f"{s.files} file(s): {s.analysed} analysed, {s.skipped} done before, {s.errors} with "
        f"an error, {len(s.not_imu)} without IMU samples left out; {s.rows} row(s) -> {s.out} "
        f"(journal {journal_path(Path(s.out))})"
    )
    return 0

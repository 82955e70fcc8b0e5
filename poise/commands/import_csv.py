"""``poise import-csv``: a CSV of IMU samples into a ``.poise`` recording.

See :mod:`poise.inputs` for the CSV rules and ``docs/recording-format.md`` for the
conversion (ranges, packets, resampling).
"""

from __future__ import annotations

import argparse
import sys

from poise.commands import add_command
from poise.inputs import (
    ACC_UNITS,
    GYRO_UNITS,
    ImportHeader,
    demographics_from_args,
    import_csv,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``import-csv`` subcommand."""
    p = add_command(
        subparsers,
        "import-csv",
        "convert a CSV of IMU samples into a .poise recording",
        description=(
            "Convert a CSV (header row; columns acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z or named "
            "by --columns; optional time column t_s/time in seconds) into a recording. "
            "Samples become int16 counts of the smallest full-scale ranges that hold them, "
            "packed as wire-protocol data packets. Rates other than 50/100/200 Hz are "
            "resampled to the nearest of them (linear interpolation, reported on stderr)."
        ),
    )
    p.add_argument("csv", help="input CSV file")
    p.add_argument("-o", "--output", required=True, metavar="OUT", help="recording to write")
    p.add_argument(
        "--rate",
        type=float,
        metavar="HZ",
        help="sampling rate in Hz (required unless the CSV has a time column)",
    )
    p.add_argument("--acc-unit", choices=list(ACC_UNITS), default="m/s2")
    p.add_argument("--gyro-unit", choices=list(GYRO_UNITS), default="deg/s")
    p.add_argument(
        "--placement", default="lower-back", help="sensor placement (default lower-back)"
    )
    p.add_argument(
        "--columns",
        metavar="a,b,c,d,e,f",
        help="the CSV's names for acc x,y,z and gyro x,y,z, comma separated",
    )
    p.add_argument("--patient", metavar="ID", help="patient pseudonym stored in the header")
    p.add_argument("--notes", default="", help="free-form notes stored in the header")
    p.add_argument("--force", action="store_true", help="replace OUT if it exists")
    demo = p.add_argument_group("patient data stored in the header (used by the analysis)")
    demo.add_argument("--age", type=float, metavar="Y", help="age in years")
    demo.add_argument("--sex", choices=["f", "m"])
    demo.add_argument("--height-m", type=float, metavar="M", help="body height")
    demo.add_argument("--weight-kg", type=float, metavar="KG")
    demo.add_argument(
        "--sensor-height-m", type=float, metavar="M", help="height of the sensor above the ground"
    )
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Convert; warnings go to stderr, a one-line summary to stdout."""

    def warn(msg: str) -> None:
        print(f"poise import-csv: warning: {msg}", file=sys.stderr)

    from poise.store import check_pseudonym

    patient = None if args.patient is None else check_pseudonym(args.patient)
    summary = import_csv(
        args.csv,
        args.output,
        rate_hz=args.rate,
        acc_unit=args.acc_unit,
        gyro_unit=args.gyro_unit,
        columns=args.columns,
        header=ImportHeader(
            placement=args.placement,
            patient=patient,
            notes=args.notes,
            demographics=demographics_from_args(args),
        ),
        overwrite=args.force,
        warn=warn,
    )
    cfg = summary["config"]
    print(
        f"{args.output}: {summary['samples']} samples at {cfg.sampling_rate_hz} Hz, "
        f"acc +-{cfg.acc_range_g} g, gyro +-{cfg.gyro_range_dps} deg/s, "
        f"{summary['packets']} packets"
    )
    return 0

"""``poise export``: a recording's samples as CSV, one file per sensor, SI units.

Columns: ``t_s`` (seconds from the recording start), ``acc_x_mps2``, ``acc_y_mps2``,
``acc_z_mps2``, ``gyr_x_radps``, ``gyr_y_radps``, ``gyr_z_radps``; rows of missing samples
hold ``nan``. Where the files go (``--csv OUT``):

- ``OUT`` is an existing folder or ends with ``/``: ``OUT/<sensor id>.csv`` for every sensor;
- otherwise, one sensor: ``OUT`` itself; several sensors: ``OUT`` is a prefix,
  ``<OUT without .csv>_<sensor id>.csv``.

An existing file is replaced only with ``--force``, never when it is the recording itself
(also through a hard or symbolic link); every file is written to a temporary file and
renamed into place, so a failed export leaves the old files. New files are created
readable by the user only (0o600), new folders 0o700; a replaced file keeps its mode
(:mod:`poise.outputs`). To import
an export again: ``poise import-csv X.csv -o Y.poise --gyro-unit rad/s --columns
acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_radps,gyr_y_radps,gyr_z_radps`` (the ``t_s``
column gives the rate).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

import numpy as np

from poise.errors import PoiseError
from poise.inputs import open_recording
from poise.outputs import check_outputs, write_atomically

COLUMNS = (
    "t_s",
    "acc_x_mps2",
    "acc_y_mps2",
    "acc_z_mps2",
    "gyr_x_radps",
    "gyr_y_radps",
    "gyr_z_radps",
)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``export`` subcommand."""
    p = subparsers.add_parser(
        "export",
        help="export a recording's samples to CSV (one file per sensor, SI units)",
        description="Export every sensor of a recording to CSV: t_s, acc_*_mps2, gyr_*_radps. "
        "OUT is the file for a single sensor; for several sensors OUT is a prefix "
        "(OUT_<id>.csv) or, if it is a folder or ends with '/', OUT/<id>.csv.",
    )
    p.add_argument("file", help="a .poise recording")
    p.add_argument("--csv", required=True, metavar="OUT", help="output file, prefix or folder")
    p.add_argument("--force", action="store_true", help="replace existing files")
    p.set_defaults(func=run)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._") or "sensor"


def output_paths(out: str, sensor_ids: list[str]) -> list[Path]:
    """Where each sensor's CSV goes (see the module docstring)."""
    p = Path(out)
    if out.endswith(("/", os.sep)) or p.is_dir():
        return [p / f"{_safe(i)}.csv" for i in sensor_ids]
    if len(sensor_ids) == 1:
        return [p]
    stem = p.with_suffix("") if p.suffix.lower() == ".csv" else p
    return [stem.parent / f"{stem.name}_{_safe(i)}.csv" for i in sensor_ids]


def write_csv(
    path: Path,
    t_s: np.ndarray,
    acc: np.ndarray,
    gyr: np.ndarray,
    *,
    inputs: tuple = (),
    force: bool = False,
) -> None:
    """Write one sensor's CSV safely (:func:`poise.outputs.write_atomically`)."""
    with write_atomically(path, "w", inputs=inputs, force=force, newline="") as fh:
        fh.write(",".join(COLUMNS) + "\n")
        if t_s.size:
            np.savetxt(
                fh,
                np.column_stack([t_s, acc, gyr]),
                fmt=["%.6f"] + ["%.9g"] * 6,
                delimiter=",",
            )


def run(args: argparse.Namespace) -> int:
    """Export every sensor; print one line per file written."""
    rec = open_recording(args.file)
    if not rec.sensors:
        raise PoiseError(f"{args.file}: the recording has no sensors")
    ids = [s.id for s in rec.sensors]
    if len(set(map(_safe, ids))) != len(ids):
        ids = [f"{k}-{i}" for k, i in enumerate(ids)]
    paths = output_paths(args.csv, ids)
    check_outputs(paths, [args.file], force=args.force)  # all of them before writing any
    for s, path in zip(rec.sensors, paths):
        write_csv(path, s.t_s, s.acc_mps2, s.gyr_radps, inputs=(args.file,), force=args.force)
        print(
            f"{path}: {s.id}, {s.t_s.size} rows ({s.n_samples} samples) at {s.sampling_rate_hz} Hz"
        )
    if rec.damage:
        d = rec.damage[0]
        print(
            f"poise export: warning: {args.file} is damaged ({len(rec.damage)} region(s)), "
            f"first at byte {d.offset}: {d.reason}",
            file=sys.stderr,
        )
    return 0

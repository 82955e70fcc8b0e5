"""Inputs Poise can analyse: ``.poise`` recordings and CSV files of IMU samples.

:func:`load_input` turns either into a :class:`sensors.recording.Recording`. A CSV goes
through exactly the path of ``poise import-csv`` (:func:`csv_to_recording`), only into
memory: samples are converted to int16 counts with the smallest full-scale range that
holds them, encoded as wire-protocol data packets (MTU 247 size) and decoded again by
the recording reader, so a CSV and its imported recording give identical samples.

CSV rules (``docs/recording-format.md``, "Importing CSV"):

- a header row; the six sample columns are ``acc_x, acc_y, acc_z, gyr_x, gyr_y, gyr_z``
  unless ``columns`` names them (in that order); names match case-insensitively;
- optional time column (``t_s``, ``time_s``, ``time``, ``t`` or ``timestamp``, seconds):
  then samples are placed by their time and ``rate_hz`` may be omitted (it is inferred
  and, if given, checked against it; an inferred rate below 5 Hz or above 10 kHz is
  refused as a unit mistake); without one, row *i* is at ``i / rate_hz``;
- a value ``nan`` marks a missing sample (the whole row becomes a gap); anything else
  that is not a finite number is an error naming the line and column;
- comma, semicolon or tab separated.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import math
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from firmware_protocol import codec
from firmware_protocol.types import (
    ACC_RANGES_G,
    GYRO_RANGES_DPS,
    SAMPLE_RATES_HZ,
    STANDARD_GRAVITY_MPS2,
    SensorConfig,
)
from poise.errors import PoiseError
from poise.outputs import check_outputs, write_atomically
from sensors.recording import (
    MAGIC,
    PREAMBLE_SIZE,
    SYNC,
    Recording,
    RecordingError,
    RecordingWriter,
    load_recording,
)
from sensors.timeline import max_grid_rows

__all__ = [
    "ACC_UNITS",
    "GYRO_UNITS",
    "DEFAULT_COLUMNS",
    "TIME_COLUMNS",
    "CsvSamples",
    "NotImuCsv",
    "read_csv",
    "choose_config",
    "ImportHeader",
    "csv_to_recording",
    "import_csv",
    "integrity_text",
    "load_input",
    "open_recording",
]

#: Accepted accelerometer units and their factor to m/s^2.
ACC_UNITS = {"m/s2": 1.0, "g": STANDARD_GRAVITY_MPS2}
#: Accepted gyroscope units and their factor to rad/s.
GYRO_UNITS = {"deg/s": math.pi / 180.0, "rad/s": 1.0}
DEFAULT_COLUMNS = ("acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z")
TIME_COLUMNS = ("t_s", "time_s", "time", "t", "timestamp")
#: Samples per data packet at ATT MTU 247 (what a Poise wearable sends after the MTU exchange).
IMPORT_MTU = 247
_MAX_RATE_HZ = 10_000.0
#: A rate inferred from a time column below this is taken as a unit mistake (not seconds).
_MIN_INFERRED_RATE_HZ = 5.0
_RATE_TOLERANCE = 0.01
#: A resampled CSV may have at most this many times the rows of the input (a wrong
#: --rate, e.g. 1e-9 Hz, would otherwise allocate terabytes).
MAX_RESAMPLE_FACTOR = 10
#: Values are clipped to this magnitude before unit conversion (far beyond every sensor
#: range in every unit; the clipping to the chosen range is counted and reported).
_MAX_ABS_VALUE = 1e9

Warn = Callable[[str], None]


class NotImuCsv(PoiseError):
    """A file that is neither a Poise recording nor a CSV of IMU samples.

    ``reason`` says why in words without command-line options (the GUI shows it).
    """

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _stderr_warn(msg: str) -> None:
    print(f"warning: {msg}", file=sys.stderr)


@dataclass
class CsvSamples:
    """Samples read from a CSV, in SI units, on a uniform grid of ``rate_hz``.

    Attributes
    ----------
    acc_mps2, gyr_radps
        (n, 3); rows of missing samples are NaN.
    rate_hz
        Sample rate of the grid (as given or inferred; not necessarily a sensor rate).
    t0_s
        Time of the first row (0 without a time column).
    source
        File name, for messages and provenance.
    info
        Provenance for the recording header (columns, units, sha256, rows).
    """

    acc_mps2: np.ndarray
    gyr_radps: np.ndarray
    rate_hz: float
    t0_s: float = 0.0
    source: str = ""
    info: dict = field(default_factory=dict)


def _check_rate(rate_hz: float | None, where: str) -> float | None:
    if rate_hz is None:
        return None
    try:
        r = float(rate_hz)
    except (TypeError, ValueError):
        raise PoiseError(
            f"{where}: invalid rate {rate_hz!r}: give the sampling rate in Hz"
        ) from None
    if not math.isfinite(r) or r <= 0 or r > _MAX_RATE_HZ:
        raise PoiseError(
            f"{where}: invalid rate {rate_hz!r} Hz: must be a number in (0, {_MAX_RATE_HZ:g}]"
        )
    return r


def _column_numbers(values: list[str], name: str, first_line: int, where: str) -> np.ndarray:
    """Parse one column; 'nan' is allowed (missing), anything else non-finite is an error."""
    try:
        arr = np.array(values, dtype=np.float64)
    except ValueError:
        arr = None
    if arr is None or np.isinf(arr).any():
        for r, v in enumerate(values):
            try:
                x = float(v)
            except ValueError:
                x = None
            if x is None or math.isinf(x):
                raise PoiseError(
                    f"{where}: line {first_line + r}, column '{name}': not a number: {v!r}"
                ) from None
    if arr is None:  # every value is a number to float() that numpy refused as a whole
        arr = np.array([float(v) for v in values], dtype=np.float64)
    return arr


def _check_duplicate_columns(
    header: list[str], used: set[str | None], line: int, where: str, warn: Warn
) -> None:
    """A name given to two columns: an error if the import reads it, else a warning."""
    first: dict[str, int] = {}
    for j, name in enumerate(header):
        key = name.lower()
        if not key:
            continue
        if key in first:
            msg = (
                f"{where}: line {line}: column '{name}' appears twice (columns "
                f"{first[key] + 1} and {j + 1})"
            )
            if key in used:
                raise PoiseError(f"{msg}; rename one, or name the columns with --columns")
            warn(f"{msg}; neither is used")
        else:
            first[key] = j


def _wanted_columns(columns: list[str] | tuple[str, ...] | str | None) -> tuple[str, ...]:
    """The six sample columns asked for (``"a,b,..."`` or a sequence), else the defaults."""
    if isinstance(columns, str):
        columns = [c.strip() for c in columns.split(",")]
    wanted = tuple(columns) if columns else DEFAULT_COLUMNS
    if len(wanted) != 6 or any(not c for c in wanted):
        raise PoiseError(
            f"columns must name 6 columns (acc x,y,z then gyro x,y,z), got {list(wanted)}"
        )
    return wanted


def _csv_rows(raw: bytes, where: str) -> list[list[str]]:
    """The file's rows (UTF-8, with or without BOM; the delimiter the first line has most
    of: comma, semicolon or tab)."""
    if raw.startswith(MAGIC):
        raise PoiseError(f"{where}: this is a Poise recording, not a CSV")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise NotImuCsv(
            f"{where}: not a text CSV (byte {exc.start} is not UTF-8)", "it is not a text file"
        ) from None
    if not text.strip():
        raise NotImuCsv(f"{where}: empty file", "it is empty")
    first_line = text.lstrip("\r\n").split("\n", 1)[0]
    delim = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text), delimiter=delim)
    try:
        return list(reader)
    except csv.Error as exc:  # e.g. a field longer than csv.field_size_limit()
        raise PoiseError(f"{where}: line {reader.line_num}: not a CSV of numbers ({exc})") from None


def _data_rows(rows: list[list[str]], line0: int, n_columns: int, where: str) -> list[list[str]]:
    """The rows after the header (line ``line0``), trailing blank lines dropped; each must
    have the header's number of fields."""
    body = rows[line0 + 1 :]
    while body and not any(c.strip() for c in body[-1]):
        body.pop()  # trailing blank lines
    if not body:
        raise PoiseError(f"{where}: no data rows after the header")
    for r, row in enumerate(body):
        if len(row) != n_columns:
            what = "empty line" if not any(c.strip() for c in row) else f"{len(row)} fields"
            raise PoiseError(
                f"{where}: line {line0 + r + 2}: {what}, the header has {n_columns} columns"
            )
    return body


def _on_time_grid(
    data: np.ndarray, t: np.ndarray, rate: float | None, col: str, first: int, where: str
) -> tuple[np.ndarray, float, float]:
    """Rows with times ``t`` (s) on a grid of sample slots (NaN rows where none is):
    ``(grid, rate, t0)``. The rate is ``rate`` if given (the times must agree), else the
    times' median. ``col`` names the time column, ``first`` is the line of the first row.
    """
    n = data.shape[0]
    if np.isnan(t).any():
        bad = int(np.flatnonzero(np.isnan(t))[0])
        raise PoiseError(f"{where}: line {first + bad}, {col}: time is missing")
    dt = np.diff(t)
    if n > 1 and (dt <= 0).any():
        bad = int(np.flatnonzero(dt <= 0)[0]) + 1
        raise PoiseError(f"{where}: line {first + bad}, {col}: time does not increase")
    if n > 1:
        est = 1.0 / float(np.median(dt))
        if rate is None and not _MIN_INFERRED_RATE_HZ <= est <= _MAX_RATE_HZ:
            # a time column in ms (or us) would otherwise stretch the recording 1000x
            raise PoiseError(
                f"{where}: the time {col} gives {est:.4g} Hz; times must be "
                "in seconds (is it in milliseconds?); give the rate with --rate HZ"
            )
        if rate is None:
            rate = est
        elif abs(est - rate) > _RATE_TOLERANCE * rate:
            raise PoiseError(
                f"{where}: rate {rate:g} Hz given, but the time {col} says {est:.4g} Hz"
            )
    elif rate is None:
        raise PoiseError(f"{where}: one row and no rate: give the sampling rate (--rate HZ)")
    t0 = float(t[0])
    span_rows = (float(t[-1]) - t0) * rate + 1
    if span_rows > max_grid_rows(n, rate):
        # memory in proportion to the rows, whatever the times say
        bad = int(np.argmax(np.diff(t))) + 1
        raise PoiseError(
            f"{where}: line {first + bad}, {col}: time jumps by "
            f"{float(t[bad] - t[bad - 1]):.6g} s; {n} rows would span {span_rows:.4g} "
            f"sample slots at {rate:g} Hz (at most {max_grid_rows(n, rate)}); "
            "is a time wrong?"
        )
    k = np.rint((t - t0) * rate).astype(np.int64)
    if (np.diff(k) <= 0).any():
        bad = int(np.flatnonzero(np.diff(k) <= 0)[0]) + 1
        raise PoiseError(
            f"{where}: line {first + bad}: two rows fall on one sample slot at {rate:g} Hz"
        )
    grid = np.full((int(k[-1]) + 1, 6), np.nan)
    grid[k] = data
    return grid, rate, t0


def read_csv(
    path: str | os.PathLike,
    *,
    rate_hz: float | None = None,
    acc_unit: str = "m/s2",
    gyro_unit: str = "deg/s",
    columns: list[str] | tuple[str, ...] | str | None = None,
    warn: Warn = _stderr_warn,
) -> CsvSamples:
    """Read and validate a CSV of IMU samples (see the module docstring for the rules).

    Raises
    ------
    PoiseError
        Naming the file and what is wrong: empty file, a field longer than 131,072
        characters, missing or duplicate columns, a value that is not a number (line and
        column), a wrong or missing rate, a time column whose times would span more than
        :func:`sensors.timeline.max_grid_rows` sample slots, bad units.
    """
    p = Path(path)
    where = str(p)
    if acc_unit not in ACC_UNITS:
        raise PoiseError(f"unknown accelerometer unit {acc_unit!r}; use one of {list(ACC_UNITS)}")
    if gyro_unit not in GYRO_UNITS:
        raise PoiseError(f"unknown gyroscope unit {gyro_unit!r}; use one of {list(GYRO_UNITS)}")
    rate = _check_rate(rate_hz, where)
    wanted = _wanted_columns(columns)
    raw = p.read_bytes()
    rows = _csv_rows(raw, where)
    line0 = next(i for i, r in enumerate(rows) if any(c.strip() for c in r))
    header = [c.strip() for c in rows[line0]]
    lower = [c.lower() for c in header]
    missing = [c for c in wanted if c.lower() not in lower]
    if missing:
        found = ", ".join(header[:8]) + (", ..." if len(header) > 8 else "")
        raise NotImuCsv(
            f"{where}: missing column(s) {', '.join(missing)} (found: {', '.join(header)}); "
            "name them with --columns",
            f"an IMU CSV has the columns {', '.join(DEFAULT_COLUMNS)}; this file has {found}",
        )
    idx = [lower.index(c.lower()) for c in wanted]
    tcol = next((c for c in TIME_COLUMNS if c in lower), None)
    used: set[str | None] = {c.lower() for c in wanted}
    used.add(tcol)
    _check_duplicate_columns(header, used, line0 + 1, where, warn)
    body = _data_rows(rows, line0, len(header), where)
    first = line0 + 2
    data = np.column_stack(
        [_column_numbers([row[j] for row in body], header[j], first, where) for j in idx]
    )
    n = data.shape[0]
    t0 = 0.0
    if tcol is not None:
        tj = lower.index(tcol)
        t = _column_numbers([row[tj] for row in body], header[tj], first, where)
        data, rate, t0 = _on_time_grid(data, t, rate, f"column '{header[tj]}'", first, where)
    elif rate is None:
        raise PoiseError(
            f"{where}: no time column ({', '.join(TIME_COLUMNS)}): give the sampling rate (--rate HZ)"
        )
    # beyond any sensor range in any unit (clipped and counted later); keeps the unit
    # conversion and int16 scaling of values like 1e308 finite
    np.clip(data, -_MAX_ABS_VALUE, _MAX_ABS_VALUE, out=data)
    acc = data[:, :3] * ACC_UNITS[acc_unit]
    gyr = data[:, 3:] * GYRO_UNITS[gyro_unit]
    info = {
        "kind": "csv",
        "file": p.name,
        "sha256": hashlib.sha256(raw).hexdigest(),
        "rows": int(n),
        "columns": list(wanted),
        "time_column": tcol,
        "acc_unit": acc_unit,
        "gyro_unit": gyro_unit,
        "rate_hz": rate,
    }
    return CsvSamples(acc, gyr, float(rate), t0, where, info)


def _resampled_rows(n: int, rate_hz: float, target_hz: int) -> float:
    """Rows of ``n`` rows at ``rate_hz`` resampled to ``target_hz`` (a float: it may be huge)."""
    if n == 0 or abs(rate_hz - target_hz) <= 1e-9 * target_hz:
        return float(n)
    return math.floor((n - 1) / rate_hz * target_hz + 1e-9) + 1.0


def _resample(s: CsvSamples, target_hz: int) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation onto ``target_hz``; a new sample is NaN if a neighbour is missing."""
    n = s.acc_mps2.shape[0]
    both = np.hstack([s.acc_mps2, s.gyr_radps])
    valid = ~np.isnan(both).any(axis=1)
    t_old = np.arange(n) / s.rate_hz
    m = int(_resampled_rows(n, s.rate_hz, target_hz))
    t_new = np.arange(m) / target_hz
    out = np.full((m, 6), np.nan)
    if valid.sum() >= 1:
        for c in range(6):
            out[:, c] = np.interp(t_new, t_old[valid], both[valid, c])
    pos = t_new * s.rate_hz
    lo = np.clip(np.floor(pos + 1e-9).astype(np.int64), 0, n - 1)
    hi = np.clip(np.ceil(pos - 1e-9).astype(np.int64), 0, n - 1)
    out[~(valid[lo] & valid[hi])] = np.nan
    return out[:, :3], out[:, 3:]


def choose_config(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray, rate_hz: int
) -> tuple[SensorConfig, int, int]:
    """Smallest full-scale ranges that hold the data; returns (config, acc clipped, gyro clipped).

    A value fits a range when it is within what int16 counts represent: +-32767 counts
    (the positive limit), i.e. ``range * 32767 / 32768``.
    """
    chosen = []
    clipped = []
    for x, ranges, scale in (
        (acc_mps2, ACC_RANGES_G, STANDARD_GRAVITY_MPS2),
        (gyr_radps, GYRO_RANGES_DPS, math.pi / 180.0),
    ):
        peak = float(np.nanmax(np.abs(x))) if np.isfinite(x).any() else 0.0
        fits = [r for r in ranges if peak <= r * scale * 32767 / 32768]
        r = fits[0] if fits else ranges[-1]
        chosen.append(r)
        clipped.append(int(np.count_nonzero(np.abs(np.nan_to_num(x)) > r * scale * 32767 / 32768)))
    return SensorConfig(rate_hz, chosen[0], chosen[1]), clipped[0], clipped[1]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    m = np.concatenate(([0], mask.astype(np.int8), [0]))
    d = np.diff(m)
    return list(zip(np.flatnonzero(d == 1).tolist(), np.flatnonzero(d == -1).tolist()))


@dataclass(frozen=True)
class ImportHeader:
    """What the header of an imported recording says besides the samples.

    Attributes
    ----------
    placement
        Where the sensor was worn (also the sensor's id; ``None``: unknown, id ``"imu"``).
    patient
        The patient's pseudonym, if any.
    notes
        Free-form notes.
    demographics
        Patient data the analysis reads (``age``, ``sex``, ``height_m``, ``weight_kg``,
        ``sensor_height_m``); ``None`` values are left out.
    """

    placement: str | None = "lower-back"
    patient: str | None = None
    notes: str = ""
    demographics: dict[str, Any] = field(default_factory=dict)

    def metadata(self, config: SensorConfig, source: dict[str, Any]) -> dict[str, Any]:
        """The recording's metadata: one sensor of ``config``, unknown start, ``source``."""
        return {
            "patient": self.patient,
            "notes": self.notes,
            # age, sex, height_m, weight_kg, sensor_height_m: analysis reads them from here
            "demographics": {k: v for k, v in self.demographics.items() if v is not None},
            "sensors": [
                {
                    "id": self.placement or "imu",
                    "name": "CSV import",
                    "address": None,
                    "placement": self.placement,
                    "config": config,
                    "firmware": None,
                }
            ],
            "start": {
                "utc": None,
                "epoch_s": None,
                "monotonic_s": None,
                "note": "unknown (imported)",
            },
            "source": source,
        }


def csv_to_recording(
    samples: CsvSamples,
    target: str | os.PathLike | io.BytesIO,
    header: ImportHeader | None = None,
    *,
    overwrite: bool = False,
    warn: Warn = _stderr_warn,
) -> dict:
    """Encode CSV samples as a recording (the core of ``poise import-csv``) with ``header``
    (default: a lower-back sensor, no patient).

    The rate becomes the nearest sensor rate (50/100/200 Hz; other rates are resampled
    by linear interpolation, with a warning). Values become int16 counts of the smallest
    ranges that hold them (values beyond the largest range are clipped, with a warning),
    packed 19 samples per data packet (ATT MTU 247) with a 32-bit microsecond sensor
    clock starting at the first row's time. Host receive times are synthesised as the
    time of each packet's last sample, so the recording's time axis equals the CSV's.
    Missing rows (NaN) are not encoded and get a GAP record.

    Returns
    -------
    dict
        Summary: ``config``, ``samples``, ``packets``, ``resampled_from_hz``, ``clipped``.
    """
    acc, gyr, target_hz, resampled_from = _at_sensor_rate(samples, warn)
    config, acc_clip, gyr_clip = choose_config(acc, gyr, target_hz)
    if acc_clip:
        warn(
            f"{samples.source}: {acc_clip} accelerometer values exceed +-{config.acc_range_g} g; clipped"
        )
    if gyr_clip:
        warn(
            f"{samples.source}: {gyr_clip} gyroscope values exceed +-{config.gyro_range_dps} deg/s; clipped"
        )
    valid = ~(np.isnan(acc).any(axis=1) | np.isnan(gyr).any(axis=1))
    n = acc.shape[0]
    acc_c = np.zeros((n, 3), np.int16)
    gyr_c = np.zeros((n, 3), np.int16)
    if valid.any():
        acc_c[valid], gyr_c[valid] = codec.to_counts(acc[valid], gyr[valid], config)
    period_us = config.sample_period_us
    t0_us = int(round(samples.t0_s * 1e6))
    info = dict(samples.info)
    info.update(
        {
            "resampled_to_hz": target_hz if resampled_from is not None else None,
            "clipped": {"acc": acc_clip, "gyro": gyr_clip},
        }
    )
    metadata = (header or ImportHeader()).metadata(config, info)
    with RecordingWriter(target, metadata, overwrite=overwrite) as w:
        n_packets = _write_samples(w, valid, acc_c, gyr_c, config, t0_us)
        w.close(t_s=(t0_us + n * period_us) * 1e-6)
    return {
        "config": config,
        "samples": int(valid.sum()),
        "rows": int(n),
        "packets": n_packets,
        "resampled_from_hz": resampled_from,
        "clipped": {"acc": acc_clip, "gyro": gyr_clip},
    }


def _at_sensor_rate(
    samples: CsvSamples, warn: Warn
) -> tuple[np.ndarray, np.ndarray, int, float | None]:
    """``(acc, gyr, sensor rate, rate resampled from or None)``: the samples at the nearest
    sensor rate (linear interpolation, with a warning, where the rate is not one)."""
    acc, gyr = samples.acc_mps2, samples.gyr_radps
    rate = samples.rate_hz
    target_hz = min(SAMPLE_RATES_HZ, key=lambda r: (abs(r - rate), -r))
    n_in = acc.shape[0]
    n_out = _resampled_rows(n_in, rate, target_hz)
    if n_out > MAX_RESAMPLE_FACTOR * n_in:
        raise PoiseError(
            f"{samples.source}: {n_in} rows at {rate:g} Hz would become {n_out:.4g} rows at "
            f"{target_hz} Hz (more than {MAX_RESAMPLE_FACTOR}x the input); check --rate"
        )
    if abs(rate - target_hz) <= 1e-9 * target_hz:
        return acc, gyr, target_hz, None
    warn(
        f"{samples.source}: {rate:g} Hz is not a sensor rate ({'/'.join(map(str, SAMPLE_RATES_HZ))} Hz); "
        f"resampled to {target_hz} Hz by linear interpolation"
        + (" (no anti-alias filter)" if target_hz < rate else "")
    )
    acc, gyr = _resample(samples, target_hz)
    return acc, gyr, target_hz, rate


def _write_samples(
    w: RecordingWriter,
    valid: np.ndarray,
    acc_c: np.ndarray,
    gyr_c: np.ndarray,
    config: SensorConfig,
    t0_us: int,
) -> int:
    """Runs of valid rows as data packets (as many samples as the import MTU holds), runs
    of missing ones as GAP records; returns the number of packets."""
    period_us = config.sample_period_us
    per = codec.max_samples_per_packet(IMPORT_MTU)
    n_packets = 0
    for a, b in _runs(valid):
        for i in range(a, b, per):
            j = min(i + per, b)
            ts = (t0_us + i * period_us) % 2**32
            pk = codec.encode_data(n_packets % 65536, ts, acc_c[i:j], gyr_c[i:j], config=config)
            w.write_packet(0, pk, host_time_s=(t0_us + (j - 1) * period_us) * 1e-6)
            n_packets += 1
    for a, b in _runs(~valid):
        w.write_gap(
            0,
            samples=b - a,
            reason="missing in source CSV",
            start_us=(t0_us + a * period_us) % 2**32,
            end_us=(t0_us + b * period_us) % 2**32,
            t_s=(t0_us + a * period_us) * 1e-6,
        )
    return n_packets


def import_csv(
    csv_path: str | os.PathLike,
    out_path: str | os.PathLike,
    *,
    rate_hz: float | None = None,
    acc_unit: str = "m/s2",
    gyro_unit: str = "deg/s",
    columns: list[str] | str | None = None,
    header: ImportHeader | None = None,
    overwrite: bool = False,
    warn: Warn = _stderr_warn,
) -> dict:
    """Convert a CSV file into a ``.poise`` recording file (``poise import-csv``) with
    ``header`` (default: a lower-back sensor, no patient).

    The CSV is read, validated and converted completely before the output is written, so
    a bad CSV leaves nothing behind. The output is written by
    :func:`poise.outputs.write_atomically`: never over the CSV itself (hard and symbolic
    links included), an existing file only with ``overwrite`` (it keeps its mode), a
    temporary file renamed into place. Returns the summary of :func:`csv_to_recording`.
    """
    out = Path(out_path)
    check_outputs([out], [csv_path], force=overwrite)
    samples = read_csv(
        csv_path,
        rate_hz=rate_hz,
        acc_unit=acc_unit,
        gyro_unit=gyro_unit,
        columns=columns,
        warn=warn,
    )
    buf = io.BytesIO()
    summary = csv_to_recording(samples, buf, header, warn=warn)
    with write_atomically(out, "wb", inputs=[csv_path], force=overwrite, checked=True) as fh:
        fh.write(buf.getvalue())
    return summary


def open_recording(path: str | os.PathLike) -> Recording:
    """Load a ``.poise`` recording (only), turning every failure into a one-line PoiseError.

    Used by ``poise info`` and ``poise export``; a CSV or any other file is "not a Poise
    recording (bad magic)".
    """
    try:
        return load_recording(path)
    except FileNotFoundError:
        raise PoiseError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise PoiseError(f"{path}: is a folder, not a recording") from None
    except RecordingError as exc:
        raise PoiseError(str(exc)) from None


def integrity_text(recording: Recording) -> str | None:
    """What is wrong with a recording's file, in words for the user, or ``None``.

    A recording that was not closed (no END record: a crash, a power cut, a file copied
    while being written or cut short) or has damaged regions is still read: everything
    valid before and after the damage (:func:`sensors.recording.load_recording`). This
    says what is damaged and what will be used.
    """
    problems = []
    if not recording.closed_cleanly:
        problems.append(
            "it was not closed cleanly (the recording stopped without its end: a crash, a "
            "power cut, or a file cut short)"
        )
    damage = list(recording.damage or [])
    if damage:
        where = "; ".join(f"at byte {d.offset}: {d.reason}" for d in damage[:3])
        more = f"; and {len(damage) - 3} more" if len(damage) > 3 else ""
        problems.append(f"{len(damage)} damaged region(s) ({where}{more})")
    if not problems:
        return None
    n = sum(int(np.isfinite(s.acc_mps2).all(axis=1).sum()) for s in recording.sensors)
    return (
        "This recording is damaged: "
        + " and ".join(problems)
        + f". The intact part is used: {recording.duration_s:.1f} s, {n} samples."
    )


DEMOGRAPHIC_KEYS = ("age", "sex", "height_m", "weight_kg", "sensor_height_m")


def demographics_from_args(args: argparse.Namespace) -> dict[str, Any]:
    """The patient data given on a command line (``--age``, ``--sex``, ``--height-m``,
    ``--weight-kg``, ``--sensor-height-m``), without the ones left out."""
    values = {k: getattr(args, k, None) for k in DEMOGRAPHIC_KEYS}
    return {k: v for k, v in values.items() if v is not None}


def load_input(
    path: str | os.PathLike,
    rate_hz: float | None = None,
    acc_unit: str = "m/s2",
    gyro_unit: str = "deg/s",
    columns: list[str] | str | None = None,
    *,
    placement: str | None = "lower-back",
    warn: Warn = _stderr_warn,
) -> Recording:
    """A ``.poise`` recording or a CSV file as a :class:`Recording`.

    Recordings are recognised by their magic bytes (whatever the extension); anything
    else is read as a CSV with :func:`read_csv` and imported in memory through
    :func:`csv_to_recording`, the ``poise import-csv`` path.

    Raises
    ------
    PoiseError
        Missing file, a damaged-beyond-use recording, or an invalid CSV (what and where).
    """
    p = Path(path)
    if not p.exists():
        raise PoiseError(f"{p}: no such file")
    if p.is_dir():
        raise PoiseError(f"{p}: is a folder, not a recording or CSV file")
    with open(p, "rb") as fh:
        head = fh.read(PREAMBLE_SIZE + len(SYNC))
    # a recording by its magic, its name, or (magic damaged) a record right after the preamble
    if head.startswith(MAGIC) or p.suffix.lower() == ".poise" or head[PREAMBLE_SIZE:] == SYNC:
        return open_recording(p)
    samples = read_csv(
        p, rate_hz=rate_hz, acc_unit=acc_unit, gyro_unit=gyro_unit, columns=columns, warn=warn
    )
    buf = io.BytesIO()
    csv_to_recording(samples, buf, ImportHeader(placement=placement), warn=warn)
    rec = load_recording(buf.getvalue())
    rec.source = str(p)
    return rec

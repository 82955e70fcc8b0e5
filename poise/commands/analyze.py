"""``poise analyze``: gait, turns and transitions of a recording or CSV; clinical tests; fall risk.

Default (no ``--test``/``--fall-risk``): the lower-back sensor's gait analysis
(:class:`analysis.gait.GaitAnalyzer`) and postural transitions
(:func:`analysis.transitions.detect_transitions`). ``--format json`` prints one object::

    {"walking_bouts": [{"start_s", "end_s", "n_steps", "cadence_spm", "walking_speed_mps",
                        "stride_length_m", "stride_time_cv", ...}],
     "initial_contacts_s": [...], "turns": [{"start_s", "end_s", "angle_deg", ...}],
     "transitions": [{"type", "start_s", "end_s", ...}], "sensor", "sampling_rate_hz", ...}

Times are seconds from the start of the recording; ``stride_time_cv`` is in percent. With
``--test`` or ``--fall-risk`` the command prints the dict of
:func:`poise.assessments.run_test` / :func:`poise.assessments.session_fall_risk` as JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

import numpy as np

from analysis.clinical.base import to_jsonable
from analysis.clinical.registry import test_keys
from poise.commands import add_command
from poise.errors import PoiseError


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``analyze`` subcommand."""
    p = add_command(
        subparsers,
        "analyze",
        "gait, turns and transitions of a recording or CSV; clinical tests; fall risk",
        description=(
            "Analyse the lower-back sensor of a .poise recording or a CSV (as accepted by "
            "import-csv): walking bouts, initial contacts, strides, turns and sit/stand "
            "transitions; or one instrumented test (--test); or the fall-risk summary "
            "(--fall-risk)."
        ),
    )
    p.add_argument("input", metavar="INPUT", help="a .poise recording or a CSV file")
    p.add_argument("--format", choices=("text", "json"), default="text")
    p.add_argument("--rate", type=float, metavar="HZ", help="CSV sampling rate in Hz")
    p.add_argument("--acc-unit", choices=("m/s2", "g"), default="m/s2")
    p.add_argument("--gyro-unit", choices=("deg/s", "rad/s"), default="deg/s")
    p.add_argument(
        "--columns", metavar="COLS", help="CSV column names acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"
    )
    p.add_argument("--sensor-height-m", type=float, metavar="M", help="sensor height above ground")
    p.add_argument(
        "--height-m", type=float, metavar="M", help="body height (0.53 x for the sensor)"
    )
    p.add_argument("--test", choices=test_keys(), help="analyse one instrumented clinical test")
    p.add_argument("--fall-risk", action="store_true", help="print the fall-risk summary")
    p.add_argument(
        "--daily",
        action="store_true",
        help="daily life of a home recording (days to a week): wear time, walking time, "
        "steps, bouts by duration, gait speed, cadence and stride length per day and week "
        "(Mobilise-D outcomes; a .poise file is read an hour at a time)",
    )
    p.add_argument("--age", type=float, metavar="Y")
    p.add_argument("--sex", choices=("f", "m"))
    p.add_argument("--weight-kg", type=float, metavar="KG")
    p.set_defaults(func=run)


def _positive(name: str, v: float | None) -> None:
    if v is not None and not (math.isfinite(v) and v > 0):
        raise PoiseError(f"--{name} must be a positive number, got {v}")


def _shift(d: dict, t0: float) -> dict:
    out = dict(d)
    for k in ("start_s", "end_s", "time_s", "peak_s"):
        if out.get(k) is not None:
            out[k] = round(float(out[k]) + t0, 3)
    return out


def gait_summary(
    recording: Any, sensor_height_m: float | None = None, height_m: float | None = None
) -> dict[str, Any]:
    """The JSON-ready default output of ``poise analyze`` for a loaded recording."""
    from analysis.gait import GaitAnalyzer
    from poise.assessments import pick_sensor

    sensor = pick_sensor(recording)
    acc = np.asarray(sensor.acc_mps2, dtype=float)
    gyr = None if sensor.gyr_radps is None else np.asarray(sensor.gyr_radps, dtype=float)
    fs = float(sensor.config.sampling_rate_hz)
    t = np.asarray(sensor.t_s, dtype=float)
    t0 = float(t[0]) if t.size else 0.0
    meta = getattr(recording, "metadata", None) or {}
    demo = meta.get("demographics") if isinstance(meta, dict) else None
    if isinstance(demo, dict):  # the command line wins over the recording's header
        if height_m is None and demo.get("height_m"):
            height_m = float(demo["height_m"])
        if sensor_height_m is None and demo.get("sensor_height_m"):
            sensor_height_m = float(demo["sensor_height_m"])
    res = GaitAnalyzer(sensor_height_m=sensor_height_m, height_m=height_m).analyze(acc, gyr, fs)
    out = res.result_.to_dict()
    del res  # its signals (about 30 MB an hour) are not needed while transitions run
    out["walking_bouts"] = [_shift(b, t0) for b in out["walking_bouts"]]
    out["strides"] = [_shift(s, t0) for s in out["strides"]]
    out["turns"] = [_shift(x, t0) for x in out["turns"]]
    out["initial_contacts_s"] = [round(x + t0, 3) for x in out["initial_contacts_s"]]
    from analysis.transitions import detect_transitions

    transitions: list[dict] = []
    if gyr is not None and acc.shape[0] > 0:
        transitions = [_shift(tr.to_dict(), t0) for tr in detect_transitions(acc, gyr, fs)]
    out["transitions"] = transitions
    out["sensor"] = str(sensor.id)
    out["placement"] = sensor.placement
    out["sampling_rate_hz"] = fs
    out["duration_s"] = round(acc.shape[0] / fs, 3) if fs > 0 else 0.0
    return to_jsonable(out)


def _text(d: dict[str, Any]) -> str:
    lines = [
        f"sensor {d['sensor']} ({d.get('placement') or 'unknown placement'}), "
        f"{d['sampling_rate_hz']:g} Hz, {d['duration_s']:.1f} s; sensor height "
        f"{d['sensor_height_m']} m ({d['sensor_height_source']})",
    ]
    bouts = d["walking_bouts"]
    if not bouts:
        lines.append("no walking bouts")
    for i, b in enumerate(bouts, 1):

        def f(k, fmt="{:.2f}", b=b):
            return "-" if b.get(k) is None else fmt.format(b[k])

        lines.append(
            f"bout {i}: {b['start_s']:.2f}-{b['end_s']:.2f} s, {b['n_steps']} steps, "
            f"cadence {f('cadence_spm', '{:.1f}')} steps/min, speed {f('walking_speed_mps')} m/s, "
            f"stride {f('stride_length_m')} m, stride-time CV {f('stride_time_cv', '{:.1f}')} %"
        )
    lines.append(f"initial contacts: {len(d['initial_contacts_s'])}")
    for t in d["turns"]:
        lines.append(
            f"turn {t['direction']} {abs(t['angle_deg']):.0f} deg, {t['start_s']:.2f}-"
            f"{t['end_s']:.2f} s, peak {t['peak_angular_velocity_dps']:.0f} deg/s"
        )
    if not d["turns"]:
        lines.append("no turns >= 90 deg")
    for tr in d["transitions"]:
        lines.append(f"{tr['type']}: {tr['start_s']:.2f}-{tr['end_s']:.2f} s")
    if not d["transitions"]:
        lines.append("no sit/stand transitions")
    return "\n".join(lines)


def _progress_printer() -> Any:
    """A progress line on stderr while a long analysis runs (only on a terminal)."""
    if not sys.stderr.isatty():
        return None

    def show(done: int, total: int) -> None:
        pct = 100.0 * done / max(total, 1)
        end = "\n" if done >= total else ""
        sys.stderr.write(f"\ranalysing: {pct:5.1f} %{end}")
        sys.stderr.flush()

    return show


def run(args: argparse.Namespace) -> int:
    """Execute ``poise analyze``."""
    from poise.inputs import demographics_from_args, load_input

    for name in ("rate", "sensor_height_m", "height_m", "age", "weight_kg"):
        _positive(name.replace("_", "-"), getattr(args, name, None))
    demographics = demographics_from_args(args)
    if args.daily:
        if args.test or args.fall_risk:
            raise PoiseError("--daily can not be combined with --test or --fall-risk")
        from poise.daily import daily_life, daily_text

        d = daily_life(
            args.input,
            demographics,
            progress=_progress_printer(),
            rate_hz=args.rate,
            acc_unit=args.acc_unit,
            gyro_unit=args.gyro_unit,
            columns=args.columns,
        )
        if args.format == "json":
            json.dump(to_jsonable(d), sys.stdout)
            sys.stdout.write("\n")
        else:
            print(daily_text(d))
        return 0
    rec = load_input(
        args.input,
        rate_hz=args.rate,
        acc_unit=args.acc_unit,
        gyro_unit=args.gyro_unit,
        columns=args.columns,
    )
    if args.test or args.fall_risk:
        from poise import assessments

        if args.test:
            out = assessments.run_test(rec, args.test, demographics)
        else:
            out = assessments.session_fall_risk(rec, demographics)
        if args.test and args.fall_risk:
            out = {"test": out, "fall_risk": assessments.session_fall_risk(rec, demographics)}
        print(json.dumps(to_jsonable(out), indent=None if args.format == "json" else 2))
        return 0
    d = gait_summary(rec, args.sensor_height_m, args.height_m)
    if args.format == "json":
        # dumps, not dump: json.dump writes through the pure-Python encoder (0.3 s for an
        # hour's result), dumps uses the C one; the text is the same
        sys.stdout.write(json.dumps(d))
        sys.stdout.write("\n")
    else:
        print(_text(d))
    return 0

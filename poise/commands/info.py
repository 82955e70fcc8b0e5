"""``poise info``: what a recording holds, and whether it is damaged.

``--json`` prints one JSON object::

    {"file", "format_version", "patient", "start_utc", "duration_s", "closed_cleanly",
     "sensors": [{"id", "placement", "device": {"kind", "model", "firmware"},
                  "rate_hz", "acc_range_g", "gyro_range_dps",
                  "samples", "missing_samples", "duplicates", "clock_resets",
                  "drift_ppm", "start_s", "end_s",
                  "gaps": [{"start_s", "end_s", "samples", "reason"}]}],
     "events", "event_kinds", "damage": [{"offset", "reason"}], "notes"}
"""

from __future__ import annotations

import argparse
import json
from collections import Counter

from poise.inputs import open_recording
from sensors.recording import Recording


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``info`` subcommand."""
    p = subparsers.add_parser(
        "info",
        help="summarise a recording: sensors, samples, gaps, damage",
        description="Summarise a .poise recording: sensors, sample counts, duration, "
        "gaps and integrity problems (damaged byte ranges).",
    )
    p.add_argument("file", help="a .poise recording")
    p.add_argument("--json", action="store_true", help="print JSON instead of text")
    p.set_defaults(func=run)


def _r(x: float) -> float | None:
    """Seconds rounded to the microsecond (``None`` for NaN: JSON has no NaN)."""
    x = float(x)
    return round(x, 6) if x == x else None


def _t(x: float | None) -> str:
    """A time for the text summary; ``?`` when unknown (a gap record without times)."""
    return "?" if x is None else f"{x:.3f}"


def summary(rec: Recording, name: str) -> dict:
    """The JSON-ready summary ``poise info --json`` prints."""
    md = rec.metadata
    sensors = []
    for s in rec.sensors:
        n_rows = int(s.t_s.size)
        sensors.append(
            {
                "id": s.id,
                "placement": s.placement,
                "device": {
                    "kind": (s.device or {}).get("kind", s.kind),
                    "model": (s.device or {}).get("model"),
                    "firmware": (s.device or {}).get("firmware"),
                },
                "rate_hz": s.sampling_rate_hz,
                "acc_range_g": s.config.acc_range_g,
                "gyro_range_dps": s.config.gyro_range_dps,
                "samples": s.n_samples,
                # every lost sample is in a gap, also those after the last received one
                # (no grid rows there)
                "missing_samples": int(sum(g.samples for g in s.gaps)),
                "duplicates": s.duplicates,
                "clock_resets": s.clock_resets,
                "drift_ppm": None if s.clock is None else round(s.clock.drift_ppm, 3),
                "start_s": _r(s.t_s[0]) if n_rows else None,
                "end_s": _r(s.t_s[-1] + 1.0 / s.sampling_rate_hz) if n_rows else None,
                "gaps": [
                    {**g.to_dict(), "start_s": _r(g.start_s), "end_s": _r(g.end_s)} for g in s.gaps
                ],
            }
        )
    start = md.get("start") or {}
    return {
        "file": name,
        "format_version": md.get("format_version"),
        # the header's patient, or the one chosen after the recording had started
        "patient": _patient_text(rec),
        "start_utc": start.get("utc") if isinstance(start, dict) else None,
        "duration_s": _r(rec.duration_s),
        "closed_cleanly": rec.closed_cleanly,
        "sensors": sensors,
        "events": len(rec.events),
        "event_kinds": dict(Counter(str(e.get("kind")) for e in rec.events)),
        "damage": [d.to_dict() for d in rec.damage],
        "notes": list(rec.notes),
        "metadata_notes": md.get("notes", ""),
    }


def _patient_text(rec: Recording) -> str | None:
    from poise.assessments import recording_patient

    who = recording_patient(rec)
    return who["pseudonym"] or ("anonymous" if who["anonymous"] else None)


def _text(info: dict) -> str:
    lines = [
        f"{info['file']}: Poise recording (format {info['format_version']}), "
        f"patient {info['patient'] or '-'}, started {info['start_utc'] or 'unknown'}",
        f"  duration {info['duration_s']:.2f} s, "
        + ("closed cleanly" if info["closed_cleanly"] else "NOT closed cleanly"),
    ]
    for s in info["sensors"]:
        gaps = s["gaps"]
        dev = s["device"]
        what = dev["model"] or dev["kind"]
        if dev["firmware"]:
            what += f", firmware {dev['firmware']}"
        lines.append(
            f"  sensor {s['id']} ({s['placement'] or 'placement unknown'}; {what}): "
            f"{s['rate_hz']:g} Hz, "
            f"acc +-{s['acc_range_g']} g, gyro +-{s['gyro_range_dps']} deg/s, "
            f"{s['samples']} samples, {s['missing_samples']} missing in {len(gaps)} gap(s)"
            + (f", {s['duplicates']} duplicates dropped" if s["duplicates"] else "")
            + (f", {s['clock_resets']} clock reset(s)" if s["clock_resets"] else "")
        )
        for g in gaps[:20]:
            lines.append(
                f"    gap {_t(g['start_s'])}-{_t(g['end_s'])} s: {g['samples']} samples "
                f"({g['reason']})"
            )
        if len(gaps) > 20:
            lines.append(f"    ... {len(gaps) - 20} more gaps (see --json)")
    kinds = ", ".join(f"{k} {v}" for k, v in sorted(info["event_kinds"].items()))
    lines.append(f"  events: {info['events']}" + (f" ({kinds})" if kinds else ""))
    if info["damage"]:
        lines.append(f"  damage: {len(info['damage'])} region(s)")
        for d in info["damage"][:20]:
            lines.append(f"    byte {d['offset']}: {d['reason']}")
    else:
        lines.append("  damage: none")
    for n in info["notes"]:
        lines.append(f"  note: {n}")
    if info["metadata_notes"]:
        lines.append(f"  notes: {info['metadata_notes']}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Print the summary (text or JSON)."""
    rec = open_recording(args.file)
    info = summary(rec, args.file)
    if args.json:
        print(json.dumps(info, indent=1))
    else:
        print(_text(info))
    return 0

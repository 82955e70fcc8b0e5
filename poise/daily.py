"""Daily life from a home recording: per-day and per-week walking outcomes and wear time.

:func:`daily_life` runs :class:`analysis.daily.DailyLifeAnalyzer` on the lower-back sensor
of a recording. A ``.poise`` file is opened with :func:`sensors.longread.open_recording`
and read an hour at a time, so a week (60 million samples per sensor at 100 Hz) is
analysed in bounded memory; a CSV (or an already loaded recording) is analysed from
memory. Days are calendar days in the time zone the recording was made in (its header's
``start`` keeps UTC, the zone's name and offset: :func:`recording_zone`), so a researcher
elsewhere splits the patient's days at the patient's midnight; recordings from before the
header kept the zone use the local time of the computer running the analysis, and say
so (``time_zone``). A recording without a start time (an imported CSV) has 24-h days from
its first sample ("day 1", "day 2", ...).

Used by ``poise analyze --daily``, ``poise batch`` (long recordings) and the patient
store (a home recording's ``daily-life`` result, shown in the progress and the PDF).
"""

from __future__ import annotations

import datetime as _dt
import math
from pathlib import Path
from typing import Any

import numpy as np

from poise.errors import PoiseError
from poise.service import display_time, recording_zone

__all__ = [
    "DAILY_SOURCES",
    "DAILY_TEST",
    "daily_life",
    "daily_rows",
    "daily_text",
    "is_long_recording",
    "local_days",
    "recording_zone",
]

#: The name of the result in a session's results (store, progress, reports).
DAILY_TEST = "daily-life"
#: Where the definitions come from (printed with the outcomes).
DAILY_SOURCES = (
    "Mobilise-D digital mobility outcomes (mobgap MobilisedAggregator; Mikolaizak et al. "
    "2022, PLoS ONE 17:e0269615); walking bouts per Kluge et al. 2021, PLoS ONE 16:e0256541",
    "Non-wear: van Hees et al. 2013, PLoS ONE 8:e61691, as GGIR implements it (60-min "
    "windows per 15-min epoch, SD < 13 mg and range < 50 mg on >= 2 axes)",
)
#: A recording at least this long (s) is a home recording whose daily life is analysed
#: (the store and ``poise batch`` take the chunked path for it).
LONG_RECORDING_S = 6 * 3600.0
#: Recording files at least this large are read in pieces by the store and batch, whatever
#: they hold (six hours of one sensor at 100 Hz is about 30 MB).
LONG_FILE_BYTES = 24 << 20


def is_long_recording(path: str | Path) -> bool:
    """Whether a file is large enough to be read in pieces (a home recording of hours)."""
    try:
        return Path(path).stat().st_size >= LONG_FILE_BYTES
    except OSError:
        return False


def local_days(
    start_epoch_s: float, first_s: float, last_s: float, zone: _dt.tzinfo | None = None
) -> list[tuple[str, float, float]]:
    """Calendar days covering recording times ``first_s..last_s`` of a recording started at
    ``start_epoch_s`` (Unix time): ``(ISO date, start, end)`` in recording seconds.

    Days are those of ``zone`` (the recording's time zone, :func:`recording_zone`), or of
    this computer's local time when it is ``None``; DST-aware with a named zone (a day may
    last 23 or 25 h).
    """
    out = []
    t = _dt.datetime.fromtimestamp(start_epoch_s + first_s, zone).astimezone(zone)
    day = t.date()

    def midnight(d: _dt.date) -> float:
        m = _dt.datetime(d.year, d.month, d.day, tzinfo=zone)
        return (m if zone is not None else m.astimezone()).timestamp() - start_epoch_s

    while True:
        nxt = day + _dt.timedelta(days=1)
        d0, d1 = midnight(day), midnight(nxt)
        out.append((day.isoformat(), d0, d1))
        if d1 > last_s:
            return out
        day = nxt


def _start_epoch(metadata: Any) -> float | None:
    start = metadata.get("start") if isinstance(metadata, dict) else None
    if not isinstance(start, dict) or not start.get("utc"):
        return None  # imported CSVs: the start is unknown
    v = start.get("epoch_s")
    return float(v) if isinstance(v, int | float) and math.isfinite(v) else None


def _open(source: Any, **load_kw: Any) -> Any:
    if not isinstance(source, str | Path):
        return source
    from poise.inputs import load_input
    from sensors.recording import MAGIC

    p = Path(source)
    try:
        with open(p, "rb") as fh:
            head = fh.read(len(MAGIC))
    except OSError as exc:
        raise PoiseError(f"{p}: {exc.strerror or exc}") from None
    if head == MAGIC:
        from sensors.longread import open_recording
        from sensors.recording import RecordingError

        try:
            return open_recording(p)
        except RecordingError as exc:
            raise PoiseError(str(exc)) from None
    return load_input(p, **load_kw)


def daily_life(
    source: Any,
    demographics: dict[str, Any] | None = None,
    *,
    progress: Any = None,
    chunk_s: float = 3600.0,
    margin_s: float = 60.0,
    **load_kw: Any,
) -> dict[str, Any]:
    """Per-day and per-week daily-life outcomes of a recording (JSON-ready).

    Parameters
    ----------
    source
        A path (``.poise``, read in pieces; or a CSV as ``poise analyze`` reads it, with
        ``load_kw`` such as ``rate_hz``), or a loaded recording.
    demographics
        ``sensor_height_m`` / ``height_m`` for step lengths (else the recording's).
    progress
        Called with (rows done, rows) while the analysis runs.
    chunk_s, margin_s
        Analysis windows (:class:`analysis.daily.DailyLifeAnalyzer`).

    Returns
    -------
    dict
        ``days`` (per calendar day: ``date``, ``wear_h``, ``recorded_h``, ``walking_min``,
        ``steps``, ``n_bouts``, ``bouts_<class>``, ``classes`` with medians and 90th
        percentiles, ``valid``), ``week`` (the same over the whole recording, plus means
        per valid day), ``bouts``, ``non_wear_epochs``, ``sensor``, ``sampling_rate_hz``,
        ``sources``, ``validity``.
    """
    from analysis.daily import DailyLifeAnalyzer
    from poise.assessments import _demographics, pick_sensor

    rec = _open(source, **load_kw)
    sensor = pick_sensor(rec)
    demo = _demographics(rec, demographics)
    n = len(sensor.t_s)
    fs = float(sensor.config.sampling_rate_hz)
    if n < 2:
        raise PoiseError(f"sensor {sensor.id} has no samples to analyse")
    if hasattr(sensor, "rows"):

        def read(i0: int, i1: int) -> tuple[np.ndarray, np.ndarray | None]:
            _t, acc, gyr = sensor.rows(i0, i1)
            return acc, gyr

    else:

        def read(i0: int, i1: int) -> tuple[np.ndarray, np.ndarray | None]:
            gyr = sensor.gyr_radps
            return sensor.acc_mps2[i0:i1], None if gyr is None else gyr[i0:i1]

    t0, t_last = float(sensor.t_s[0]), float(sensor.t_s[n - 1])
    metadata = getattr(rec, "metadata", None)
    epoch = _start_epoch(metadata)
    zone, zone_label = recording_zone(metadata)
    days = local_days(epoch, t0, t_last, zone) if epoch is not None else None
    an = DailyLifeAnalyzer(
        chunk_s=chunk_s,
        margin_s=margin_s,
        sensor_height_m=demo.get("sensor_height_m"),
        height_m=demo.get("height_m"),
    ).analyze(
        read,
        n,
        fs,
        t0_s=t0,
        row_period_s=(t_last - t0) / (n - 1),
        days=days,
        progress=progress,
    )
    out = an.result_.to_dict()
    week = out["week"]
    valid = week["valid_days"] > 0 or week["wear_h"] > 0
    reason = (
        f"{week['days']} day(s), {week['valid_days']} with at least {an.min_wear_h:g} h of wear"
        if valid
        else "the sensor was not worn (no wear time found)"
    )
    out.update(
        sensor=str(sensor.id),
        placement=sensor.placement,
        sampling_rate_hz=fs,
        start_epoch_s=epoch,
        time_zone=zone_label if days is not None else None,
        duration_h=round((t_last - t0) / 3600.0, 3),
        cut_bouts=an.cut_bouts_,
        still_windows=an.still_windows_,
        sources=list(DAILY_SOURCES),
        validity={
            "valid": bool(valid),
            "code": "ok" if valid else "not_detected",
            "reason": reason,
        },
    )
    return out


def _f(v: Any, fmt: str = "{:.2f}") -> str:
    return "-" if v is None else fmt.format(v)


#: Columns of the per-day table (``poise analyze --daily``, the reports): header, getter.
DAILY_COLUMNS: tuple[tuple[str, Any], ...] = (
    ("Day", lambda d: d.get("date", "week")),
    ("Wear h", lambda d: _f(d.get("wear_h"), "{:.1f}")),
    ("Walking min", lambda d: _f(d.get("walking_min"), "{:.1f}")),
    ("Steps", lambda d: str(d.get("steps", "-"))),
    ("Bouts", lambda d: str(d.get("n_bouts", "-"))),
    (
        "10-30 / 30-60 / >60 s",
        lambda d: (
            f"{d.get('bouts_10-30s', 0)} / {d.get('bouts_30-60s', 0)} / {d.get('bouts_over60s', 0)}"
        ),
    ),
    (
        "Speed m/s (median, p90)",
        lambda d: _pair(d["classes"]["all"], "speed_median_mps", "speed_p90_mps", "{:.2f}"),
    ),
    (
        "Cadence steps/min",
        lambda d: _pair(d["classes"]["all"], "cadence_median_spm", "cadence_p90_spm", "{:.0f}"),
    ),
    (
        "Stride m",
        lambda d: _pair(
            d["classes"]["all"], "stride_length_median_m", "stride_length_p90_m", "{:.2f}"
        ),
    ),
)


def _pair(c: dict[str, Any], a: str, b: str, fmt: str) -> str:
    if c.get(a) is None:
        return "-"
    return f"{fmt.format(c[a])}, {fmt.format(c[b])}"


def daily_rows(d: dict[str, Any]) -> list[list[str]]:
    """The per-day table of :func:`daily_life`'s result (last row: the whole recording)."""
    rows = []
    for day in d.get("days", []):
        row = [get(day) for _, get in DAILY_COLUMNS]
        if not day.get("valid"):
            row[0] += " *"
        rows.append(row)
    week = {**d.get("week", {}), "date": "all days"}
    rows.append([get(week) for _, get in DAILY_COLUMNS])
    return rows


def daily_text(d: dict[str, Any]) -> str:
    """Plain-text report of :func:`daily_life`'s result (``poise analyze --daily``)."""
    head = [h for h, _ in DAILY_COLUMNS]
    rows = daily_rows(d)
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows)]
    lines = [
        f"sensor {d.get('sensor')} ({d.get('placement') or 'unknown placement'}), "
        f"{d.get('sampling_rate_hz', 0):g} Hz, {d.get('duration_h', 0):.1f} h recorded"
        + (f"; days in {d['time_zone']}" if d.get("time_zone") else ""),
        "  ".join(h.ljust(w) for h, w in zip(head, widths)).rstrip(),
    ]
    lines += ["  ".join(str(x).ljust(w) for x, w in zip(r, widths)).rstrip() for r in rows]
    week = d.get("week", {})
    lines.append(
        f"per valid day (>= {d.get('min_wear_h', 12):g} h worn, {week.get('valid_days', 0)} of "
        f"{week.get('days', 0)}): walking {_f(week.get('walking_min_per_valid_day'), '{:.1f}')} "
        f"min, {_f(week.get('steps_per_valid_day'), '{:.0f}')} steps, "
        f"{_f(week.get('n_bouts_per_valid_day'), '{:.1f}')} bouts; * = not a valid day"
    )
    for name, label in (("10-30s", "10-30 s"), ("30-60s", "30-60 s"), ("over60s", "> 60 s")):
        c = week.get("classes", {}).get(name, {})
        lines.append(
            f"bouts {label}: {c.get('n', 0)}; speed "
            f"{_pair(c, 'speed_median_mps', 'speed_p90_mps', '{:.2f}')} m/s, cadence "
            f"{_pair(c, 'cadence_median_spm', 'cadence_p90_spm', '{:.0f}')} steps/min, stride "
            f"{_pair(c, 'stride_length_median_m', 'stride_length_p90_m', '{:.2f}')} m "
            "(median, 90th percentile)"
        )
    if d.get("cut_bouts"):
        lines.append(f"{d['cut_bouts']} bout(s) longer than the longest analysis window")
    lines += [f"source: {s}" for s in d.get("sources", [])]
    return "\n".join(lines)


# --------------------------------------------------------------------------- store, progress


def stored_result(d: dict[str, Any]) -> dict[str, Any]:
    """The part of :func:`daily_life`'s result kept with a session: the days and the week
    (the bouts and wear epochs are recomputed from the recording when needed; a week holds
    hundreds of bouts and 700 epochs, which the results table and CSV need not repeat)."""
    return {k: v for k, v in d.items() if k not in ("bouts", "non_wear_epochs")}


def analyse_long_recording(
    recording: Any, demographics: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Tests, results, fall-risk summary and markers of a home recording read in pieces
    (:func:`sensors.longread.open_recording`), shaped as
    :class:`poise.service.SessionAnalysis`'s fields: the result is the daily life
    (:data:`DAILY_TEST`); the instrumented tests and the fall-risk summary need the whole
    recording in memory and are not computed (the summary says so)."""
    d = daily_life(recording, demographics)
    events = list(getattr(recording, "events", None) or [])
    markers = [
        {k: e.get(k) for k in ("t_s", "marker", "text", "stage")}
        for e in events
        if e.get("kind") == "marker"
    ]
    return {
        "tests": [DAILY_TEST],
        "results": {DAILY_TEST: stored_result(d)},
        "fall_risk": {
            "level": "not_determined",
            "factors": [],
            "note": "a recording of days at home: daily-life outcomes only (no clinical test)",
        },
        "markers": markers,
    }


def daily_history(sessions: list[Any]) -> list[dict[str, Any]]:
    """The daily-life results of a patient's sessions, oldest first:
    ``{"session_id", "date", "result"}`` per session that has one."""
    out = []
    for s in sessions:
        r = (getattr(s, "results", None) or {}).get(DAILY_TEST)
        if isinstance(r, dict) and r.get("week"):
            out.append({"session_id": s.id, "date": s.date, "result": r})
    return out


#: Columns of the progress table (one row per home recording, its week).
HISTORY_COLUMNS = ("Recorded", *[h for h, _ in DAILY_COLUMNS[1:]])


def history_rows(history: list[dict[str, Any]]) -> list[list[str]]:
    """One row per home recording: the whole recording's outcomes (progress table)."""
    rows = []
    for h in history:
        w = h["result"]["week"]
        cells = [get(w) for _, get in DAILY_COLUMNS[1:]]
        # the days in the date's cell (a space to wrap at: a narrow column never clips it)
        days = f"{w.get('days', 0)} d, {w.get('valid_days', 0)} valid"
        rows.append([f"{display_time(h['date'])[:10]} {days}", *cells])
    return rows


def daily_blocks(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The "Daily life" section of the progress report (report blocks; empty without a
    home recording): one row per home recording, the latest one per day, its sources."""
    if not history:
        return []
    last = history[-1]["result"]
    head = [h for h, _ in DAILY_COLUMNS]
    blocks: list[dict[str, Any]] = [
        {"type": "heading", "text": "Daily life"},
        {
            "type": "paragraph",
            "text": "Walking at home with the lower-back sensor (Mobilise-D digital mobility "
            "outcomes). Speed, cadence and stride length: median and 90th percentile of "
            "the walking bouts.",
        },
        {
            "type": "table",
            "columns": list(HISTORY_COLUMNS),
            "rows": history_rows(history),
            "statuses": [None] * len(history),
        },
        {
            "type": "heading",
            "text": f"Latest home recording ({display_time(history[-1]['date'])[:10]})",
            "level": 2,
        },
        {
            "type": "table",
            "columns": head,
            "rows": daily_rows(last),
            "statuses": [None] * (len(last.get("days", [])) + 1),
        },
        {
            "type": "paragraph",
            "text": f"* = fewer than {last.get('min_wear_h', 12):g} h of wear (not a valid "
            "day). Sources: " + " | ".join(last.get("sources", DAILY_SOURCES)),
            "small": True,
        },
    ]
    return blocks

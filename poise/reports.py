"""Report content as plain data (no Qt): a session report and a progress report.

A report is a dict ``{"kind", "title", "subtitle", "generated_utc", "patient", "blocks"}``;
``blocks`` is a list of dicts, each with a ``type``:

* ``{"type": "heading", "text"}``
* ``{"type": "keyvalues", "rows": [[label, text], ...]}``
* ``{"type": "table", "columns": [...], "rows": [[text, ...], ...], "statuses": [...]}``
  (``statuses`` colours a row: ``normal``/``elevated``/``at_risk``/``None``)
* ``{"type": "paragraph", "text", "small": bool}``
* ``{"type": "plot", "series": MetricSeries.to_dict()}`` (values, zones, references)

:func:`gui.report_pdf` lays it out on A4 or Letter pages; tests compare the PDF with the
same data. Every number is formatted here once (:func:`fmt`), so the GUI, the PDF and the
CSV show the same text.
"""

from __future__ import annotations

import datetime as _dt
import math
from typing import Any

from analysis.clinical import registry
from poise.progress import METRIC_BY_KEY, Progress, patient_progress, session_metrics
from poise.service import display_time

__all__ = [
    "HEADLINES",
    "STATUS_TEXT",
    "fmt",
    "headline",
    "measure_label",
    "progress_report",
    "recording_report",
    "result_rows",
    "session_report",
    "thresholds_text",
]

STATUS_TEXT = {
    "normal": "normal",
    "elevated": "elevated",
    "at_risk": "at risk",
    "not_rated": "not rated",
    "invalid": "invalid",
    None: "",
}
LEVEL_TEXT = {
    "low": "low",
    "moderate": "moderate",
    "high": "high",
    "not_determined": "not determined",
}
# unit suffixes of result keys -> (unit shown, decimals)
_SUFFIX_UNITS = (
    ("_m2ps4", "m²/s⁴", 4),
    ("_mps2", "m/s²", 3),
    ("_mps", "m/s", 2),
    ("_radps", "rad/s", 2),
    ("_degps", "°/s", 0),
    ("_dps", "°/s", 0),
    ("_deg", "°", 1),
    ("_spm", "steps/min", 0),
    ("_hz", "Hz", 2),
    ("_ms", "ms", 0),
    ("_pct", "%", 1),
    ("_m", "m", 2),
    ("_s", "s", 1),
)
PROGRESS_DISCLAIMER = (
    "This report supports, and does not replace, a clinician's judgement. Each session's "
    "values are compared with the published thresholds listed above for the patient's age "
    "and sex; a change between sessions can also come from the day's condition or from "
    "measurement error of a wearable sensor. It is not a diagnosis and does not cover fall "
    "history, medication, vision, home hazards or other risk factors that a full assessment "
    "(e.g. CDC STEADI) includes."
)
_SKIP_KEYS = {"time_origin_s", "start_s", "end_s", "compute_s"}
_UNIT_SHOWN = {"m^2/s^4": "m²/s⁴", "m/s^2": "m/s²", "1": "", "stage": ""}


def fmt(value: Any, unit: str = "", decimals: int = 2) -> str:
    """A number with ``decimals`` and its unit (``–`` for missing/not finite)."""
    if value is None or isinstance(value, bool):
        return "–" if value is None else ("yes" if value else "no")
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return "–"
    u = _UNIT_SHOWN.get(unit, unit)
    return f"{v:.{decimals}f}" + (f" {u}" if u else "")


def _label(key: str) -> str:
    for suffix, _u, _d in _SUFFIX_UNITS:
        if key.endswith(suffix):
            key = key[: -len(suffix)]
            break
    return key.replace("_", " ").strip().capitalize()


def _key_unit(key: str) -> tuple[str, int]:
    for suffix, unit, dec in _SUFFIX_UNITS:
        if key.endswith(suffix):
            return unit, dec
    return "", 2 if not key.startswith("n_") else 0


#: Result keys whose label needs another key of the result: a norm with its age group.
LABEL_CONTEXT = {"norm_mean_s": "norm_age_group"}


def measure_label(key: str, result: dict[str, Any] | None = None) -> str:
    """The label of a result key (``"Norm mean (70-79 y)"`` with the norm's age group)."""
    label = _label(key)
    ctx = (result or {}).get(LABEL_CONTEXT.get(key, ""))
    return f"{label} ({ctx})" if ctx else label


#: The main value of each test: (result key, unit, decimals), from the registry entries.
HEADLINES: dict[str, tuple[str, str, int]] = {
    t.key: (t.headline.key, t.headline.unit, t.headline.decimals)
    for t in registry.tests()
    if t.headline is not None
}


def headline(test: str, result: dict[str, Any] | None) -> str:
    """The test's main value as text (``"13.0 s"``, ``"10 stands"``), ``""`` without one.

    The 4-stage test reads ``"tandem held 6.8 s (stage reached: tandem)"``; a TUG over
    several stand-up ... sit-down cycles says which one was timed.
    """
    res = result or {}
    if not (res.get("validity") or {}).get("valid", True):
        return "not valid"
    entry = registry.result_source(test)
    head = getattr(entry, "headline", None)
    if head is None:
        return ""
    value = res.get(head.key)
    text = "" if value is None else fmt(value, head.unit, head.decimals)
    return text if head.text is None else head.text(text, res)


def result_rows(result: dict[str, Any], limit: int = 14) -> list[list[str]]:
    """Headline ``[label, value]`` rows of one test result (top-level numbers)."""
    rows = []
    for k, v in (result or {}).items():
        if k in _SKIP_KEYS or isinstance(v, bool) or not isinstance(v, int | float):
            continue
        if isinstance(v, float) and not math.isfinite(v):
            continue
        unit, dec = _key_unit(k)
        if isinstance(v, int) and not unit:
            dec = 0
        rows.append([measure_label(k, result), fmt(v, unit, dec)])
        if len(rows) >= limit:
            break
    return rows


def thresholds_text(thresholds: list[dict[str, Any]], unit: str) -> str:
    """``"< 1.00 m/s elevated; < 0.80 m/s at risk"``."""
    parts = []
    for t in thresholds or []:
        try:
            v = float(t["value"])
        except (KeyError, TypeError, ValueError):
            continue
        dec = 0 if abs(v) >= 100 else (1 if abs(v) >= 10 else 2)
        parts.append(
            f"{t.get('comparison', '')} {fmt(v, unit, dec)} {STATUS_TEXT.get(t.get('status'), '')}"
        )
    return "; ".join(parts)


def _short_source(src: str, n: int = 70) -> str:
    src = " ".join(str(src or "").split())
    return src if len(src) <= n else src[: n - 1].rsplit(" ", 1)[0] + "…"


def _patient_rows(patient: Any, date: str | None) -> list[list[str]]:
    if patient is None:
        return [["Patient", "not recorded"]]
    d = patient if isinstance(patient, dict) else patient.to_dict()
    age = None
    if d.get("birth_year") and date:
        age = int(str(date)[:4]) - int(d["birth_year"])
    sex = {"f": "female", "m": "male"}.get(d.get("sex") or "", "–")
    return [
        ["Patient (pseudonym)", str(d.get("pseudonym") or "–")],
        ["Birth year", str(d.get("birth_year") or "–") + (f" (age {age})" if age else "")],
        ["Sex", sex],
        ["Height", fmt(d.get("height_m"), "m", 2)],
        ["Weight", fmt(d.get("weight_kg"), "kg", 0)],
    ]


def _fall_risk_blocks(fr: dict[str, Any] | None) -> list[dict[str, Any]]:
    if not fr or not fr.get("factors"):
        why = (fr or {}).get("error") or "no fall-risk factor was measured in this session"
        return [
            {"type": "heading", "text": "Fall-risk factors"},
            {"type": "paragraph", "text": why},
        ]
    rows, statuses = [], []
    for f in fr["factors"]:
        m = METRIC_BY_KEY.get(f.get("key"))
        dec = m.decimals if m else 2
        rows.append(
            [
                f.get("label") or f.get("key"),
                fmt(f.get("value"), f.get("unit") or "", dec),
                STATUS_TEXT.get(f.get("status", ""), f.get("status") or ""),
                thresholds_text(f.get("thresholds") or [], f.get("unit") or "") or "–",
                _short_source(f.get("source") or ""),
            ]
        )
        statuses.append(f.get("status"))
    level = LEVEL_TEXT.get(fr.get("level", ""), fr.get("level") or "")
    blocks: list[dict[str, Any]] = [
        {"type": "heading", "text": "Fall-risk factors"},
        {
            "type": "paragraph",
            "text": f"Overall: {level} ({fr.get('level_reason', '')}).",
        },
        {
            "type": "table",
            "columns": ["Factor", "Value", "Status", "Thresholds", "Source"],
            "rows": rows,
            "statuses": statuses,
        },
    ]
    if fr.get("rule"):
        blocks.append({"type": "paragraph", "text": f"Rule: {fr['rule']}", "small": True})
    sources = sorted({f.get("source") for f in fr["factors"] if f.get("source")})
    if sources:
        blocks.append(
            {"type": "paragraph", "text": "Sources: " + " | ".join(sources), "small": True}
        )
    if fr.get("disclaimer"):
        blocks.append({"type": "paragraph", "text": fr["disclaimer"], "small": True})
    return blocks


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def _norm_blocks(results: dict[str, Any], fr: dict[str, Any]) -> list[dict[str, Any]]:
    """Values against norms: the metrics of a session with their status and thresholds."""
    metrics = session_metrics(results, fr)
    if not metrics:
        return []
    factors = {f.get("key"): f for f in fr.get("factors") or []}
    rows, statuses = [], []
    for m in METRIC_BY_KEY.values():
        if m.key not in metrics:
            continue
        f = factors.get(m.key) or {}
        st = metrics[m.key].get("status")
        rows.append(
            [
                m.label,
                fmt(metrics[m.key]["value"], m.unit, m.decimals),
                STATUS_TEXT.get(st, st or "") or "not rated",
                thresholds_text(f.get("thresholds") or [], m.unit) or f.get("note") or "–",
            ]
        )
        statuses.append(st)
    return [
        {"type": "heading", "text": "Results against norms"},
        {
            "type": "table",
            "columns": ["Measure", "Value", "Status", "Norm / threshold"],
            "rows": rows,
            "statuses": statuses,
        },
    ]


def session_report(
    session: Any, patient: Any = None, *, recording_name: str | None = None
) -> dict[str, Any]:
    """Report of one session (a :class:`poise.store.SessionRecord` or an equivalent dict)."""
    s = session if isinstance(session, dict) else session.to_dict()
    results = s.get("results") or {}
    fr = s.get("fall_risk") or {}
    blocks: list[dict[str, Any]] = [
        {"type": "heading", "text": "Patient"},
        {"type": "keyvalues", "rows": _patient_rows(patient, s.get("date"))},
        {"type": "heading", "text": "Session"},
        {
            "type": "keyvalues",
            "rows": [
                ["Date", display_time(s.get("date")) or "–"],
                ["Kind", str(s.get("kind") or "clinic")],
                ["Tests", ", ".join(s.get("tests") or []) or "–"],
                [
                    "Recording",
                    recording_name
                    or (
                        str(s["recording_path"]).rsplit("/", 1)[-1]
                        if s.get("recording_path")
                        else "–"
                    ),
                ],
            ],
        },
    ]
    blocks += _norm_blocks(results, fr)
    for test in s.get("tests") or sorted(results):
        res = results.get(test) or {}
        validity = res.get("validity") or {}
        blocks.append({"type": "heading", "text": f"Test: {test}", "level": 2})
        if not validity.get("valid", True):
            blocks.append({"type": "paragraph", "text": f"Not valid: {validity.get('reason', '')}"})
        rows = result_rows(res)
        if rows:
            blocks.append({"type": "keyvalues", "rows": rows})
    blocks += _fall_risk_blocks(fr)
    markers = s.get("markers") or []
    if markers:
        blocks += [
            {"type": "heading", "text": "Markers"},
            {
                "type": "table",
                "columns": ["Time", "Marker", "Text"],
                "rows": [
                    [
                        fmt(m.get("t_s"), "s", 1),
                        str(m.get("marker") or ""),
                        str(m.get("text") or ""),
                    ]
                    for m in markers
                ],
                "statuses": [None] * len(markers),
            },
        ]
    pseud = (
        (
            patient.get("pseudonym")
            if isinstance(patient, dict)
            else getattr(patient, "pseudonym", None)
        )
        if patient
        else None
    )
    return {
        "kind": "session",
        "title": "Poise session report",
        "subtitle": f"{pseud or 'unknown patient'} · {display_time(s.get('date'))}",
        "generated_utc": _now(),
        "patient": patient if isinstance(patient, dict) or patient is None else patient.to_dict(),
        "session": {k: s.get(k) for k in ("id", "date", "kind", "tests")},
        "blocks": blocks,
    }


def progress_report(store: Any, patient: Any, progress: Progress | None = None) -> dict[str, Any]:
    """Report of a patient's progress over all sessions (tables and plots)."""
    prog = progress or patient_progress(store, patient)
    p = prog.patient
    last_date = prog.sessions[-1]["date"] if prog.sessions else None
    blocks: list[dict[str, Any]] = [
        {"type": "heading", "text": "Patient"},
        {"type": "keyvalues", "rows": _patient_rows(p, last_date)},
    ]
    if not prog.sessions:
        blocks.append({"type": "paragraph", "text": "No sessions yet."})
    else:
        first, last = (display_time(prog.sessions[i]["date"]) for i in (0, -1))
        blocks += [
            {
                "type": "paragraph",
                "text": f"{len(prog.sessions)} session(s) from {first} to {last}.",
            },
            {"type": "heading", "text": "Change since the first session"},
            {
                "type": "table",
                "columns": ["Measure", "First", "Latest", "Change", "Norm / threshold"],
                "rows": [
                    [
                        s.metric.label,
                        s.format(s.first),
                        s.format(s.last),
                        s.change_text(),
                        band_text(s),
                    ]
                    for s in prog.series
                ],
                "statuses": [
                    next((st for st in reversed(s.statuses) if st), None) for s in prog.series
                ],
            },
            {"type": "heading", "text": "Progress plots"},
        ]
        for s in prog.series:
            blocks.append({"type": "plot", "series": s.to_dict()})
        keys: list[str] = []
        for h in prog.sessions:
            for k in h["factors"]:
                if k not in keys:
                    keys.append(k)
        labels = {
            k: next(h["factors"][k]["label"] for h in prog.sessions if k in h["factors"])
            for k in keys
        }
        blocks += [
            {"type": "heading", "text": "Fall-risk factors over time"},
            {
                "type": "table",
                "columns": ["Date", "Level", *[labels[k] for k in keys]],
                "rows": [
                    [
                        display_time(h["date"]),
                        LEVEL_TEXT.get(h["level"], h["level"]),
                        *[
                            (
                                STATUS_TEXT.get(h["factors"][k]["status"], "")
                                if k in h["factors"]
                                else "–"
                            )
                            for k in keys
                        ],
                    ]
                    for h in prog.sessions
                ],
                "statuses": [
                    {"high": "at_risk", "moderate": "elevated", "low": "normal"}.get(h["level"])
                    for h in prog.sessions
                ],
            },
        ]
        from poise.daily import daily_blocks

        blocks += daily_blocks(prog.daily)
        sources = sorted({s.source for s in prog.series if s.source})
        if sources:
            blocks.append(
                {"type": "paragraph", "text": "Sources: " + " | ".join(sources), "small": True}
            )
        blocks.append({"type": "paragraph", "text": PROGRESS_DISCLAIMER, "small": True})
    return {
        "kind": "progress",
        "title": "Poise progress report",
        "subtitle": f"{p.pseudonym} · {len(prog.sessions)} session(s)",
        "generated_utc": _now(),
        "patient": p.to_dict(),
        "blocks": blocks,
    }


def band_text(s: Any) -> str:
    """The normative zones and reference lines of a series as one line of text."""
    parts = []
    for z in s.zones:
        if z["status"] == "normal":
            continue
        lo, hi = z["low"], z["high"]
        if lo is None:
            parts.append(f"< {s.format(hi)} {STATUS_TEXT[z['status']]}")
        elif hi is None:
            parts.append(f"≥ {s.format(lo)} {STATUS_TEXT[z['status']]}")
        else:
            parts.append(f"{s.format(lo)}–{s.format(hi)} {STATUS_TEXT[z['status']]}")
    for r in s.references:
        parts.append(f"{r['label']}: {s.format(r['value'])}")
    return "; ".join(parts) or s.band_note or "–"


def recording_report(path: str, demographics: dict[str, Any] | None = None) -> dict[str, Any]:
    """Session report of a recording file that is not in the store (analysed now by
    :func:`poise.service.recording_session`; the store is not involved)."""
    from pathlib import Path

    from poise.service import recording_session

    session, patient = recording_session(path, demographics)
    return session_report(session, patient, recording_name=Path(path).name)


CSV_COLUMNS = (
    "patient",
    "session_id",
    "date",
    "kind",
    "test",
    "measure",
    "value",
    "unit",
    "status",
)


def _flatten(prefix: str, obj: Any, out: list[tuple[str, Any]]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            _flatten(f"{prefix}[{i}]", v, out)
    elif isinstance(obj, int | float | str) and not isinstance(obj, bool) and obj != "":
        out.append((prefix, obj))


def results_rows(store: Any, patient: Any) -> list[dict[str, Any]]:
    """Every stored result of a patient as long-format rows (see :data:`CSV_COLUMNS`).

    One row per number of every test result (nested keys joined with dots) and per
    fall-risk factor (test ``fall-risk``, with its status). Text fields are left out.
    """
    p = store.patient(patient)
    rows: list[dict[str, Any]] = []
    for s in store.sessions(p):
        base = {"patient": p.pseudonym, "session_id": s.id, "date": s.date, "kind": s.kind}
        for test in sorted(s.results):
            flat: list[tuple[str, Any]] = []
            _flatten("", s.results[test], flat)
            for key, v in flat:
                if isinstance(v, str):
                    continue
                leaf = key.rsplit(".", 1)[-1].split("[")[0]
                unit, _ = _key_unit(leaf)
                rows.append(
                    {**base, "test": test, "measure": key, "value": v, "unit": unit, "status": ""}
                )
        for f in (s.fall_risk or {}).get("factors") or []:
            rows.append(
                {
                    **base,
                    "test": "fall-risk",
                    "measure": f.get("key"),
                    "value": "" if f.get("value") is None else f.get("value"),
                    "unit": f.get("unit") or "",
                    "status": f.get("status") or "",
                }
            )
        if s.fall_risk and s.fall_risk.get("level"):
            rows.append(
                {
                    **base,
                    "test": "fall-risk",
                    "measure": "level",
                    "value": s.fall_risk["level"],
                    "unit": "",
                    "status": "",
                }
            )
    return rows


def write_results_csv(
    store: Any, patient: Any, path: str, *, inputs: tuple = (), force: bool = True
) -> int:
    """Write :func:`results_rows` to ``path``; returns the row count.

    Written by :func:`poise.outputs.write_atomically` (a new file is user-only, a replaced
    one keeps its mode; never over one of ``inputs``; an existing file only with
    ``force``, the default for the GUI, whose file dialog has asked).
    """
    import csv

    from poise.outputs import write_atomically

    rows = results_rows(store, patient)
    with write_atomically(
        path, "w", inputs=inputs, force=force, newline="", encoding="utf-8"
    ) as fh:
        w = csv.DictWriter(fh, fieldnames=list(CSV_COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in r.items()})
    return len(rows)

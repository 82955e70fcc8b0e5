"""Progress over sessions: each key metric as a series with its normative band and change.

For a patient, :func:`patient_progress` collects, session by session, the metrics of
:data:`METRICS` (TUG time, gait speed, chair stands, 5x sit-to-stand, 4-stage result, sway
area, 6-minute distance, fatigability, stride-time variability), the normative band for the
patient's age and sex, the change since the first session, and the fall-risk factors of
every session. It is plain data: the GUI plots it, the reports print it.

Bands come from the same place as the fall-risk summary: the thresholds that
:class:`analysis.fallrisk.FallRiskAssessor` applies for these demographics (from
``analysis/data/norms.json``), turned into zones (``normal``/``elevated``/``at_risk``) on
the metric's axis; TUG adds the Bohannon (2006) age mean and the 6-minute walk the
Enright-Sherrill (1998) predicted distance as reference lines. Metrics without a published
threshold (sway, fatigability) have no band and say so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analysis.fallrisk import FallRiskAssessor, measures_from_results, predicted_six_minute_walk_m
from poise.assessments import load_norms

__all__ = ["METRICS", "MetricDef", "MetricSeries", "Progress", "metric_bands", "patient_progress"]

_ORDER = {"normal": 0, "not_rated": 0, "elevated": 1, "at_risk": 2}


@dataclass(frozen=True)
class MetricDef:
    """A progress metric: key (the fall-risk measure key where one exists), label, unit."""

    key: str
    label: str
    unit: str
    better: str  # "higher" or "lower"
    test: str  # the test it comes from
    decimals: int = 2


METRICS: tuple[MetricDef, ...] = (
    MetricDef("tug_time_s", "Timed Up and Go", "s", "lower", "tug", 1),
    MetricDef("gait_speed_mps", "Gait speed", "m/s", "higher", "gait", 2),
    MetricDef(
        "chair_stand_30s_count", "30-s chair stands", "stands", "higher", "chair-stand-30s", 0
    ),
    MetricDef("five_times_sts_time_s", "5x sit-to-stand", "s", "lower", "five-times-sts", 1),
    MetricDef("tandem_time_s", "4-stage: tandem held", "s", "higher", "four-stage", 1),
    MetricDef("four_stage_reached", "4-stage: stage reached", "stage", "higher", "four-stage", 0),
    MetricDef("sway_ellipse_area_m2ps4", "Sway 95 % ellipse area", "m^2/s^4", "lower", "sway", 4),
    MetricDef(
        "six_minute_walk_distance_m", "6-minute walk distance", "m", "higher", "walk-6min", 0
    ),
    MetricDef(
        "deceleration_index", "6-min walk: deceleration index", "1", "higher", "walk-6min", 2
    ),
    MetricDef("stride_time_sd_ms", "Stride-time SD", "ms", "lower", "gait", 0),
)
METRIC_BY_KEY = {m.key: m for m in METRICS}


@dataclass
class MetricSeries:
    """One metric over a patient's sessions (``None`` where a session did not measure it)."""

    metric: MetricDef
    session_ids: list[int]
    dates: list[str]
    values: list[float | None]
    statuses: list[str | None]
    zones: list[dict[str, Any]] = field(default_factory=list)
    references: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    band_note: str = ""

    @property
    def measured(self) -> list[tuple[str, float]]:
        """(date, value) of the sessions that measured it."""
        return [(d, v) for d, v in zip(self.dates, self.values) if v is not None]

    @property
    def first(self) -> float | None:
        """First measured value."""
        m = self.measured
        return m[0][1] if m else None

    @property
    def last(self) -> float | None:
        """Latest measured value."""
        m = self.measured
        return m[-1][1] if m else None

    @property
    def change(self) -> float | None:
        """Latest minus first measured value (``None`` with fewer than two)."""
        m = self.measured
        return m[-1][1] - m[0][1] if len(m) >= 2 else None

    @property
    def change_pct(self) -> float | None:
        """Change in percent of the first value."""
        c, f = self.change, self.first
        if c is None or not f:
            return None
        return 100.0 * c / abs(f)

    @property
    def improved(self) -> bool | None:
        """Whether the change goes the good way (``None`` if no change is known or zero)."""
        c = self.change
        if c is None or c == 0:
            return None
        return (c > 0) == (self.metric.better == "higher")

    def format(self, value: float | None) -> str:
        """A value with the metric's decimals and unit."""
        if value is None:
            return "–"
        shown = {"1": "", "stage": "", "m^2/s^4": "m²/s⁴"}.get(self.metric.unit, self.metric.unit)
        unit = f" {shown}" if shown else ""
        return f"{value:.{self.metric.decimals}f}{unit}"

    def change_text(self) -> str:
        """``+0.14 m/s (+16 %), better`` or ``–``."""
        c = self.change
        if c is None:
            return "–"
        pct = self.change_pct
        word = {True: "better", False: "worse", None: "no change"}[self.improved]
        p = f" ({pct:+.0f} %)" if pct is not None else ""
        return f"{self.format(c) if c < 0 else '+' + self.format(c)}{p}, {word}"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.metric.key,
            "label": self.metric.label,
            "unit": self.metric.unit,
            "better": self.metric.better,
            "decimals": self.metric.decimals,
            "session_ids": self.session_ids,
            "dates": self.dates,
            "values": self.values,
            "statuses": self.statuses,
            "zones": self.zones,
            "references": self.references,
            "source": self.source,
            "band_note": self.band_note,
            "first": self.first,
            "last": self.last,
            "change": self.change,
            "change_pct": self.change_pct,
            "improved": self.improved,
        }


@dataclass
class Progress:
    """A patient's progress: metric series and the fall-risk factors of every session."""

    patient: Any
    series: list[MetricSeries]
    sessions: list[dict[str, Any]]  # id, date, kind, level, factors {key: {value, status}}
    #: Daily-life results of home recordings (:func:`poise.daily.daily_history`).
    daily: list[dict[str, Any]] = field(default_factory=list)

    def get(self, key: str) -> MetricSeries | None:
        """The series of a metric, if measured."""
        return next((s for s in self.series if s.metric.key == key), None)


def _finite(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


def session_metrics(results: dict[str, Any], fall_risk: dict[str, Any] | None) -> dict[str, Any]:
    """Metric key -> ``{"value", "status"}`` of one session (valid values only)."""
    out: dict[str, Any] = {}
    for f in (fall_risk or {}).get("factors") or []:
        v = _finite(f.get("value"))
        if f.get("key") in METRIC_BY_KEY and v is not None and f.get("status") != "invalid":
            out[f["key"]] = {"value": v, "status": f.get("status")}
    for key, m in measures_from_results(results or {}).items():
        v = _finite(m.get("value"))
        if key in METRIC_BY_KEY and key not in out and v is not None:
            if (m.get("validity") or {}).get("valid", True):
                out[key] = {"value": v, "status": None}
    fs = (results or {}).get("four-stage") or {}
    if (fs.get("validity") or {}).get("valid", True):
        v = _finite(fs.get("stage_reached_number"))
        if v is not None:
            out["four_stage_reached"] = {"value": v, "status": None}
    w6 = (results or {}).get("walk-6min") or {}
    if (w6.get("validity") or {}).get("valid", True):
        v = _finite(w6.get("deceleration_index"))
        if v is None:
            v = _finite((w6.get("fatigability") or {}).get("deceleration_index"))
        if v is not None:
            out["deceleration_index"] = {"value": v, "status": None}
    return out


def _status_at(x: float, thresholds: list[dict[str, Any]]) -> str:
    st = "normal"
    for t in thresholds:
        v, cmp_ = float(t["value"]), t.get("comparison")
        hit = (
            (cmp_ == "<" and x < v)
            or (cmp_ == "<=" and x <= v)
            or (cmp_ == ">=" and x >= v)
            or (cmp_ == ">" and x > v)
        )
        if hit and _ORDER.get(t.get("status"), 0) > _ORDER.get(st, 0):
            st = t["status"]
    return st


def metric_bands(
    key: str, demographics: dict[str, Any], norms: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Normative zones and reference lines of ``key`` for these demographics.

    Returns ``{"zones": [{"low", "high", "status"}], "references": [{"value", "label"}],
    "source": str, "note": str}``; ``low``/``high`` may be ``None`` (unbounded).
    """
    norms = norms if norms is not None else load_norms()
    out: dict[str, Any] = {"zones": [], "references": [], "source": "", "note": ""}
    demo = {k: v for k, v in (demographics or {}).items() if v is not None}
    try:
        factors = FallRiskAssessor(norms).assess({key: 1.0}, demo).summary_.factors
    except (ValueError, KeyError, TypeError):
        factors = []
    f = factors[0] if factors and factors[0].key == key else None
    if f is not None:
        out["source"] = f.source
        out["note"] = "" if key == "six_minute_walk_distance_m" else f.note
        thr = [t for t in f.thresholds if _finite(t.get("value")) is not None]
        cuts = sorted({float(t["value"]) for t in thr})
        if cuts:
            edges: list[float | None] = [None, *cuts, None]
            for lo, hi in zip(edges[:-1], edges[1:]):
                if lo is None:
                    probe = hi - 1e-6 * max(1.0, abs(hi))
                elif hi is None:
                    probe = lo + 1e-6 * max(1.0, abs(lo))
                else:
                    probe = 0.5 * (lo + hi)
                out["zones"].append({"low": lo, "high": hi, "status": _status_at(probe, thr)})
    if key == "tug_time_s":
        nb = norms.get("tug", {}).get("norms_by_age", {})
        age = demo.get("age")
        for b in nb.get("bands", []):
            if age is not None and b["age_min_y"] <= age < b["age_max_y"] + 1:
                out["references"].append(
                    {
                        "value": float(b["mean_s"]),
                        "label": f"mean {b['age_min_y']}-{b['age_max_y']} y (Bohannon 2006)",
                    }
                )
    if key == "six_minute_walk_distance_m":
        n = norms.get("six_minute_walk")
        sex = str(demo.get("sex") or "").lower()[:1]
        if n and sex in ("f", "m") and all(demo.get(k) for k in ("age", "height_m", "weight_kg")):
            pred = predicted_six_minute_walk_m(
                n, sex, float(demo["age"]), 100 * float(demo["height_m"]), float(demo["weight_kg"])
            )
            out["references"].append(
                {"value": pred, "label": "predicted (Enright & Sherrill 1998)"}
            )
    if not out["zones"] and not out["note"]:
        out["note"] = "no normative threshold; shown for progress only"
    return out


def patient_progress(store: Any, patient: Any, norms: dict[str, Any] | None = None) -> Progress:
    """Every metric of :data:`METRICS` measured in the patient's sessions, oldest first.

    Bands use the patient's age at the latest session, sex, height and weight.
    """
    p = store.patient(patient)
    sessions = store.sessions(p)
    norms = norms if norms is not None else load_norms()
    per = [session_metrics(s.results, s.fall_risk) for s in sessions]
    demo = p.demographics(sessions[-1].date if sessions else None)
    series = []
    for m in METRICS:
        vals = [d.get(m.key, {}).get("value") for d in per]
        if all(v is None for v in vals):
            continue
        band = metric_bands(m.key, demo, norms)
        series.append(
            MetricSeries(
                metric=m,
                session_ids=[s.id for s in sessions],
                dates=[s.date for s in sessions],
                values=vals,
                statuses=[d.get(m.key, {}).get("status") for d in per],
                zones=band["zones"],
                references=band["references"],
                source=band["source"],
                band_note=band["note"],
            )
        )
    history = []
    for s in sessions:
        fr = s.fall_risk or {}
        history.append(
            {
                "id": s.id,
                "date": s.date,
                "kind": s.kind,
                "tests": s.tests,
                "level": fr.get("level", "not_determined"),
                "factors": {
                    f["key"]: {
                        "label": f.get("label"),
                        "value": f.get("value"),
                        "unit": f.get("unit"),
                        "status": f.get("status"),
                    }
                    for f in fr.get("factors") or []
                },
            }
        )
    from poise.daily import daily_history

    return Progress(patient=p, series=series, sessions=history, daily=daily_history(sessions))

"""Progress over sessions: each key metric as a series with its normative band and change.

For a patient, :func:`patient_progress` collects, session by session, the metrics of
:data:`METRICS` (the measures of the clinical-test registry followed over sessions, e.g. TUG
time, gait speed, chair stands, 6-minute distance), the normative band for the
patient's age and sex, the change since the first session, and the fall-risk factors of
every session. It is plain data: the GUI plots it, the reports print it.

Bands come from the same place as the fall-risk summary: the thresholds that
:class:`analysis.fallrisk.FallRiskAssessor` applies for these demographics (from
the registry entries' normative tables), turned into zones (``normal``/``elevated``/``at_risk``)
on the metric's axis; a measure's ``references`` add lines (the TUG's Bohannon 2006 age mean,
the 6-minute walk's Enright-Sherrill 1998 predicted distance). Metrics without a published
threshold (sway, fatigability) have no band and say so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.clinical.registry import Measure, finite, progress_measures
from analysis.fallrisk import FallRiskAssessor, measures_from_results
from poise.assessments import load_norms

__all__ = ["METRICS", "MetricDef", "MetricSeries", "Progress", "metric_bands", "patient_progress"]

_ORDER = {"normal": 0, "not_rated": 0, "elevated": 1, "at_risk": 2}


#: A progress metric is a registry measure (key, label, unit, better, test, decimals).
MetricDef = Measure
METRICS: tuple[Measure, ...] = tuple(progress_measures())
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


def session_metrics(results: dict[str, Any], fall_risk: dict[str, Any] | None) -> dict[str, Any]:
    """Metric key -> ``{"value", "status"}`` of one session (valid values only)."""
    out: dict[str, Any] = {}
    for f in (fall_risk or {}).get("factors") or []:
        v = finite(f.get("value"))
        if f.get("key") in METRIC_BY_KEY and v is not None and f.get("status") != "invalid":
            out[f["key"]] = {"value": v, "status": f.get("status")}
    for key, m in measures_from_results(results or {}).items():
        v = finite(m.get("value"))
        if key in METRIC_BY_KEY and key not in out and v is not None:
            if (m.get("validity") or {}).get("valid", True):
                out[key] = {"value": v, "status": None}
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
        if hit and _ORDER.get(t.get("status", ""), 0) > _ORDER.get(st, 0):
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
    metric = METRIC_BY_KEY.get(key)
    if f is not None:
        out["source"] = f.source
        out["note"] = f.note if metric is None or metric.band_note else ""
        thr = [t for t in f.thresholds if finite(t.get("value")) is not None]
        cuts = sorted({float(t["value"]) for t in thr})
        if cuts:
            edges: list[float | None] = [None, *cuts, None]
            for lo, hi in zip(edges[:-1], edges[1:]):
                if lo is not None and hi is not None:
                    probe = 0.5 * (lo + hi)
                elif hi is not None:  # below the lowest cut
                    probe = hi - 1e-6 * max(1.0, abs(hi))
                elif lo is not None:  # above the highest cut
                    probe = lo + 1e-6 * max(1.0, abs(lo))
                else:  # edges always hold a cut between the two open ends
                    continue
                out["zones"].append({"low": lo, "high": hi, "status": _status_at(probe, thr)})
    if metric is not None and metric.references is not None:
        out["references"] = metric.references(demo, norms)
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

"""Endurance across a session: active time, repetitions, and how speed, cadence and sway change
from the start to the end; plus fatigability helpers for the timed walks.

Session measures (:class:`EnduranceAnalyzer`)
---------------------------------------------
* **Active time**: samples that are not at rest (:func:`analysis.clinical.base.rest_mask`:
  trunk still = SD of the acceleration norm < 0.35 m/s^2 and mean gyro norm < 0.35 rad/s
  over 0.5 s), ``active_time_s`` and ``active_fraction``; ``n_active_bouts`` counts active
  periods of at least ``min_active_s``.
* **Activity intensity**: RMS of the dynamic acceleration norm (``|a| - mean|a|``) per
  window (m/s^2).
* **Start vs end**: the first and the last ``compare_fraction`` (default one third) of the
  session. For each part: mean stride speed (m/s) and cadence (steps/min = 120 / stride
  duration) of the valid strides that start in it (strides from
  :class:`analysis.gait.GaitAnalyzer`), stride-time CV (%), repetitions per minute (times
  given by the caller, e.g. sit-to-stand transitions), activity intensity, and the sway RMS
  of the longest quiet period >= ``min_quiet_s`` (via :class:`analysis.sway.SwayAnalyzer`).
  ``*_change_pct = 100 * (end - start) / start``.
* Per-window table (``window_s``, default 60 s): active fraction, intensity, strides,
  speed, cadence, repetitions.

Fatigability helpers (used by the 2/6-minute walk tests)
--------------------------------------------------------
:func:`per_minute_gait` turns strides into per-minute speed/cadence/stride-time CV;
:func:`fatigability_index` gives ``(last minute - minute 2) / minute 2`` and
:func:`deceleration_index` ``slowest / fastest minute speed`` (design guide).

References
----------
Schnelle J. F. et al. (2012). Evaluation of two fatigability severity measures in elderly
adults. J Am Geriatr Soc 60(8):1527-1533 (performance fatigability as change in walking
speed over a 6-minute walk).
Enright P. L., Sherrill D. L. (1998). Reference equations for the six-minute walk in
healthy adults. Am J Respir Crit Care Med 158(5):1384-1387.

Notes: differences to the original
----------------------------------
* Fatigability studies compare fixed minutes of a standardised walk; across a free therapy
  session Poise compares the first and last third of the session, which depends on what
  the patient did in each part: read the change together with the per-window table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import base
from analysis.clinical.base import ClinicalResult, Validity
from analysis.sway import SwayAnalyzer

__all__ = [
    "EnduranceAnalyzer",
    "EnduranceResult",
    "change_pct",
    "fatigability_index",
    "deceleration_index",
    "per_minute_gait",
]


def change_pct(start: float | None, end: float | None) -> float | None:
    """``100 * (end - start) / start``; None when either is missing or start is 0."""
    if start is None or end is None:
        return None
    s, e = float(start), float(end)
    if not (np.isfinite(s) and np.isfinite(e)) or s == 0:
        return None
    return 100.0 * (e - s) / s


def fatigability_index(
    values_by_minute: list[float | None], reference_minute: int = 2
) -> float | None:
    """``(last - minute 2) / minute 2`` (a fraction; -0.1 = 10 % lower at the end).

    ``values_by_minute[0]`` is minute 1. None when the reference or last minute is missing.
    """
    vals = list(values_by_minute)
    if len(vals) < max(reference_minute, 2):
        return None
    ref, last = vals[reference_minute - 1], vals[-1]
    if ref is None or last is None or not np.isfinite(ref) or not np.isfinite(last) or ref == 0:
        return None
    return float((last - ref) / ref)


def deceleration_index(speeds_by_minute: list[float | None]) -> float | None:
    """Slowest / fastest minute speed (1 = even pace); None with fewer than 2 minutes."""
    v = np.array([x for x in speeds_by_minute if x is not None and np.isfinite(x)], dtype=float)
    if v.size < 2 or v.max() <= 0:
        return None
    return float(v.min() / v.max())


def _float_or_nan(value: Any) -> float:
    return float(value) if value is not None else float("nan")


def _between(
    tab: np.ndarray, dyn: np.ndarray, a: float, b: float, fs: float
) -> tuple[dict[str, float | None], float | None, slice]:
    """Between ``a`` and ``b`` seconds: the gait statistics of the strides starting there,
    the RMS of the dynamic acceleration (``None`` without samples) and the samples' slice."""
    rows = slice(int(a * fs), int(b * fs))
    sel = (tab[:, 0] >= a) & (tab[:, 0] < b) if len(tab) else np.zeros(0, bool)
    have = rows.stop > rows.start
    intensity = float(np.sqrt(np.mean(dyn[rows] ** 2))) if have else None
    return _gait_stats(tab[sel]), intensity, rows


def _strides_table(gait: Any) -> np.ndarray:
    """(k, 4) array of start_s, duration_s, speed_mps, valid from a GaitResult or its dict."""
    if gait is None:
        return np.empty((0, 4))
    strides = gait.get("strides", []) if isinstance(gait, dict) else getattr(gait, "strides", [])
    rows = []
    for s in strides:
        d = s if isinstance(s, dict) else s.to_dict()
        rows.append(
            [
                float(d.get("start_s", np.nan)),
                _float_or_nan(d.get("duration_s")),
                _float_or_nan(d.get("speed_mps")),
                1.0 if d.get("valid", True) else 0.0,
            ]
        )
    return np.array(rows, dtype=float).reshape(-1, 4)


def _gait_stats(tab: np.ndarray) -> dict[str, float | None]:
    ok = tab[:, 3] > 0 if len(tab) else np.zeros(0, bool)
    dur = tab[ok, 1]
    dur = dur[np.isfinite(dur) & (dur > 0)]
    spd = tab[ok, 2]
    spd = spd[np.isfinite(spd)]
    return {
        "n_strides": int(dur.size),
        "speed_mps": float(spd.mean()) if spd.size else None,
        "cadence_spm": float(np.mean(120.0 / dur)) if dur.size else None,
        "stride_time_cv_pct": float(100 * dur.std(ddof=1) / dur.mean()) if dur.size > 2 else None,
        "stride_time_sd_ms": float(1000 * dur.std(ddof=1)) if dur.size > 2 else None,
    }


def per_minute_gait(gait: Any, t0_s: float, n_minutes: int) -> list[dict[str, Any]]:
    """Per-minute gait from strides: minute i holds the valid strides starting in it.

    Returns a list of ``n_minutes`` dicts with ``minute`` (1-based), ``n_strides``,
    ``speed_mps``, ``cadence_spm``, ``stride_time_cv_pct``, ``stride_time_sd_ms``.
    """
    tab = _strides_table(gait)
    out = []
    for m in range(n_minutes):
        a, b = t0_s + 60.0 * m, t0_s + 60.0 * (m + 1)
        sel = (tab[:, 0] >= a) & (tab[:, 0] < b) if len(tab) else np.zeros(0, bool)
        out.append({"minute": m + 1, **_gait_stats(tab[sel])})
    return out


@dataclass(kw_only=True)
class EnduranceResult(ClinicalResult):
    """Session endurance measures (start = first part, end = last part of the session)."""

    test: str = "endurance"
    duration_s: float | None = None
    active_time_s: float | None = None
    active_fraction: float | None = None
    n_active_bouts: int | None = None
    walking_time_s: float | None = None
    repetitions: int | None = None
    repetition_rate_start_per_min: float | None = None
    repetition_rate_end_per_min: float | None = None
    repetition_rate_change_pct: float | None = None
    speed_start_mps: float | None = None
    speed_end_mps: float | None = None
    speed_change_pct: float | None = None
    cadence_start_spm: float | None = None
    cadence_end_spm: float | None = None
    cadence_change_pct: float | None = None
    stride_time_cv_start_pct: float | None = None
    stride_time_cv_end_pct: float | None = None
    intensity_start_mps2: float | None = None
    intensity_end_mps2: float | None = None
    intensity_change_pct: float | None = None
    sway_rms_start_mps2: float | None = None
    sway_rms_end_mps2: float | None = None
    sway_change_pct: float | None = None
    compare_fraction: float | None = None
    windows: list[dict[str, Any]] = field(default_factory=list)


@dataclass(eq=False)
class EnduranceAnalyzer:
    """Endurance across a session.

    Parameters
    ----------
    window_s : float
        Width of the per-window table.
    compare_fraction : float
        Share of the session at the start and at the end that is compared.
    min_active_s : float
        Shortest active period counted in ``n_active_bouts``.
    min_quiet_s : float
        Shortest quiet period used for the start/end sway.
    min_duration_s : float
        Shorter sessions are ``too_short``.

    Attributes
    ----------
    result_ : EnduranceResult
    """

    window_s: float = 60.0
    compare_fraction: float = 1.0 / 3.0
    min_active_s: float = 2.0
    min_quiet_s: float = 10.0
    min_duration_s: float = 60.0

    def calculate(
        self,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None,
        sampling_rate_hz: float,
        *,
        gait: Any = None,
        repetitions_s: list[float] | None = None,
    ) -> EnduranceAnalyzer:
        """Analyse a session; stride and repetition times are seconds from sample 0."""
        acc, gyr, fs = base.check_imu(acc_mps2, gyr_radps, sampling_rate_hz)
        n = len(acc)
        dur = n / fs
        if n < 2 * fs:
            self.result_ = EnduranceResult.invalid_result(
                base.TOO_SHORT, f"{dur:.1f} s is too short for an endurance summary", duration_s=dur
            )
            return self
        acc, missing = base.fill_gaps(acc)
        if gyr is not None:
            gyr = base.fill_gaps(gyr)[0]
        still = base.rest_mask(acc, gyr, fs)
        active = ~still
        bouts = base.segments_from_mask(
            active, fs, min_duration_s=self.min_active_s, merge_gap_s=1.0
        )
        quiet = base.segments_from_mask(still, fs, min_duration_s=self.min_quiet_s)
        norm = np.linalg.norm(acc, axis=1)
        dyn = norm - norm.mean()
        tab = _strides_table(gait)
        reps = np.asarray(sorted(repetitions_s or []), dtype=float)

        frac = min(max(self.compare_fraction, 0.05), 0.5)
        parts = {"start": (0.0, frac * dur), "end": ((1 - frac) * dur, dur)}
        count_reps = bool(len(reps)) or repetitions_s is not None
        st = {
            name: self._part(acc, gyr, fs, a, b, tab, quiet, dyn, reps if count_reps else None)
            for name, (a, b) in parts.items()
        }
        windows = self._windows(dur, fs, tab, active, dyn, reps)
        walking_s = float(tab[tab[:, 3] > 0, 1].sum()) / 2.0 if len(tab) else 0.0
        validity = self._validity(missing, dur)
        s, e = st["start"], st["end"]
        self.result_ = EnduranceResult(
            validity=validity,
            duration_s=dur,
            active_time_s=float(active.sum() / fs),
            active_fraction=float(active.mean()),
            n_active_bouts=len(bouts),
            walking_time_s=walking_s,
            repetitions=int(len(reps)) if repetitions_s is not None else None,
            repetition_rate_start_per_min=s["reps_per_min"],
            repetition_rate_end_per_min=e["reps_per_min"],
            repetition_rate_change_pct=change_pct(s["reps_per_min"], e["reps_per_min"]),
            speed_start_mps=s["speed_mps"],
            speed_end_mps=e["speed_mps"],
            speed_change_pct=change_pct(s["speed_mps"], e["speed_mps"]),
            cadence_start_spm=s["cadence_spm"],
            cadence_end_spm=e["cadence_spm"],
            cadence_change_pct=change_pct(s["cadence_spm"], e["cadence_spm"]),
            stride_time_cv_start_pct=s["stride_time_cv_pct"],
            stride_time_cv_end_pct=e["stride_time_cv_pct"],
            intensity_start_mps2=s["intensity"],
            intensity_end_mps2=e["intensity"],
            intensity_change_pct=change_pct(s["intensity"], e["intensity"]),
            sway_rms_start_mps2=s["sway_rms_mps2"],
            sway_rms_end_mps2=e["sway_rms_mps2"],
            sway_change_pct=change_pct(s["sway_rms_mps2"], e["sway_rms_mps2"]),
            compare_fraction=frac,
            windows=windows,
        )
        return self

    def _part(
        self,
        acc: np.ndarray,
        gyr: np.ndarray | None,
        fs: float,
        a: float,
        b: float,
        tab: np.ndarray,
        quiet: list,
        dyn: np.ndarray,
        reps: np.ndarray | None,
    ) -> dict[str, Any]:
        """Gait, repetition rate (``None`` without repetitions), intensity and sway (of the
        longest quiet stretch) between ``a`` and ``b`` seconds."""
        gait, intensity, _ = _between(tab, dyn, a, b, fs)
        inside = [q for q in quiet if q.start_s >= a - 1e-9 and q.end_s <= b + 1e-9]
        sway = None
        if inside:
            q = max(inside, key=lambda s: s.duration_s)
            sl = q.slice(fs)
            r = (
                SwayAnalyzer(min_duration_s=self.min_quiet_s)
                .calculate(acc[sl], None if gyr is None else gyr[sl], fs)
                .result_
            )
            sway = r.rms_mps2 if r.valid else None
        return {
            **gait,
            "reps_per_min": float(((reps >= a) & (reps < b)).sum() / ((b - a) / 60.0))
            if reps is not None
            else None,
            "intensity": intensity,
            "sway_rms_mps2": sway,
        }

    def _windows(
        self,
        dur: float,
        fs: float,
        tab: np.ndarray,
        active: np.ndarray,
        dyn: np.ndarray,
        reps: np.ndarray,
    ) -> list[dict[str, Any]]:
        """Activity, intensity, gait and repetitions per ``window_s`` window."""
        windows = []
        for w in range(int(np.ceil(dur / self.window_s))):
            a, b = w * self.window_s, min(dur, (w + 1) * self.window_s)
            g, intensity, rows = _between(tab, dyn, a, b, fs)
            windows.append(
                {
                    "start_s": a,
                    "end_s": b,
                    "active_fraction": float(active[rows].mean())
                    if intensity is not None
                    else None,
                    "intensity_mps2": intensity,
                    "n_strides": g["n_strides"],
                    "speed_mps": g["speed_mps"],
                    "cadence_spm": g["cadence_spm"],
                    "repetitions": int(((reps >= a) & (reps < b)).sum()),
                }
            )
        return windows

    def _validity(self, missing: float, dur: float) -> Validity:
        """Invalid above 20 % missing samples or below ``min_duration_s``."""
        if missing > 0.2:
            return Validity.invalid(
                base.MISSING_DATA, f"{100 * missing:.0f} % of the samples are missing"
            )
        if dur < self.min_duration_s:
            return Validity.invalid(
                base.TOO_SHORT,
                f"{dur:.0f} s recorded; a start-to-end comparison needs >= {self.min_duration_s:g} s",
            )
        return Validity.ok(f"{100 * missing:.1f} % missing samples interpolated" if missing else "")

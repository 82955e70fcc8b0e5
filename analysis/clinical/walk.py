"""Two- and six-minute walk tests with fatigability, from one lower-back IMU.

The patient walks as far as possible in 2 or 6 minutes along a corridor (ATS 2002: 30 m,
turning around cones). Poise estimates from the gait analysis
(:class:`analysis.gait.pipeline.GaitAnalyzer`):

* **Distance** = steps x step length, minute by minute: the steps are the initial contacts
  in the minute, plus the steps the detector misses in short gaps (a gap between contacts
  of up to ``max_fill_gap_s`` counts ``round(gap / median step time) - 1`` steps, typically
  in the turns at the cones); the step length is the median of the valid strides' lengths
  / 2 in that minute (Zijlstra & Hof inverted pendulum).
* Per minute: distance, speed (distance / 60 s), cadence (steps per minute), stride
  regularity (Moe-Nilssen & Helbostad 2004, vertical acceleration autocorrelation at the
  stride lag) and stride-time CV.
* **Fatigability**: (last minute - minute 2) / minute 2 for speed, cadence, stride
  regularity and stride-time CV (minute 1 holds the acceleration to steady speed), and the
  **deceleration index** = slowest / fastest minute speed.
* **Predicted distance** (6-minute walk only; Enright & Sherrill 1998) given age, sex,
  height and weight, and the percent of predicted.

The test starts at the first initial contact; the window is ``minutes`` long.

References
----------
ATS Committee on Proficiency Standards (2002). ATS statement: guidelines for the six-minute
walk test. Am J Respir Crit Care Med 166(1):111-117.

Enright P. L., Sherrill D. L. (1998). Reference equations for the six-minute walk in
healthy adults. Am J Respir Crit Care Med 158(5):1384-1387.

Zijlstra W., Hof A. L. (2003). Assessment of spatio-temporal gait parameters from trunk
accelerations during human walking. Gait Posture 18(2):1-10.

Moe-Nilssen R., Helbostad J. L. (2004). Estimation of gait cycle characteristics by trunk
accelerometry. J Biomech 37(1):121-126.

Schnelle J. F., Buchowski M. S., Ikizler T. A., et al. (2012). Evaluation of two fatigability
severity measures in elderly adults. J Am Geriatr Soc 60(8):1527-1533 (fatigability as the
decline of performance during a walk).

Notes: differences to the original
----------------------------------
* The clinical test measures distance with a trundle wheel or by counting laps; here it is
  estimated from the trunk accelerations, so it inherits the step-length error of the
  inverted-pendulum model (a few percent on level ground).
* "Minute 2 vs last minute" and the deceleration index follow the Poise design guide; the
  literature uses several variants (first vs last minute, slope of speed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical.base import (
    TOO_SHORT,
    WRONG_ACTIVITY,
    ClinicalResult,
    Validity,
    check_imu,
    fill_gaps,
    to_jsonable,
)
from analysis.gait.parameters import autocorrelation_regularity
from analysis.gait.pipeline import GaitAnalyzer

__all__ = ["MinuteStats", "TimedWalk", "TimedWalkResult", "enright_sherrill_6mwd_m"]


def enright_sherrill_6mwd_m(sex: str, age_y: float, height_cm: float, weight_kg: float) -> float:
    """Predicted six-minute walk distance (m), Enright & Sherrill (1998).

    Men: 7.57 height_cm - 5.02 age - 1.76 weight_kg - 309; women: 2.11 height_cm - 2.29
    weight_kg - 5.78 age + 667.
    """
    if sex == "m":
        return 7.57 * height_cm - 5.02 * age_y - 1.76 * weight_kg - 309.0
    if sex == "f":
        return 2.11 * height_cm - 2.29 * weight_kg - 5.78 * age_y + 667.0
    raise ValueError(f"sex must be 'm' or 'f', got {sex!r}")


@dataclass
class MinuteStats:
    """Gait of one minute of the walk."""

    minute: int
    n_steps: int
    distance_m: float
    speed_mps: float
    cadence_spm: float
    step_length_m: float
    stride_regularity: float | None
    stride_time_cv: float | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (NaN -> None)."""
        return {k: to_jsonable(v) for k, v in self.__dict__.items()}


@dataclass(kw_only=True)
class TimedWalkResult(ClinicalResult):
    """Result of a timed walk test."""

    test: str = "walk-6min"
    minutes: float | None = None
    distance_m: float | None = None
    speed_mps: float | None = None
    cadence_spm: float | None = None
    n_steps: int | None = None
    start_s: float | None = None
    end_s: float | None = None
    per_minute: list[MinuteStats] = field(default_factory=list)
    fatigability_speed: float | None = None
    fatigability_cadence: float | None = None
    fatigability_stride_regularity: float | None = None
    fatigability_stride_time_cv: float | None = None
    deceleration_index: float | None = None
    predicted_distance_m: float | None = None
    percent_predicted: float | None = None
    source: str = "ATS 2002; Enright & Sherrill 1998 (predicted 6MWD); fatigability per GUIDE"


class TimedWalk:
    """Two- or six-minute walk test.

    Parameters
    ----------
    minutes : float
        Test length (2 or 6).
    max_fill_gap_s : float
        Gaps between detected contacts up to this long are filled with the missing steps.
    min_coverage : float
        Fraction of the test window that must be covered by walking (else invalid).
    gait_analyzer : GaitAnalyzer or None

    Attributes
    ----------
    result_ : TimedWalkResult
    gait_ : GaitResult
    """

    def __init__(
        self,
        minutes: float = 6.0,
        max_fill_gap_s: float = 4.0,
        min_coverage: float = 0.8,
        gait_analyzer: GaitAnalyzer | None = None,
    ) -> None:
        self.minutes = minutes
        self.max_fill_gap_s = max_fill_gap_s
        self.min_coverage = min_coverage
        self.gait_analyzer = gait_analyzer

    def analyze(
        self,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None,
        sampling_rate_hz: float,
        *,
        sensor_height_m: float | None = None,
        height_m: float | None = None,
        age_y: float | None = None,
        sex: str | None = None,
        weight_kg: float | None = None,
    ) -> TimedWalk:
        """Estimate distance, per-minute gait and fatigability; returns ``self``."""
        acc, gyr, fs = check_imu(acc_mps2, gyr_radps, sampling_rate_hz)
        name = f"walk-{self.minutes:g}min"
        window = 60.0 * self.minutes
        acc_f, frac = fill_gaps(acc)
        gyr_f = fill_gaps(gyr)[0] if gyr is not None else None
        ga = (self.gait_analyzer or GaitAnalyzer(sensor_height_m, height_m)).analyze(
            acc_f, gyr_f, fs
        )
        g = ga.result_
        self.gait_ = g
        ic = np.asarray(g.initial_contacts_s, dtype=float)
        if ic.size < 10 or not g.walking_bouts:
            reason = "no walking found"
            if g.unmeasured_walking_s >= 10.0:
                reason = (
                    f"{g.unmeasured_walking_s:.0f} s of walking-like movement, too slow, "
                    "irregular or interrupted to measure steps"
                )
            self.result_ = TimedWalkResult.invalid_result(
                WRONG_ACTIVITY, reason, test=name, minutes=self.minutes
            )
            return self
        t0 = float(ic[0])
        t1 = t0 + window
        ic = ic[ic < t1]
        steps_t = self._fill(ic)
        step_med = float(np.median(np.diff(ic)))
        walked = min(float(ic[-1]) + step_med, t1) - t0
        validity = Validity.ok(f"{100 * frac:.1f} % samples interpolated" if frac > 0 else "")
        unmeasured = g.unmeasured_walking_s
        if walked < self.min_coverage * window:
            more = (
                f" ({unmeasured:.0f} s more look like walking too slow or irregular to measure)"
                if unmeasured >= 5.0
                else ""
            )
            validity = Validity.invalid(
                TOO_SHORT,
                f"walking covers {walked:.0f} s of the {window:.0f}-s test{more}",
            )
        elif unmeasured >= max(10.0, 0.1 * window):
            validity = validity & Validity.ok(
                f"{unmeasured:.0f} s of walking-like movement too slow or irregular to measure"
            )
        strides = [s for s in g.strides if s.valid and np.isfinite(s.length_m)]
        st_t = np.array([s.start_s for s in strides])
        st_len = np.array([s.length_m for s in strides])
        st_dur = np.array([s.duration_s for s in strides])
        v = ga.aligner_.acc_body_mps2_[:, 0]  # at the gait analysis's internal rate
        v = np.nan_to_num(v - np.nanmean(v))
        fs_v = ga.rate_hz_
        per_min: list[MinuteStats] = []
        n_min = int(np.ceil(self.minutes - 1e-9))
        for j in range(n_min):
            a, b = t0 + 60.0 * j, min(t0 + 60.0 * (j + 1), t1)
            if a >= t0 + walked:
                break
            sel = (st_t >= a) & (st_t < b)
            n_steps = int(np.sum((steps_t >= a) & (steps_t < b)))
            step_len = float(np.median(st_len[sel]) / 2) if sel.any() else np.nan
            if not np.isfinite(step_len) and st_len.size:
                step_len = float(np.median(st_len) / 2)
            dist = n_steps * step_len
            ic_m = ic[(ic >= a) & (ic < b)]
            reg = None
            if ic_m.size > 4:
                seg = v[int(a * fs_v) : int(b * fs_v)]
                _a1, a2, _sym = autocorrelation_regularity(
                    seg, fs_v, float(np.median(np.diff(ic_m)))
                )
                reg = a2 if np.isfinite(a2) else None
            durs = st_dur[sel]
            cv = float(100 * durs.std(ddof=1) / durs.mean()) if durs.size > 2 else None
            span = b - a
            per_min.append(
                MinuteStats(
                    minute=j + 1,
                    n_steps=n_steps,
                    distance_m=dist,
                    speed_mps=dist / span if span > 0 else np.nan,
                    cadence_spm=60.0 * n_steps / span if span > 0 else np.nan,
                    step_length_m=step_len,
                    stride_regularity=reg,
                    stride_time_cv=cv,
                )
            )
        distance = float(np.nansum([m.distance_m for m in per_min]))
        n_steps_total = int(sum(m.n_steps for m in per_min))
        res = TimedWalkResult(
            validity=validity,
            test=name,
            minutes=self.minutes,
            distance_m=distance,
            speed_mps=distance / min(walked, window) if walked > 0 else None,
            cadence_spm=60.0 * n_steps_total / min(walked, window) if walked > 0 else None,
            n_steps=n_steps_total,
            start_s=t0,
            end_s=t0 + walked,
            per_minute=per_min,
        )
        full = [m for m in per_min if m.n_steps > 0]
        if len(full) >= 3:
            m2, last = full[1], full[-1]
            res.fatigability_speed = _rel(last.speed_mps, m2.speed_mps)
            res.fatigability_cadence = _rel(last.cadence_spm, m2.cadence_spm)
            res.fatigability_stride_regularity = _rel(last.stride_regularity, m2.stride_regularity)
            res.fatigability_stride_time_cv = _rel(last.stride_time_cv, m2.stride_time_cv)
        speeds = [m.speed_mps for m in full if np.isfinite(m.speed_mps)]
        if len(speeds) >= 2 and max(speeds) > 0:
            res.deceleration_index = min(speeds) / max(speeds)
        if self.minutes == 6 and sex in ("m", "f") and None not in (age_y, height_m, weight_kg):
            pred = enright_sherrill_6mwd_m(
                sex, float(age_y), 100.0 * float(height_m), float(weight_kg)
            )
            res.predicted_distance_m = pred
            res.percent_predicted = 100.0 * distance / pred if pred > 0 else None
        self.result_ = res
        return self

    def _fill(self, ic: np.ndarray) -> np.ndarray:
        """Step times: detected contacts plus the ones missed in short gaps."""
        if ic.size < 3:
            return ic
        d = np.diff(ic)
        med = float(np.median(d))
        extra = []
        for i in np.flatnonzero((d > 1.5 * med) & (d <= self.max_fill_gap_s)):
            k = int(round(d[i] / med)) - 1
            if k > 0:
                extra.append(ic[i] + d[i] * np.arange(1, k + 1) / (k + 1))
        if extra:
            return np.sort(np.concatenate([ic, *extra]))
        return ic


def _rel(last: float | None, ref: float | None) -> float | None:
    """(last - ref) / ref, None when undefined."""
    if last is None or ref is None or not np.isfinite(last) or not np.isfinite(ref) or ref == 0:
        return None
    return float((last - ref) / ref)

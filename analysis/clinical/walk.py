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

from analysis.clinical import registry as reg
from analysis.clinical.base import (
    TOO_SHORT,
    WRONG_ACTIVITY,
    ClinicalResult,
    Record,
    Validity,
    check_imu,
    fill_gaps,
    normalise_sex,
)
from analysis.clinical.registry import TestContext, WalkTest
from analysis.gait.parameters import autocorrelation_regularity
from analysis.gait.pipeline import GaitAnalyzer

__all__ = [
    "DECELERATION_INDEX",
    "GAIT_SPEED",
    "NORMS",
    "SIX_MINUTE_WALK_DISTANCE",
    "STRIDE_TIME_SD",
    "MinuteStats",
    "TimedWalk",
    "TimedWalkResult",
    "enright_sherrill_6mwd_m",
    "predicted_six_minute_walk_m",
]

#: Normative tables of walking: gait speed and stride-time variability (fall-risk
#: thresholds) and the six-minute walk's reference equations (registry sections).
NORMS: dict[str, Any] = {
    "gait_speed": {
        "at_risk_below_mps": 0.8,
        "at_risk_source": "Montero-Odasso M et al. (2022). World guidelines for falls prevention "
        "and management for older adults: a global initiative. Age Ageing 51(9):afac205 (gait "
        "speed < 0.8 m/s: high risk).",
        "elevated_below_mps": 1.0,
        "elevated_source": "Kyrdalen IL et al. (2019). Associations between gait speed and "
        "well-known fall risk factors among community-dwelling older adults. Physiother Res Int "
        "24(1):e1743 (gait speed below 1.0 m/s is a strong predictor of falls); cut-off values: "
        "Middleton A, Fritz SL, Lusardi M (2015). Walking speed: the functional vital sign. J "
        "Aging Phys Act 23(2):314-322.",
    },
    "stride_time_variability": {
        "elevated_sd_ms": 68.0,
        "at_risk_sd_ms": 106.0,
        "source": "Hausdorff JM, Rios DA, Edelberg HK (2001). Gait variability and fall risk in "
        "community-living older adults: a 1-year prospective study. Arch Phys Med Rehabil "
        "82(8):1050-1056: stride-time SD about 106 ms in subjects who fell vs 49 ms in those who "
        "did not.",
        "choice": "Poise choice, not from the paper: 'elevated' from 68 ms (non-faller mean 49 ms "
        "+ 1 SD 19 ms as reported), 'at risk' from 106 ms (the fallers' mean).",
    },
    "six_minute_walk": {
        "source": "Enright PL, Sherrill DL (1998). Reference equations for the six-minute walk in "
        "healthy adults. Am J Respir Crit Care Med 158(5):1384-1387.",
        "male": {
            "height_cm": 7.57,
            "age_y": -5.02,
            "weight_kg": -1.76,
            "intercept_m": -309.0,
            "lower_limit_offset_m": -153.0,
        },
        "female": {
            "height_cm": 2.11,
            "age_y": -5.78,
            "weight_kg": -2.29,
            "intercept_m": 667.0,
            "lower_limit_offset_m": -139.0,
        },
        "note": "Predicted distance = sum of coefficient * value + intercept; lower limit of "
        "normal = predicted + lower_limit_offset_m. A distance below the lower limit is reported "
        "as reduced endurance (elevated), not as a fall-risk factor by itself.",
    },
}


def predicted_six_minute_walk_m(
    table: dict[str, Any], sex: str, age_y: float, height_cm: float, weight_kg: float
) -> float:
    """Enright & Sherrill (1998) predicted 6-minute walk distance (m) from the norms' table."""
    c = table["male" if sex == "m" else "female"]
    return float(
        c["height_cm"] * height_cm
        + c["age_y"] * age_y
        + c["weight_kg"] * weight_kg
        + c["intercept_m"]
    )


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
class MinuteStats(Record):
    """Gait of one minute of the walk."""

    minute: int
    n_steps: int
    distance_m: float
    speed_mps: float
    cadence_spm: float
    step_length_m: float
    stride_regularity: float | None
    stride_time_cv: float | None


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


@dataclass(eq=False)
class TimedWalk(WalkTest):
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

    minutes: float = 6.0
    max_fill_gap_s: float = 4.0
    min_coverage: float = 0.8
    gait_analyzer: GaitAnalyzer | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Estimate distance, per-minute gait and fatigability (sets ``result_``).

        ``context``: the sensor or body height for the step length; age, sex, height and
        weight for the predicted 6-minute distance.
        """
        acc, gyr, fs = check_imu(acc, gyr, fs)
        name = f"walk-{self.minutes:g}min"
        window = 60.0 * self.minutes
        acc_f, frac = fill_gaps(acc)
        gyr_f = fill_gaps(gyr)[0] if gyr is not None else None
        analyzer = self.gait_analyzer or GaitAnalyzer(ctx.sensor_height_m, ctx.height_m)
        ga = analyzer.analyze(acc_f, gyr_f, fs)
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
            return
        t0 = float(ic[0])
        ic = ic[ic < t0 + window]
        step_med = float(np.median(np.diff(ic)))
        walked = min(float(ic[-1]) + step_med, t0 + window) - t0
        validity = self._validity(walked, window, frac, g.unmeasured_walking_s)
        per_min = self._minutes(ga, ic, t0, walked)
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
        _fatigability(res, per_min)
        if self.minutes == 6 and ctx.sex in ("m", "f"):
            age_y, height_m, weight_kg = ctx.age_y, ctx.height_m, ctx.weight_kg
            if age_y is not None and height_m is not None and weight_kg is not None:
                pred = enright_sherrill_6mwd_m(
                    str(ctx.sex), float(age_y), 100.0 * float(height_m), float(weight_kg)
                )
                res.predicted_distance_m = pred
                res.percent_predicted = 100.0 * distance / pred if pred > 0 else None
        self.result_ = res

    def _validity(self, walked: float, window: float, frac: float, unmeasured: float) -> Validity:
        """Valid when walking covers ``min_coverage`` of the window; notes what was not measured."""
        validity = Validity.ok(f"{100 * frac:.1f} % samples interpolated" if frac > 0 else "")
        if walked < self.min_coverage * window:
            more = (
                f" ({unmeasured:.0f} s more look like walking too slow or irregular to measure)"
                if unmeasured >= 5.0
                else ""
            )
            return Validity.invalid(
                TOO_SHORT,
                f"walking covers {walked:.0f} s of the {window:.0f}-s test{more}",
            )
        if unmeasured >= max(10.0, 0.1 * window):
            validity = validity & Validity.ok(
                f"{unmeasured:.0f} s of walking-like movement too slow or irregular to measure"
            )
        return validity

    def _minutes(self, ga: GaitAnalyzer, ic: np.ndarray, t0: float, walked: float) -> list:
        """Gait of each minute of the walk (steps from :meth:`_fill`, step length from the
        minute's valid strides)."""
        g = ga.result_
        t1 = t0 + 60.0 * self.minutes
        steps_t = self._fill(ic)
        strides = [s for s in g.strides if s.valid and np.isfinite(s.length_m)]
        st_t = np.array([s.start_s for s in strides])
        st_len = np.array([s.length_m for s in strides])
        st_dur = np.array([s.duration_s for s in strides])
        v = ga.aligner_.acc_body_mps2_[:, 0]  # at the gait analysis's internal rate
        v = np.nan_to_num(v - np.nanmean(v))
        fs_v = ga.rate_hz_
        per_min: list[MinuteStats] = []
        for j in range(int(np.ceil(self.minutes - 1e-9))):
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
        return per_min

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


def _fatigability(res: TimedWalkResult, per_min: list[MinuteStats]) -> None:
    """Fatigability (last minute vs minute 2) and the deceleration index, into ``res``."""
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


def _rel(last: float | None, ref: float | None) -> float | None:
    """(last - ref) / ref, None when undefined."""
    if last is None or ref is None or not np.isfinite(last) or not np.isfinite(ref) or ref == 0:
        return None
    return float((last - ref) / ref)


# --------------------------------------------------------------------------- registry entries


def _rate_speed(v: float | None, demo: Any, norms: Any) -> reg.Factor:
    """Elevated below 1.0 m/s, at risk below 0.8 m/s."""
    n = norms["gait_speed"]
    return reg.graded_factor(
        ("gait_speed_mps", "Gait speed", "m/s"),
        v,
        "<",
        (float(n["elevated_below_mps"]), n["elevated_source"]),
        (float(n["at_risk_below_mps"]), n["at_risk_source"]),
        f"{n['at_risk_source']} {n['elevated_source']}",
    )


def _rate_stride_sd(v: float | None, demo: Any, norms: Any) -> reg.Factor:
    """Elevated from 68 ms (a Poise choice), at risk from 106 ms (Hausdorff 2001)."""
    n = norms.get("stride_time_variability")
    if not n:
        return reg.Factor("stride_time_sd_ms", "Stride-time variability (SD)", v, "ms", "not_rated")
    return reg.graded_factor(
        ("stride_time_sd_ms", "Stride-time variability (SD)", "ms"),
        v,
        ">=",
        (float(n["elevated_sd_ms"]), n["choice"]),
        (float(n["at_risk_sd_ms"]), n["source"]),
        n["source"],
        note=n.get("choice", ""),
    )


def _six_mw_inputs(demo: Any, norms: Any) -> tuple[Any, str | None, bool]:
    n = norms.get("six_minute_walk")
    sex = normalise_sex(demo.get("sex"))
    known = all(demo.get(k) is not None for k in ("age", "height_m", "weight_kg"))
    return n, sex, bool(n) and sex is not None and known


def _predicted(n: Any, sex: str, demo: Any) -> float:
    h_cm = 100.0 * float(demo["height_m"])
    return predicted_six_minute_walk_m(n, sex, float(demo["age"]), h_cm, float(demo["weight_kg"]))


def _rate_six_mw(v: float | None, demo: Any, norms: Any) -> reg.Factor:
    """Reduced endurance (elevated) below the Enright-Sherrill lower limit of normal."""
    n, sex, ok = _six_mw_inputs(demo, norms)
    label = "6-minute walk distance"
    if not ok or sex is None:
        note = "age, sex, height and weight are needed for the reference equation"
        src = (n or {}).get("source", "")
        return reg.Factor(
            "six_minute_walk_distance_m", label, v, "m", "not_rated", [], src, note=note
        )
    pred = _predicted(n, sex, demo)
    lln = pred + float(n["male" if sex == "m" else "female"]["lower_limit_offset_m"])
    status = "normal" if v is None or v >= lln else "elevated"
    note = f"predicted {pred:.0f} m" + (f", {100 * v / pred:.0f} % of predicted" if v else "")
    thr = [{"value": lln, "comparison": "<", "status": "elevated", "source": n["source"]}]
    note += "; reduced endurance, not a fall-risk factor by itself"
    return reg.Factor(
        "six_minute_walk_distance_m", label, v, "m", status, thr, n["source"], note=note
    )


def _predicted_line(demo: Any, norms: Any) -> list[dict[str, Any]]:
    """The Enright-Sherrill predicted distance, a reference line of the progress plot."""
    n = norms.get("six_minute_walk")
    sex = str(demo.get("sex") or "").lower()[:1]
    if n and sex in ("f", "m") and all(demo.get(k) for k in ("age", "height_m", "weight_kg")):
        return [{"value": _predicted(n, sex, demo), "label": "predicted (Enright & Sherrill 1998)"}]
    return []


def _stride_sd_ms(res: Any) -> Any:
    sd = reg.first_value(res, "stride_time_sd_ms")
    if sd is None and res.get("stride_time_sd_s") is not None:
        sd = 1000.0 * float(res["stride_time_sd_s"])
    return sd


def _deceleration(res: Any) -> Any:
    v = res.get("deceleration_index")
    return (res.get("fatigability") or {}).get("deceleration_index") if v is None else v


#: Gait speed of a walking test or of a recording's steady walking: a fall-risk factor.
GAIT_SPEED = reg.Measure(
    "gait_speed_mps",
    "Gait speed",
    "m/s",
    decimals=2,
    result_keys=("gait_speed_mps", "mean_speed_mps", "speed_mps", "walking_speed_mps"),
    rate=_rate_speed,
    factor_rank=50,
    progress_rank=20,
    test="gait",
    ucum="m/s",
)
#: Stride-time SD (ms): a fall-risk factor (Hausdorff 2001).
STRIDE_TIME_SD = reg.Measure(
    "stride_time_sd_ms",
    "Stride-time SD",
    "ms",
    better="lower",
    decimals=0,
    extract=_stride_sd_ms,
    rate=_rate_stride_sd,
    factor_rank=60,
    progress_rank=100,
    test="gait",
    ucum="ms",
)
#: Six-minute walk distance: reduced endurance below the lower limit of normal.
SIX_MINUTE_WALK_DISTANCE = reg.Measure(
    "six_minute_walk_distance_m",
    "6-minute walk distance",
    "m",
    decimals=0,
    result_keys=("distance_m", "total_distance_m"),
    rate=_rate_six_mw,
    factor_rank=70,
    progress_rank=80,
    loinc=("64098-7", "Six minute walk test"),
    ucum="m",
    references=_predicted_line,
    band_note=False,
)
#: Slowest / fastest minute speed of the six-minute walk.
DECELERATION_INDEX = reg.Measure(
    "deceleration_index",
    "6-min walk: deceleration index",
    "1",
    decimals=2,
    extract=_deceleration,
    progress_rank=90,
    ucum="1",
)


def _walk_test(
    minutes: int, rank: int, therapist: str, source: str, measures: tuple[reg.Measure, ...]
) -> reg.ClinicalTest:
    """The registry entry of the ``minutes``-minute walk."""
    return reg.ClinicalTest(
        key=f"walk-{minutes}min",
        title=f"{minutes}-minute walk",
        rank=rank,
        make=lambda norms: TimedWalk(minutes=float(minutes)),
        protocol=reg.TestProtocol(
            patient_instructions=(
                f"Walk back and forth along the corridor as far as you can in {minutes} minutes. "
                "You may slow down or stop to rest."
            ),
            therapist_instructions=therapist,
            stages=(reg.Stage("walk", "Walking", "Walk as far as you can.", 60 * minutes),),
            source=source,
        ),
        measures=measures,
        headline=reg.Headline("distance_m", "m", 0),
        walking=True,
    )


reg.register(
    reg.ResultSource("gait", measures=(GAIT_SPEED, STRIDE_TIME_SD), aliases=("walk",), norms=NORMS)
)
#: The timed walks: (minutes, rank, therapist's instructions, procedure's source, measures).
_WALKS = (
    (
        2,
        60,
        "Straight corridor, turn around cones. The test stops after 2 minutes.",
        "ATS 2002 (procedure, shortened)",
        (GAIT_SPEED, STRIDE_TIME_SD),
    ),
    (
        6,
        70,
        "30-m corridor, turn around cones; standard encouragement each minute. The test "
        "stops after 6 minutes. Fatigability compares the last minute with minute 2.",
        "ATS 2002; Enright & Sherrill 1998 (norms)",
        (GAIT_SPEED, STRIDE_TIME_SD, SIX_MINUTE_WALK_DISTANCE, DECELERATION_INDEX),
    ),
)
for _spec in _WALKS:
    reg.register(_walk_test(*_spec))

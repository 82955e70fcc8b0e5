"""10-metre walk test: comfortable and fast gait speed, from one lower-back IMU.

The patient walks a straight 14-m path twice, once at a comfortable pace and once as fast
as safely possible; the middle 10 m are timed (2 m to accelerate and 2 m to slow down are
not). Poise times the same middle part from the gait analysis
(:class:`analysis.gait.pipeline.GaitAnalyzer`): in each trial's walking bout the strides
that start after the first ``lead_in_m`` metres and end before the last ``lead_out_m``
metres give the speed (their summed lengths over their summed durations, Zijlstra & Hof
inverted-pendulum step lengths), and the time for 10 m is ``10 / speed``.

Trials come from the guided run's stages (``comfortable``, ``fast``) or, without them,
the walking bouts in order (the first is the comfortable walk, the second the fast one,
as the protocol runs them).

Validity, per trial: no walking found; the walk too short (the bout covers less than
``min_distance_m``, the 10 m and some lead-in); the sensor not on the lower back (the
angular velocity about a horizontal axis while walking is that of a swinging leg, not of
the trunk: the 95th percentile above ``max_trunk_pitch_rate_dps``).

Comfortable gait speed is the gait-speed fall-risk factor (below 1.0 m/s elevated, below
0.8 m/s at risk: :mod:`analysis.clinical.walk`); fast gait speed has no published
fall-risk threshold and is followed over sessions only. The age/sex means of Bohannon
(1997) are the norms (reference lines of the progress plot, and in the result).

References
----------
Bohannon R. W. (1997). Comfortable and maximum walking speed of adults aged 20-79 years:
reference values and determinants. Age Ageing 26(1):15-19.

Peters D. M., Fritz S. L., Krotish D. E. (2013). Assessing the reliability and validity of
a shorter walk test compared with the 10-Meter Walk Test for measurements of gait speed in
healthy, older adults. J Geriatr Phys Ther 36(1):24-30 (the 14-m path with 2-m
acceleration and deceleration zones).

Montero-Odasso M. et al. (2022). World guidelines for falls prevention and management for
older adults. Age Ageing 51(9):afac205 (gait speed < 0.8 m/s).

Notes: differences to the original
----------------------------------
* The clinical test times the 10 m with a stopwatch as the trunk crosses the marks; here
  the speed over the steady strides is measured and the time derived, so the step-length
  error of the inverted-pendulum model (a few percent) carries over.
* Bohannon timed 7.62 m (25 ft), not 10 m; his means are used as the norms all the same,
  as clinical references do.
* No LOINC term for the 10-metre walk was found (only the NIH Toolbox 4-m walk, 83144-6
  and 83172-7, tied to that protocol), so the results carry Poise codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from analysis.clinical import registry as reg
from analysis.clinical.base import (
    NOT_DETECTED,
    TOO_SHORT,
    WRONG_ACTIVITY,
    ClinicalResult,
    Record,
    Validity,
    age_band,
    age_group,
    check_imu,
    fill_gaps,
    normalise_sex,
)
from analysis.clinical.registry import TestContext, WalkTest
from analysis.clinical.walk import GAIT_SPEED
from analysis.gait.pipeline import GaitAnalyzer, GaitResult, WalkingBout
from analysis.orientation import gravity_direction

__all__ = [
    "FAST_SPEED",
    "NORMS",
    "TRIALS",
    "TenMetreWalk",
    "TenMetreWalkResult",
    "leg_like_swing",
    "not_on_the_trunk",
]

#: The trials in protocol order (the guided run's stage keys).
TRIALS = ("comfortable", "fast")
KEY = "ten-metre-walk"
#: Bohannon (1997) mean gait speeds (m/s) by age decade and sex (the registry's section).
NORMS: dict[str, Any] = {
    "source": "Bohannon RW (1997). Comfortable and maximum walking speed of adults aged 20-79 "
    "years: reference values and determinants. Age Ageing 26(1):15-19 (means over 7.62 m).",
    "bands": [
        {"age_min_y": a, "age_max_y": a + 9, "m": {"comfortable": mc, "fast": mf}}
        | {"f": {"comfortable": fc, "fast": ff}}
        for a, mc, mf, fc, ff in (
            (20, 1.393, 2.533, 1.407, 2.467),
            (30, 1.458, 2.456, 1.415, 2.342),
            (40, 1.462, 2.462, 1.390, 2.123),
            (50, 1.393, 2.069, 1.395, 2.010),
            (60, 1.359, 1.930, 1.296, 1.772),
            (70, 1.333, 2.079, 1.272, 1.749),
        )
    ],
}


def leg_like_swing(
    acc: np.ndarray, gyr: np.ndarray | None, fs: float, spans_s: list[tuple[float, float]]
) -> float | None:
    """95th percentile (deg/s) of the angular velocity about horizontal axes in ``spans_s``.

    The trunk pitches and rolls a few tens of degrees per second in walking; a sensor on a
    shank or foot swings at several hundred. ``None`` without a gyroscope or data.
    """
    if gyr is None or not spans_s:
        return None
    up = gravity_direction(acc, fs)
    sel = np.zeros(len(gyr), bool)
    for a, b in spans_s:
        sel[int(a * fs) : int(b * fs)] = True
    w = gyr[sel]
    if len(w) < fs:
        return None
    horizontal = w - np.outer(w @ up, up)
    return float(np.degrees(np.percentile(np.linalg.norm(horizontal, axis=1), 95)))


def not_on_the_trunk(
    acc: np.ndarray,
    gyr: np.ndarray | None,
    fs: float,
    spans_s: list[tuple[float, float]],
    max_dps: float,
) -> str | None:
    """Why the sensor is not on the trunk (it turns like a leg: :func:`leg_like_swing` above
    ``max_dps``), or ``None``."""
    swing = leg_like_swing(acc, gyr, fs, spans_s)
    if swing is None or swing <= max_dps:
        return None
    return (
        f"the sensor turns at {swing:.0f} deg/s about a horizontal axis, like a leg, not the "
        "trunk: place it on the lower back"
    )


@dataclass
class Trial(Record):
    """One walk of the test."""

    pace: str
    start_s: float
    end_s: float
    distance_m: float
    speed_mps: float | None
    time_10m_s: float | None
    cadence_spm: float | None
    n_strides: int
    validity: Validity


@dataclass(kw_only=True)
class TenMetreWalkResult(ClinicalResult):
    """Result of the 10-metre walk test."""

    test: str = KEY
    comfortable_speed_mps: float | None = None
    comfortable_time_s: float | None = None
    fast_speed_mps: float | None = None
    fast_time_s: float | None = None
    comfortable_cadence_spm: float | None = None
    fast_cadence_spm: float | None = None
    norm_comfortable_mps: float | None = None
    norm_fast_mps: float | None = None
    norm_age_group: str | None = None
    trials: list[Trial] = field(default_factory=list)
    segmentation: str = ""
    source: str = "Peters et al. 2013 (procedure); Bohannon 1997 (norms)"


@dataclass(eq=False)
class TenMetreWalk(WalkTest):
    """10-metre walk test (comfortable and fast).

    Parameters
    ----------
    distance_m : float
        The timed distance (10 m).
    lead_in_m, lead_out_m : float
        Acceleration and deceleration zones left out of the timing (2 m each).
    min_distance_m : float
        A trial walked over less than this is too short.
    max_trunk_pitch_rate_dps : float
        Above this (95th percentile while walking) the sensor is not on the trunk.
    norms : dict or None
        :data:`NORMS`.
    gait_analyzer : GaitAnalyzer or None

    Attributes
    ----------
    result_ : TenMetreWalkResult
    gait_ : GaitResult
    """

    distance_m: float = 10.0
    lead_in_m: float = 2.0
    lead_out_m: float = 2.0
    min_distance_m: float = 9.0
    max_trunk_pitch_rate_dps: float = 150.0
    norms: dict[str, Any] | None = None
    gait_analyzer: GaitAnalyzer | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Time the comfortable and the fast walk (sets ``result_``).

        ``context``: the stages ``comfortable``/``fast`` of the guided run, the sensor or
        body height (step length), age and sex (norms).
        """
        acc, gyr, fs = check_imu(acc, gyr, fs)
        acc_f = fill_gaps(acc)[0]
        gyr_f = None if gyr is None else fill_gaps(gyr)[0]
        ga = self.gait_analyzer or GaitAnalyzer(ctx.sensor_height_m, ctx.height_m)
        g = ga.analyze(acc_f, gyr_f, fs).result_
        self.gait_ = g
        windows, seg = self._windows(g, ctx, len(acc) / fs)
        # a leg's swing is not gait the trunk analysis finds: look at the whole recording
        spans = [(b.start_s, b.end_s) for b in g.walking_bouts] or [(0.0, len(acc) / fs)]
        why = not_on_the_trunk(acc_f, gyr_f, fs, spans, self.max_trunk_pitch_rate_dps)
        if why is not None:
            self.result_ = TenMetreWalkResult.invalid_result(WRONG_ACTIVITY, why, segmentation=seg)
            return
        if not windows:
            self.result_ = TenMetreWalkResult.invalid_result(
                WRONG_ACTIVITY, "no walking found", segmentation=seg
            )
            return
        trials = [self._trial(pace, a, b, g) for pace, (a, b) in windows.items()]
        self.result_ = self._result(trials, seg, ctx)

    def _windows(
        self, g: GaitResult, ctx: TestContext, dur: float
    ) -> tuple[dict[str, tuple[float, float]], str]:
        """pace -> (start, end) of each trial: the stages, else the walking bouts in order."""
        keys, starts, ends = ctx.stages()
        if any(k in TRIALS for k in keys):
            out = {
                k: (s, e if e is not None else dur)
                for k, s, e in zip(keys, starts, ends)
                if k in TRIALS
            }
            return {k: w for k, w in out.items() if _bout_in(g.walking_bouts, *w)}, "events"
        bouts = [(b.start_s, b.end_s) for b in g.walking_bouts]
        return dict(zip(TRIALS, bouts)), "automatic"

    def _trial(self, pace: str, a: float, b: float, g: GaitResult) -> Trial:
        """Speed over the steady strides of the walking in ``a``-``b``."""
        strides = [s for s in g.strides if s.valid and a <= s.start_s and s.end_s <= b + 1e-6]
        strides = [s for s in strides if np.isfinite(s.length_m)]
        bout = _bout_in(g.walking_bouts, a, b)
        start, end = (bout.start_s, bout.end_s) if bout else (a, b)
        # strides of the two feet overlap: the trunk travels half their summed length
        cum = np.cumsum([s.length_m for s in strides]) / 2.0
        walked = float(cum[-1]) if cum.size else 0.0
        steady = [
            s
            for s, c in zip(strides, cum)
            if c - s.length_m / 2.0 >= self.lead_in_m and c <= walked - self.lead_out_m
        ]
        if walked < self.min_distance_m or len(steady) < 2:
            why = (
                f"walked {walked:.1f} m; at least {self.min_distance_m:g} m are needed: "
                f"{self.distance_m:g} m timed and room to speed up and slow down"
            )
            v = Validity.invalid(TOO_SHORT if strides else NOT_DETECTED, why)
            return Trial(pace, start, end, walked, None, None, None, len(steady), v)
        speed = float(sum(s.length_m for s in steady) / sum(s.duration_s for s in steady))
        cadence = float(120.0 * len(steady) / sum(s.duration_s for s in steady))
        t10 = self.distance_m / speed
        return Trial(pace, start, end, walked, speed, t10, cadence, len(steady), Validity.ok())

    def _result(self, trials: list[Trial], seg: str, ctx: TestContext) -> TenMetreWalkResult:
        by = {t.pace: t for t in trials}
        kw: dict[str, Any] = {}
        for pace in TRIALS:
            t = by.get(pace)
            if t is not None and t.validity.valid:
                kw[f"{pace}_speed_mps"] = t.speed_mps
                kw[f"{pace}_time_s"] = t.time_10m_s
                kw[f"{pace}_cadence_spm"] = t.cadence_spm
        band = age_band((self.norms or NORMS)["bands"], ctx.age_y)
        if band is not None and ctx.sex in ("m", "f"):
            kw["norm_comfortable_mps"] = band[str(ctx.sex)]["comfortable"]
            kw["norm_fast_mps"] = band[str(ctx.sex)]["fast"]
            kw["norm_age_group"] = age_group(band)
        first = by.get("comfortable") or trials[0]
        validity = first.validity
        if "fast" not in by:
            validity = validity & Validity.ok("no fast walk found")
        return TenMetreWalkResult(validity=validity, trials=trials, segmentation=seg, **kw)


def _bout_in(bouts: list[WalkingBout], a: float, b: float) -> WalkingBout | None:
    """The longest walking bout overlapping ``a``-``b``."""
    found = [w for w in bouts if w.end_s > a and w.start_s < b]
    return max(found, key=lambda w: min(w.end_s, b) - max(w.start_s, a), default=None)


# --------------------------------------------------------------------------- registry entry


def _norm_line(pace: str):
    def references(demo: reg.Demographics, norms: reg.Norms) -> list[dict[str, Any]]:
        """Bohannon's (1997) mean for the patient's age and sex."""
        sex = normalise_sex(demo.get("sex"))
        band = age_band(norms.get(KEY, NORMS)["bands"], demo.get("age"))
        if band is None or sex is None:
            return []
        label = f"mean {age_group(band, sex)} (Bohannon 1997)"
        return [{"value": band[sex][pace], "label": label}]

    return references


def _norm_note(text: str, result: Any) -> str:
    """The headline: comfortable speed, and the age/sex mean when known."""
    if not text:
        return text
    norm = result.get("norm_comfortable_mps")
    return f"comfortable {text}" + (f" (mean for age {norm:.2f} m/s)" if norm else "")


#: Comfortable speed of the 10-metre walk: the gait-speed factor and progress metric.
COMFORTABLE_SPEED = replace(GAIT_SPEED, result_keys=("comfortable_speed_mps",))
#: Fast speed of the 10-metre walk: a progress metric (no fall-risk threshold).
FAST_SPEED = reg.Measure(
    "fast_gait_speed_mps",
    "10-m walk: fast speed",
    "m/s",
    decimals=2,
    result_keys=("fast_speed_mps",),
    progress_rank=25,
    ucum="m/s",
    references=_norm_line("fast"),
)

reg.register(
    reg.ClinicalTest(
        key=KEY,
        title="10-metre walk test",
        rank=80,
        make=lambda norms: TenMetreWalk(norms=norms.get(KEY)),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Walk from the start line past the far line, first at your normal, comfortable "
                "pace, then as fast as you safely can. Do not slow down before the far line."
            ),
            therapist_instructions=(
                "Straight 14-m path: lines at 0, 2, 12 and 14 m; the middle 10 m are timed. "
                "Press Space when the patient has passed the 14-m line (each walk). Comfortable "
                "speed below 1.0 m/s flags fall risk, below 0.8 m/s high risk."
            ),
            stages=(
                reg.Stage(
                    "comfortable", "Comfortable pace", "Walk at your normal pace.", None, 60.0
                ),
                reg.Stage("fast", "Fast pace", "Walk as fast as you safely can.", None, 60.0),
            ),
            countdown_s=3.0,
            source="Peters et al. 2013 (10-m walk, 14-m path); Bohannon 1997 (norms)",
        ),
        measures=(COMFORTABLE_SPEED, FAST_SPEED),
        headline=reg.Headline("comfortable_speed_mps", "m/s", 2, _norm_note),
        needs_gyroscope=False,
        walking=True,
        norms={KEY: NORMS},
    )
)

"""Timed 360° turn: time and steps to turn a full circle in place, from one lower-back IMU.

The patient stands, and on "Go" turns a full circle on the spot at a comfortable pace,
once to each side (the 360° Turn Test; two trials, averaged). Poise finds each turn with
its turn detection (:class:`analysis.gait.turns.TurnDetector`, El-Gohary et al. 2014, on
the vertical angular velocity of :class:`analysis.gait.pipeline.GaitAnalyzer`): the time is
the turn's duration (the angular velocity from above 5 deg/s to below it again), the angle
its integral; the steps are the initial contacts (:class:`analysis.gait.initial_contacts.
InitialContactDetector`, McCamley/Paraschiv-Ionescu) in the vertical acceleration of the
turn, from 0.3 s before it starts to 0.3 s after it ends.

Trials come from the guided run's stages (``first``, ``second``: the largest turn in
each) or, without them, the turns of at least ``min_angle_deg`` in order.

Validity: no turn of at least ``min_angle_deg`` (300°: the turn was not completed); the
patient walked on before or after a turn (the test turns on the spot); the sensor not on the lower back (it turns about a horizontal axis like a leg).

Norms: no fall-risk threshold for the timed 360° turn was found that Poise could verify, so
it is no fall-risk factor; the cut-off of Shiu et al. (2016), 3.43-3.49 s, that separated
people with chronic stroke from healthy older adults is the reference line of the progress
plot. No LOINC term exists: FHIR carries Poise codes.

References
----------
El-Gohary M. et al. (2014). Continuous monitoring of turning in patients with movement
disability. Sensors 14(1):356-369.

Shiu C. H., Ng S. S., Kwong P. W., Liu T. W., Tam E. W., Fong S. S. (2016). Timed 360° turn
test for assessing people with chronic stroke. Arch Phys Med Rehabil 97(4):536-544.

Shirley Ryan AbilityLab, Rehabilitation Measures Database: 360° Turn Test (procedure:
two trials, one to each side, averaged).

Notes: differences to the original
----------------------------------
* The clinical test times from "Go" until the shoulders face the front again; here the
  turn's own duration is measured (no reaction time), so it can be shorter.
* Steps are counted from the trunk's vertical acceleration; a shuffling turn with little
  vertical movement gives fewer steps than were taken (tests: within one step).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import registry as reg
from analysis.clinical.base import (
    NOT_DETECTED,
    WRONG_ACTIVITY,
    ClinicalResult,
    Record,
    Validity,
    check_imu,
    fill_gaps,
)
from analysis.clinical.registry import TestContext, TransferTest
from analysis.clinical.ten_metre_walk import not_on_the_trunk
from analysis.gait.initial_contacts import InitialContactDetector
from analysis.gait.pipeline import GaitAnalyzer, GaitResult
from analysis.gait.turns import Turn
from analysis.orientation import gravity_direction

__all__ = ["NORMS", "TRIALS", "TURN_STEPS", "TURN_TIME", "Turn360", "Turn360Result"]

KEY = "turn-360"
#: The trials in protocol order (the guided run's stage keys).
TRIALS = ("first", "second")
#: The reference cut-off (the registry's section).
NORMS: dict[str, Any] = {
    "stroke_cutoff_s": [3.43, 3.49],
    "source": "Shiu CH et al. (2016). Timed 360° turn test for assessing people with chronic "
    "stroke. Arch Phys Med Rehabil 97(4):536-544 (cut-off times 3.43-3.49 s best separated "
    "people with chronic stroke from healthy older adults). No verified fall-risk threshold.",
}


@dataclass
class TurnTrial(Record):
    """One turn of the test."""

    trial: str
    direction: str
    start_s: float
    end_s: float
    time_s: float
    angle_deg: float
    steps: int
    peak_velocity_dps: float


@dataclass(kw_only=True)
class Turn360Result(ClinicalResult):
    """Result of the timed 360° turn."""

    test: str = KEY
    time_s: float | None = None
    steps: float | None = None
    left_time_s: float | None = None
    right_time_s: float | None = None
    trials: list[TurnTrial] = field(default_factory=list)
    segmentation: str = ""
    source: str = "360° Turn Test (two trials averaged); El-Gohary et al. 2014 (turn detection)"


@dataclass(eq=False)
class Turn360(TransferTest):
    """Timed 360° turn (time and steps, to each side).

    Parameters
    ----------
    min_angle_deg : float
        A turn of at least this angle is a completed full turn.
    max_walking_s : float
        Walking that goes on longer than this before or after a turn (beyond 1 s either
        side) means the patient walked, not turned on the spot.
    max_trunk_pitch_rate_dps : float
        Above this (95th percentile in the turns) the sensor is not on the trunk.
    gait_analyzer : GaitAnalyzer or None

    Attributes
    ----------
    result_ : Turn360Result
    gait_ : GaitResult
    """

    min_angle_deg: float = 300.0
    max_walking_s: float = 2.0
    max_trunk_pitch_rate_dps: float = 150.0
    gait_analyzer: GaitAnalyzer | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Time the turns and count their steps (sets ``result_``).

        ``context``: the stages ``first``/``second`` of the guided run.
        """
        acc, gyr, fs = check_imu(acc, gyr, fs)
        if gyr is None:
            raise ValueError("the 360° turn needs the gyroscope (gyr_radps)")
        acc_f, gyr_f = fill_gaps(acc)[0], fill_gaps(gyr)[0]
        ga = self.gait_analyzer or GaitAnalyzer(ctx.sensor_height_m, ctx.height_m)
        g = ga.analyze(acc_f, gyr_f, fs).result_
        self.gait_ = g
        turns, seg = self._turns(g, ctx)
        invalid = self._refused(acc_f, gyr_f, fs, g, turns)
        if invalid is not None:
            self.result_ = Turn360Result.invalid_result(*invalid, segmentation=seg)
            return
        up = gravity_direction(acc_f, fs)
        trials = [self._trial(name, t, acc_f @ up, fs) for name, t in turns.items()]
        self.result_ = _result(trials, seg)

    def _turns(self, g: GaitResult, ctx: TestContext) -> tuple[dict[str, Turn], str]:
        """trial -> its turn: the largest in each stage, else the full turns in order."""
        full = [t for t in g.turns if abs(t.angle_deg) >= self.min_angle_deg]
        keys, starts, ends = ctx.stages()
        if not any(k in TRIALS for k in keys):
            return dict(zip(TRIALS, full)), "automatic"
        out = {}
        for k, s, e in zip(keys, starts, ends):
            inside = [t for t in full if t.end_s > s and (e is None or t.start_s < e)]
            if k in TRIALS and inside:
                out[k] = max(inside, key=lambda t: abs(t.angle_deg))
        return out, "events"

    def _refused(self, acc, gyr, fs, g: GaitResult, turns: dict[str, Turn]):
        """``(code, reason)`` when the recording is no valid 360° turn test, else None."""
        spans = [(t.start_s, t.end_s) for t in turns.values()] or [(0.0, len(acc) / fs)]
        why = not_on_the_trunk(acc, gyr, fs, spans, self.max_trunk_pitch_rate_dps)
        if why is not None:
            return WRONG_ACTIVITY, why
        if not turns:
            largest = max((abs(t.angle_deg) for t in g.turns), default=0.0)
            return NOT_DETECTED, (
                f"no turn of at least {self.min_angle_deg:.0f}° found"
                + (f" (the largest: {largest:.0f}°)" if largest else "")
            )
        for t in turns.values():
            # stepping round on the spot may look like walking; walking on before or after
            # the turn does not belong to the test
            a, b = t.start_s - 1.0, t.end_s + 1.0
            near = [w for w in g.walking_bouts if w.end_s > a and w.start_s < b]
            outside = sum(max(0.0, a - w.start_s) + max(0.0, w.end_s - b) for w in near)
            if outside > self.max_walking_s:
                return WRONG_ACTIVITY, (
                    f"the patient walked {outside:.0f} s around the turn at {t.start_s:.1f} s: "
                    "the test is a turn on the spot"
                )
        return None

    def _trial(self, name: str, t: Turn, acc_v: np.ndarray, fs: float) -> TurnTrial:
        """The turn's time, angle and steps (initial contacts 0.3 s either side)."""
        i0 = max(0, int((t.start_s - 1.0) * fs))
        i1 = min(len(acc_v), int((t.end_s + 1.0) * fs))
        ic = InitialContactDetector().detect(acc_v, fs, regions=np.array([[i0, i1]])).ic_ / fs
        steps = int(np.sum((ic >= t.start_s - 0.3) & (ic <= t.end_s + 0.3)))
        return TurnTrial(
            name,
            t.direction,
            t.start_s,
            t.end_s,
            t.duration_s,
            abs(t.angle_deg),
            steps,
            t.peak_angular_velocity_dps,
        )


def _result(trials: list[TurnTrial], seg: str) -> Turn360Result:
    by_side = {t.direction: t.time_s for t in trials}
    validity = Validity.ok()
    if len(trials) < len(TRIALS):
        validity = Validity.ok("one turn only")
    elif len(by_side) < 2:
        validity = Validity.ok("both turns to the same side")
    return Turn360Result(
        validity=validity,
        time_s=float(np.mean([t.time_s for t in trials])),
        steps=float(np.mean([t.steps for t in trials])),
        left_time_s=by_side.get("left"),
        right_time_s=by_side.get("right"),
        trials=trials,
        segmentation=seg,
    )


# --------------------------------------------------------------------------- registry entry


def _cutoff(demo: Any, norms: Any) -> list[dict[str, Any]]:
    """Shiu et al.'s (2016) cut-off, a reference line of the progress plot."""
    lo, hi = norms.get(KEY, NORMS)["stroke_cutoff_s"]
    return [{"value": float(lo), "label": f"{lo}-{hi} s: stroke vs healthy (Shiu 2016)"}]


#: Mean time of the turns: a progress metric (no verified fall-risk threshold).
TURN_TIME = reg.Measure(
    "turn_360_time_s",
    "360° turn: time",
    "s",
    better="lower",
    decimals=1,
    result_keys=("time_s",),
    progress_rank=45,
    ucum="s",
    references=_cutoff,
)
#: Mean number of steps of the turns: a progress metric.
TURN_STEPS = reg.Measure(
    "turn_360_steps",
    "360° turn: steps",
    "steps",
    better="lower",
    decimals=1,
    result_keys=("steps",),
    progress_rank=46,
    ucum="{steps}",
)


def _headline(text: str, result: Any) -> str:
    steps = result.get("steps")
    return text + (f", {steps:.1f} steps" if text and steps is not None else "")


reg.register(
    reg.ClinicalTest(
        key=KEY,
        title="Timed 360° turn",
        rank=35,
        make=lambda norms: Turn360(),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Stand with your arms by your side. When I say Go, turn around once in a full "
                "circle, on the spot, at your usual pace. Then once more, to the other side."
            ),
            therapist_instructions=(
                "Mark the floor in front of the patient. Press Space when the patient faces the "
                "front again after each turn (or the stage stops after 20 s). Stay close: "
                "turning is when many falls happen."
            ),
            stages=(
                reg.Stage("first", "First turn", "Turn around once, to either side.", None, 20.0),
                reg.Stage(
                    "second", "Second turn", "Turn around once, to the other side.", None, 20.0
                ),
            ),
            countdown_s=3.0,
            source="360° Turn Test (Shirley Ryan AbilityLab); Shiu et al. 2016",
        ),
        measures=(TURN_TIME, TURN_STEPS),
        headline=reg.Headline("time_s", "s", 1, _headline),
        norms={KEY: NORMS},
    )
)

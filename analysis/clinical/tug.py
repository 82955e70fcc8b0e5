"""Instrumented Timed Up and Go (iTUG) from one lower-back IMU.

The patient sits, stands up, walks 3 m, turns 180 degrees, walks back, turns and sits
down. Poise times the test from the sensor alone and splits it into the phases of
Salarian et al. (2010):

* **sit-to-stand**: the first sit-to-stand transition (:mod:`analysis.transitions`),
* **walk out**: end of the sit-to-stand to the start of the 180-degree turn,
* **turn**: the turn at the cone (:class:`analysis.gait.turns.TurnDetector`, El-Gohary
  2014; the first turn of >= 90 degrees after standing up),
* **walk back**: end of that turn to the start of the turn before sitting,
* **turn-to-sit**: start of the last turn to the end of the stand-to-sit (if no separate
  last turn is found, the stand-to-sit alone).

Total time = start of the sit-to-stand to the end of the stand-to-sit (the instrumented
equivalent of "go" to "seated"). When the data hold more than one stand-up ... sit-down
cycle (the therapist let the recording run), the first is timed; ``cycles_found`` and
``cycle_used`` (1-based) say so. Steps are the initial contacts of
:class:`analysis.gait.pipeline.GaitAnalyzer` between standing up and sitting down; cadence
is 60 / median step time (robust to contacts missed in the turns, so ``n_steps`` may be
lower than the true count while the cadence is not).

Thresholds: >= 12 s at risk of falling (CDC STEADI); age norms (Bohannon 2006) in
:data:`NORMS` (the registry's ``tug`` section), passed in as ``norms``.

References
----------
Podsiadlo D., Richardson S. (1991). The timed "Up & Go": a test of basic functional
mobility for frail elderly persons. J Am Geriatr Soc 39(2):142-148.

Salarian A., Horak F. B., Zampieri C., Carlson-Kuhta P., Nutt J. G., Aminian K. (2010).
iTUG, a sensitive and reliable measure of mobility. IEEE Trans Neural Syst Rehabil Eng
18(3):303-310.

Bohannon R. W. (2006). Reference values for the Timed Up and Go test: a descriptive
meta-analysis. J Geriatr Phys Ther 29(2):64-68.

CDC STEADI (2017). Assessment: Timed Up & Go (TUG).

Notes: differences to the original
----------------------------------
* Salarian et al. used sensors on the shanks, forearms and sternum; here one lower-back
  sensor gives the transitions (trunk pitch + vertical velocity) and the turns (yaw rate).
* The clinical TUG starts at the examiner's "go"; the instrumented total starts at the
  onset of trunk flexion, so reaction time is not included (typically 0.2-0.5 s).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import registry as reg
from analysis.clinical.base import (
    NOT_DETECTED,
    TOO_SHORT,
    WRONG_ACTIVITY,
    ClinicalResult,
    Validity,
    age_band,
    age_group,
    check_imu,
    fill_gaps,
)
from analysis.clinical.registry import TestContext, TransferTest
from analysis.gait.pipeline import GaitAnalyzer
from analysis.transitions import Transition, TransitionDetector

__all__ = ["NORMS", "TUG_TIME", "TimedUpAndGo", "TugResult"]

#: The TUG's normative table (the registry's ``tug`` section).
NORMS: dict[str, Any] = {
    "at_risk_threshold_s": 12.0,
    "source": "CDC STEADI, Assessment: Timed Up & Go (TUG) (2017): an older adult who takes >= "
    "12 s to complete the TUG is at risk for falling.",
    "norms_by_age": {
        "source": "Bohannon RW (2006). Reference values for the Timed Up and Go "
        "test: a descriptive meta-analysis. J Geriatr Phys Ther "
        "29(2):64-68.",
        "bands": [
            {"age_min_y": 60, "age_max_y": 69, "mean_s": 8.1},
            {"age_min_y": 70, "age_max_y": 79, "mean_s": 9.2},
            {"age_min_y": 80, "age_max_y": 99, "mean_s": 11.3},
        ],
    },
}

STEADI_TUG_THRESHOLD_S = 12.0


@dataclass(kw_only=True)
class TugResult(ClinicalResult):
    """Result of an instrumented TUG (times in s from the start of the recording)."""

    test: str = "tug"
    total_time_s: float | None = None
    start_s: float | None = None
    end_s: float | None = None
    sit_to_stand_s: float | None = None
    walk_out_s: float | None = None
    turn_s: float | None = None
    walk_back_s: float | None = None
    turn_to_sit_s: float | None = None
    stand_to_sit_s: float | None = None
    n_steps: int | None = None
    cadence_spm: float | None = None
    turn_angle_deg: float | None = None
    turn_peak_velocity_dps: float | None = None
    turn_to_sit_peak_velocity_dps: float | None = None
    threshold_s: float = STEADI_TUG_THRESHOLD_S
    at_risk: bool | None = None
    norm_mean_s: float | None = None
    norm_age_group: str | None = None
    above_norm: bool | None = None
    cycles_found: int | None = None
    cycle_used: int | None = None
    source: str = "CDC STEADI (>= 12 s at risk); Bohannon 2006 norms; phases Salarian 2010"
    transitions: list[dict[str, Any]] = field(default_factory=list)


def _norm_for_age(
    norms: dict[str, Any] | None, age_y: float | None
) -> tuple[float | None, str | None]:
    """Bohannon's mean TUG time for the age and its age group (``"70-79 y"``)."""
    if not norms or age_y is None:
        return None, None
    band = age_band((norms.get("norms_by_age") or {}).get("bands") or [], age_y)
    if band is None:
        return None, None
    return float(band["mean_s"]), age_group(band)


def _cycles(trs: list[Transition]) -> int:
    """Complete sit-to-stand ... stand-to-sit cycles in the transitions (in order)."""
    n, standing = 0, False
    for t in trs:
        if t.type == "sit-to-stand":
            standing = True
        elif t.type == "stand-to-sit" and standing:
            n, standing = n + 1, False
    return n


@dataclass(eq=False)
class TimedUpAndGo(TransferTest):
    """Instrumented Timed Up and Go.

    Parameters
    ----------
    threshold_s : float
        At-risk threshold (CDC STEADI: 12 s); overridden by ``norms["at_risk_threshold_s"]``.
    norms : dict or None
        The ``tug`` norms section (this module's registry entry).
    max_total_s : float
        Longer "tests" are not a TUG (invalid).
    transition_detector, gait_analyzer
        Algorithm objects (defaults: :class:`TransitionDetector`, :class:`GaitAnalyzer`).
    max_turns : int
        More turns of >= 90 degrees between standing up and sitting down is not a TUG (it
        has the turn at the line and the turn to sit down): ``wrong_activity``.

    Attributes
    ----------
    result_ : TugResult
    """

    threshold_s: float = STEADI_TUG_THRESHOLD_S
    norms: dict[str, Any] | None = None
    max_total_s: float = 120.0
    transition_detector: TransitionDetector | None = None
    gait_analyzer: GaitAnalyzer | None = None
    max_turns: int = 3

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Time the test and its phases (sets ``result_``).

        ``context``: the age for the norm, the sensor or body height for the gait analysis.
        """
        age_y, sensor_height_m, height_m = ctx.age_y, ctx.sensor_height_m, ctx.height_m
        acc, gyr, fs = check_imu(acc, gyr, fs)
        if gyr is None:
            raise ValueError("the TUG needs the gyroscope (gyr_radps)")
        thr = float((self.norms or {}).get("at_risk_threshold_s", self.threshold_s))
        if acc.shape[0] < 5 * fs:
            self.result_ = TugResult.invalid_result(
                TOO_SHORT,
                f"recording is {acc.shape[0] / fs:.1f} s; a TUG needs > 5 s",
                threshold_s=thr,
            )
            return
        acc_f, frac = fill_gaps(acc)
        gyr_f, _ = fill_gaps(gyr)
        det = (self.transition_detector or TransitionDetector()).detect(acc_f, gyr_f, fs)
        trs: list[Transition] = det.transitions_
        tr_dicts = [t.to_dict() for t in trs]
        sts = next((t for t in trs if t.type == "sit-to-stand"), None)
        if sts is None:
            self.result_ = TugResult.invalid_result(
                WRONG_ACTIVITY,
                "no sit-to-stand found: a TUG starts seated and stands up",
                threshold_s=thr,
                transitions=tr_dicts,
            )
            return
        stsi = next((t for t in trs if t.type == "stand-to-sit" and t.start_s > sts.end_s), None)
        if stsi is None:
            self.result_ = TugResult.invalid_result(
                NOT_DETECTED,
                "no stand-to-sit after standing up: the patient must sit down at the end",
                threshold_s=thr,
                start_s=sts.start_s,
                transitions=tr_dicts,
            )
            return
        total = stsi.end_s - sts.start_s
        if total > self.max_total_s:
            self.result_ = TugResult.invalid_result(
                WRONG_ACTIVITY,
                f"{total:.0f} s between standing up and sitting down: not a TUG",
                threshold_s=thr,
                transitions=tr_dicts,
            )
            return

        ga = (self.gait_analyzer or GaitAnalyzer(sensor_height_m, height_m)).analyze(
            acc_f, gyr_f, fs
        )
        res = ga.result_
        ic = np.asarray(res.initial_contacts_s, dtype=float)
        ic = ic[(ic > sts.start_s) & (ic < stsi.end_s)]
        turns = [
            t
            for t in res.turns
            if t.end_s > sts.end_s - 0.5 and t.start_s < stsi.end_s and abs(t.angle_deg) >= 90
        ]
        if ic.size < 2:
            self.result_ = TugResult.invalid_result(
                WRONG_ACTIVITY,
                "no walking between standing up and sitting down",
                threshold_s=thr,
                total_time_s=total,
                transitions=tr_dicts,
            )
            return
        if len(turns) > self.max_turns:
            self.result_ = TugResult.invalid_result(
                WRONG_ACTIVITY,
                f"{len(turns)} turns of >= 90 degrees between standing up and sitting down; "
                "a TUG has one at the line and one to sit down",
                threshold_s=thr,
                total_time_s=total,
                transitions=tr_dicts,
            )
            return
        self.result_ = self._timed(sts, stsi, ic, turns, trs, thr=thr, frac=frac, age_y=age_y)

    def _timed(
        self,
        sts: Transition,
        stsi: Transition,
        ic: np.ndarray,
        turns: list,
        trs: list[Transition],
        *,
        thr: float,
        frac: float,
        age_y: float | None,
    ) -> TugResult:
        """The valid run's result: total time, phases (Salarian 2010), steps, turns, norm."""
        total = stsi.end_s - sts.start_s
        tr_dicts = [t.to_dict() for t in trs]
        validity = Validity.ok(f"{100 * frac:.1f} % samples interpolated" if frac > 0 else "")
        if not turns:
            validity = Validity.invalid(NOT_DETECTED, "no turn of >= 90 degrees found")
        # the turn at the cone is the first; the turn-to-sit the last one after it
        mid = turns[0] if turns else None
        # the turn before sitting: the last one that starts after the middle turn
        last = None
        if mid is not None:
            later = [t for t in turns if t.start_s > mid.end_s - 0.2]
            last = later[-1] if later else None
        # median step time: robust to steps the detector misses in turns
        cadence = 60.0 / float(np.median(np.diff(ic)))
        norm, norm_group = _norm_for_age(self.norms, age_y)
        turn_to_sit_start = last.start_s if last is not None else stsi.start_s
        return TugResult(
            validity=validity,
            total_time_s=total,
            start_s=sts.start_s,
            end_s=stsi.end_s,
            sit_to_stand_s=sts.duration_s,
            stand_to_sit_s=stsi.duration_s,
            walk_out_s=(mid.start_s - sts.end_s) if mid else None,
            turn_s=mid.duration_s if mid else None,
            walk_back_s=(turn_to_sit_start - mid.end_s) if mid else None,
            turn_to_sit_s=stsi.end_s - turn_to_sit_start,
            n_steps=int(ic.size),
            cadence_spm=cadence,
            turn_angle_deg=abs(mid.angle_deg) if mid else None,
            turn_peak_velocity_dps=mid.peak_angular_velocity_dps if mid else None,
            turn_to_sit_peak_velocity_dps=last.peak_angular_velocity_dps if last else None,
            threshold_s=thr,
            at_risk=bool(total >= thr),
            norm_mean_s=norm,
            norm_age_group=norm_group,
            above_norm=None if norm is None else bool(total > norm),
            cycles_found=_cycles(trs),
            cycle_used=1,
            transitions=tr_dicts,
        )


# --------------------------------------------------------------------------- registry entry


def _rate(v: float | None, demo: Mapping[str, Any], norms: Mapping[str, Any]) -> reg.Factor:
    """At risk from the STEADI threshold; the Bohannon (2006) age mean as a note."""
    n = norms["tug"]
    note = ""
    band = age_band(n.get("norms_by_age", {}).get("bands", []), demo.get("age"))
    if band is not None:
        note = f"age norm {band['mean_s']} s for {age_group(band)} ({n['norms_by_age']['source']})"
    what = ("tug_time_s", "Timed Up and Go", "s")
    thr = float(n["at_risk_threshold_s"])
    return reg.threshold_factor(what, v, ">=", thr, n["source"], note=note)


def _age_mean(demo: Mapping[str, Any], norms: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Bohannon's (2006) mean for the patient's age, a reference line of the progress plot."""
    bands = norms.get("tug", {}).get("norms_by_age", {}).get("bands", [])
    band = age_band(bands, demo.get("age"))
    if band is None:
        return []
    return [{"value": float(band["mean_s"]), "label": f"mean {age_group(band)} (Bohannon 2006)"}]


def _headline(text: str, result: Mapping[str, Any]) -> str:
    n = result.get("cycles_found")
    if isinstance(n, int) and n > 1:
        text += f" (cycle {result.get('cycle_used') or 1} of {n} in the test window)"
    return text


#: Total TUG time: a fall-risk factor (>= 12 s, STEADI) and a progress metric.
TUG_TIME = reg.Measure(
    "tug_time_s",
    "Timed Up and Go",
    "s",
    better="lower",
    decimals=1,
    result_keys=("total_time_s", "time_s", "duration_s"),
    rate=_rate,
    factor_rank=10,
    progress_rank=10,
    loinc=(
        "89423-8",
        "Time to rise from chair, walk 10 feet and back, and return to sitting [TUG]",
    ),
    ucum="s",
    references=_age_mean,
)

reg.register(
    reg.ClinicalTest(
        key="tug",
        title="Timed Up and Go",
        rank=30,
        make=lambda norms: TimedUpAndGo(norms=norms.get("tug")),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "When I say Go: stand up from the chair, walk to the line at your normal pace, "
                "turn, walk back and sit down again."
            ),
            therapist_instructions=(
                "Chair with arm rests, line at 3 m. Start with the patient seated, back against "
                "the chair. Press Space when the patient is seated again (or wait: the test "
                "stops after 60 s). 12 s or more means a risk of falling."
            ),
            stages=(
                reg.Stage(
                    "tug", "Timed Up and Go", "Stand up, walk, turn, come back, sit.", None, 60.0
                ),
            ),
            source="CDC STEADI, Timed Up & Go; Salarian et al. 2010 (phases)",
        ),
        measures=(TUG_TIME,),
        headline=reg.Headline("total_time_s", "s", 1, _headline),
        norms={"tug": NORMS},
    )
)

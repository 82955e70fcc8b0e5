"""30-second chair stand and five-times sit-to-stand from one lower-back IMU.

Both tests are built on :mod:`analysis.transitions` (sit-to-stand / stand-to-sit from the
vertical velocity and the trunk pitch rate).

* **30-second chair stand** (Jones, Rikli & Beam 1999; CDC STEADI): number of full stands
  in 30 s, arms crossed. The clock starts at the onset of the first rise. A stand counts
  when the patient is more than half-way up by 30 s (STEADI instructions); half-way is
  taken as the time of the peak vertical velocity of the rise. Below-average scores by age
  and sex come from :data:`CHAIR_STAND_NORMS` (the registry's ``chair_stand_30s`` section).
* **Five-times sit-to-stand**: two timings are in use and both are reported.
  ``time_s`` runs from the onset of the first rise to the end of the fifth rise
  (standing): the SPPB chair-stand timing (Guralnik et al. 1994), and the instruction
  printed with the 15-s (Buatois et al. 2008) and 12-s (Lusardi et al. 2017) thresholds on
  the clinical 5xSTS sheets found (one citing Guralnik 2000, Buatois 2008 and Bohannon
  2006; the Neurosurgery Wiki page citing Lusardi 2017 and Buatois 2008: "stop timing when
  the participant stands the 5th time"; the cancer-rehabilitation exercise toolkit: "when
  the patient fully stands on the 5th time"). ``time_to_sit_s`` runs to the end of the
  sit-down after the fifth rise (seated): the protocol of the Shirley Ryan AbilityLab
  Rehabilitation Measures Database ("timing begins at 'Go' and ends when the buttocks
  touch the chair after the 5th repetition"), used in the balance-disorder and Parkinson
  studies it summarises (Whitney et al. 2005; Duncan et al. 2011). The status (>= 12 s
  raises the probability of falls, Lusardi et al. 2017; >= 15 s predicts recurrent falls,
  Buatois et al. 2008) is judged on ``time_s``; ``status_to_sit`` applies the same
  thresholds to ``time_to_sit_s`` (the stricter reading, for clinics that stop the watch
  seated). Csuka & McCarty (1985), the origin of the timed chair stand, timed ten stands.

Both also report the duration of every rise and the slowing from the first to the last
rises (a fatigue sign). Walking (3 s or more of gait-like acceleration,
:func:`analysis.clinical.base.looks_like_walking`) between a rise and the next sit-down
makes the result invalid (``wrong_activity``): that is a TUG or free movement, not a chair
test.

References
----------
Jones C. J., Rikli R. E., Beam W. C. (1999). A 30-s chair-stand test as a measure of lower
body strength in community-residing older adults. Res Q Exerc Sport 70(2):113-119.

Guralnik J. M., Simonsick E. M., Ferrucci L., et al. (1994). A short physical performance
battery assessing lower extremity function. J Gerontol 49(2):M85-M94.

Lusardi M. M., Fritz S., Middleton A., et al. (2017). Determining risk of falls in
community dwelling older adults: a systematic review and meta-analysis using posttest
probability. J Geriatr Phys Ther 40(1):1-36.

Buatois S., Miljkovic D., Manckoundia P., et al. (2008). Five times sit to stand test is a
predictor of recurrent falls in healthy community-living subjects aged 65 and older. J Am
Geriatr Soc 56(8):1575-1577.

Whitney S. L., Wrisley D. M., Marchetti G. F., et al. (2005). Clinical measurement of
sit-to-stand performance in people with balance disorders: validity of data for the
Five-Times-Sit-to-Stand Test. Phys Ther 85(10):1034-1045.

Csuka M., McCarty D. J. (1985). Simple method for measurement of lower extremity muscle
strength. Am J Med 78(1):77-81.

Bohannon R. W. (2006). Reference values for the five-repetition sit-to-stand test: a
descriptive meta-analysis of data from elders. Percept Mot Skills 103(1):215-222.

Duncan R. P., Leddy A. L., Earhart G. M. (2011). Five times sit to stand test performance
in Parkinson disease. Arch Phys Med Rehabil 92(9):1431-1436.

Notes: differences to the original
----------------------------------
* The clinical tests start at the examiner's "go"; here at the onset of trunk flexion of
  the first rise (reaction time is not included, so both times are a little shorter than
  a stopwatch's).
* The methods section of Buatois et al. (2008) could not be consulted here; that its
  15-s threshold goes with the stop at the fifth stand rests on the test sheets above
  that present it with that instruction. Hence both times and both statuses.
* The end of the fifth rise is the end of trunk extension (full standing); seated is the
  end of the trunk extension after the sit-down (the buttocks touch the chair a little
  earlier, at the end of the descent).
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
    looks_like_walking,
    normalise_sex,
)
from analysis.clinical.registry import TestContext, TransferTest
from analysis.transitions import Transition, TransitionDetector

__all__ = [
    "CHAIR_STANDS",
    "CHAIR_STAND_NORMS",
    "FIVE_STS_NORMS",
    "FIVE_STS_TIME",
    "ChairStand30s",
    "ChairStand30sResult",
    "FiveTimesSitToStand",
    "FiveTimesSitToStandResult",
]

#: Below-average 30-s chair-stand scores by age and sex (the registry's ``chair_stand_30s``).
CHAIR_STAND_NORMS: dict[str, Any] = {
    "source": "CDC STEADI, Assessment: 30-Second Chair Stand (2017), after Rikli RE, Jones CJ "
    "(1999), Functional fitness normative scores for community-residing older adults, "
    "ages 60-94, J Aging Phys Act 7:162-181. A score below the value for the age band "
    "is below average and indicates a risk for falls.",
    "below_average_if_fewer_than": [
        {"age_min_y": 60, "age_max_y": 64, "m": 14, "f": 12},
        {"age_min_y": 65, "age_max_y": 69, "m": 12, "f": 11},
        {"age_min_y": 70, "age_max_y": 74, "m": 12, "f": 10},
        {"age_min_y": 75, "age_max_y": 79, "m": 11, "f": 10},
        {"age_min_y": 80, "age_max_y": 84, "m": 10, "f": 9},
        {"age_min_y": 85, "age_max_y": 89, "m": 8, "f": 8},
        {"age_min_y": 90, "age_max_y": 94, "m": 7, "f": 4},
    ],
}
#: The five-times sit-to-stand thresholds (the registry's ``five_times_sts`` section).
FIVE_STS_NORMS: dict[str, Any] = {
    "elevated_threshold_s": 12.0,
    "elevated_source": "Lusardi MM et al. (2017). Determining risk of falls in community "
    "dwelling older adults: a systematic review and meta-analysis using "
    "posttest probability. J Geriatr Phys Ther 40(1):1-36 (5xSTS >= 12 s "
    "raises the post-test probability of falls).",
    "at_risk_threshold_s": 15.0,
    "at_risk_source": "Buatois S et al. (2008). Five times sit to stand test is a predictor of "
    "recurrent falls in healthy community-living subjects aged 65 and older. J "
    "Am Geriatr Soc 56(8):1575-1577 (>= 15 s).",
}


@dataclass(kw_only=True)
class ChairStand30sResult(ClinicalResult):
    """Result of the 30-second chair stand (times in s from the start of the recording)."""

    test: str = "chair-stand-30s"
    n_stands: int | None = None
    start_s: float | None = None
    window_end_s: float | None = None
    stand_durations_s: list[float] = field(default_factory=list)
    mean_stand_duration_s: float | None = None
    slowing_pct: float | None = None
    below_average_if_fewer_than: int | None = None
    below_average: bool | None = None
    source: str = "CDC STEADI 30-Second Chair Stand (Jones, Rikli & Beam 1999)"


@dataclass(kw_only=True)
class FiveTimesSitToStandResult(ClinicalResult):
    """Result of the five-times sit-to-stand (times in s from the start of the recording)."""

    test: str = "five-times-sts"
    time_s: float | None = None
    time_to_sit_s: float | None = None
    status_to_sit: str | None = None
    timing: str = (
        "time_s: onset of the first rise to standing after the fifth (SPPB, Guralnik 1994; "
        "the instruction given with the Buatois 2008 and Lusardi 2017 thresholds); "
        "time_to_sit_s: to seated after the fifth (Whitney 2005, SRAlab Rehabilitation "
        "Measures); status from time_s, status_to_sit from time_to_sit_s"
    )
    start_s: float | None = None
    end_s: float | None = None
    n_stands_found: int | None = None
    stand_durations_s: list[float] = field(default_factory=list)
    slowing_pct: float | None = None
    elevated_threshold_s: float = 12.0
    at_risk_threshold_s: float = 15.0
    status: str | None = None
    source: str = (
        "Guralnik 1994 (timing to the 5th stand); Whitney 2005 (timing to seated); "
        "Lusardi 2017 (>= 12 s); Buatois 2008 (>= 15 s)"
    )


def _slowing_pct(durations: list[float]) -> float | None:
    """Mean duration of the last two rises vs the first two, in percent (positive = slower)."""
    if len(durations) < 4:
        return None
    first = float(np.mean(durations[:2]))
    last = float(np.mean(durations[-2:]))
    return 100.0 * (last - first) / first


def _transitions(
    detector: TransitionDetector | None, acc: np.ndarray, gyr: np.ndarray, fs: float
) -> tuple[list[Transition], float]:
    acc_f, frac = fill_gaps(acc)
    gyr_f, _ = fill_gaps(gyr)
    det = (detector or TransitionDetector()).detect(acc_f, gyr_f, fs)
    return det.transitions_, frac


def _walked_between(
    trs: list[Transition], acc: np.ndarray, fs: float, until_s: float, min_gap_s: float = 3.0
) -> float | None:
    """Start time of walking between a rise and the next sit-down (a TUG, not chair stands)."""
    acc_f, _ = fill_gaps(acc)
    for a, b in zip(trs, trs[1:]):
        if a.start_s > until_s:
            break
        if a.type == "sit-to-stand" and b.type == "stand-to-sit":
            if b.start_s - a.end_s >= min_gap_s:
                seg = acc_f[int(a.end_s * fs) : int(b.start_s * fs)]
                if looks_like_walking(seg, fs):
                    return a.end_s
    return None


@dataclass(eq=False)
class ChairStand30s(TransferTest):
    """30-second chair stand: count of full stands in 30 s.

    Parameters
    ----------
    window_s : float
        Test duration (30 s).
    norms : dict or None
        The below-average scores (:data:`CHAIR_STAND_NORMS`).
    transition_detector : TransitionDetector or None

    Attributes
    ----------
    result_ : ChairStand30sResult
    """

    window_s: float = 30.0
    norms: dict[str, Any] | None = None
    transition_detector: TransitionDetector | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Count the stands (sets ``result_``).

        ``context``: the age and sex for the below-average score.
        """
        age_y, sex = ctx.age_y, ctx.sex
        acc, gyr, fs = check_imu(acc, gyr, fs)
        if gyr is None:
            raise ValueError("the chair stand test needs the gyroscope (gyr_radps)")
        trs, frac = _transitions(self.transition_detector, acc, gyr, fs)
        sts = [t for t in trs if t.type == "sit-to-stand"]
        if not sts:
            self.result_ = ChairStand30sResult.invalid_result(
                WRONG_ACTIVITY, "no sit-to-stand found: the test is rising from a chair"
            )
            return
        start = sts[0].start_s
        end = start + self.window_s
        walked = _walked_between(trs, acc, fs, end)
        if walked is not None:
            self.result_ = ChairStand30sResult.invalid_result(
                WRONG_ACTIVITY,
                f"the patient walked after standing up at {walked:.1f} s: not a chair-stand test",
            )
            return
        rec_end = acc.shape[0] / fs
        counted = [t for t in sts if t.peak_s <= end]
        durations = [float(t.duration_s) for t in counted]
        validity = Validity.ok(f"{100 * frac:.1f} % samples interpolated" if frac > 0 else "")
        if rec_end < end - 0.5 and (rec_end - sts[-1].end_s) < 2.0:
            validity = Validity.invalid(
                TOO_SHORT,
                f"recording ends {end - rec_end:.1f} s before the 30-s mark while the "
                "patient is still rising",
            )
        limit = self._limit(age_y, sex)
        n = len(counted)
        self.result_ = ChairStand30sResult(
            validity=validity,
            n_stands=n,
            start_s=start,
            window_end_s=end,
            stand_durations_s=durations,
            mean_stand_duration_s=float(np.mean(durations)),
            slowing_pct=_slowing_pct(durations),
            below_average_if_fewer_than=limit,
            below_average=None if limit is None else bool(n < limit),
        )

    def _limit(self, age_y: float | None, sex: str | None) -> int | None:
        if not self.norms or age_y is None or sex not in ("m", "f"):
            return None
        band = age_band(self.norms.get("below_average_if_fewer_than", []), age_y)
        return None if band is None else int(band[sex])


@dataclass(eq=False)
class FiveTimesSitToStand(TransferTest):
    """Five-times sit-to-stand: time for five rises.

    Parameters
    ----------
    elevated_threshold_s, at_risk_threshold_s : float
        12 s (Lusardi 2017) and 15 s (Buatois 2008); overridden by the ``five_times_sts``
        entry of ``norms`` when given.
    norms : dict or None
    transition_detector : TransitionDetector or None

    Attributes
    ----------
    result_ : FiveTimesSitToStandResult
    """

    elevated_threshold_s: float = 12.0
    at_risk_threshold_s: float = 15.0
    norms: dict[str, Any] | None = None
    transition_detector: TransitionDetector | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Time the five rises (sets ``result_``)."""
        acc, gyr, fs = check_imu(acc, gyr, fs)
        if gyr is None:
            raise ValueError("the five-times sit-to-stand needs the gyroscope (gyr_radps)")
        n = self.norms or {}
        elev = float(n.get("elevated_threshold_s", self.elevated_threshold_s))
        risk = float(n.get("at_risk_threshold_s", self.at_risk_threshold_s))
        trs, frac = _transitions(self.transition_detector, acc, gyr, fs)
        sts = [t for t in trs if t.type == "sit-to-stand"]
        kw: dict[str, Any] = {"elevated_threshold_s": elev, "at_risk_threshold_s": risk}
        if not sts:
            self.result_ = FiveTimesSitToStandResult.invalid_result(
                WRONG_ACTIVITY, "no sit-to-stand found: the test is rising from a chair", **kw
            )
            return
        if len(sts) < 5:
            self.result_ = FiveTimesSitToStandResult.invalid_result(
                NOT_DETECTED,
                f"only {len(sts)} sit-to-stand(s) found; the test needs five",
                n_stands_found=len(sts),
                **kw,
            )
            return
        five = sts[:5]
        walked = _walked_between(trs, acc, fs, five[-1].start_s)
        if walked is not None:
            self.result_ = FiveTimesSitToStandResult.invalid_result(
                WRONG_ACTIVITY,
                f"the patient walked after standing up at {walked:.1f} s: not a sit-to-stand test",
                **kw,
            )
            return
        t = five[-1].end_s - five[0].start_s
        sit5 = [x for x in trs if x.type == "stand-to-sit" and x.start_s > five[-1].start_s]

        def status_of(x: float) -> str:
            return "at_risk" if x >= risk else ("elevated" if x >= elev else "normal")

        t_sit = (sit5[0].end_s - five[0].start_s) if sit5 else None
        durations = [float(x.duration_s) for x in five]
        self.result_ = FiveTimesSitToStandResult(
            validity=Validity.ok(f"{100 * frac:.1f} % samples interpolated" if frac > 0 else ""),
            time_s=t,
            time_to_sit_s=t_sit,
            status_to_sit=None if t_sit is None else status_of(t_sit),
            start_s=five[0].start_s,
            end_s=five[-1].end_s,
            n_stands_found=len(sts),
            stand_durations_s=durations,
            slowing_pct=_slowing_pct(durations),
            status=status_of(t),
            **kw,
        )


# --------------------------------------------------------------------------- registry entries


def _rate_chair(v: float | None, demo: Mapping[str, Any], norms: Mapping[str, Any]) -> reg.Factor:
    """At risk below the STEADI score for the age and sex; not rated without them."""
    n = norms["chair_stand_30s"]
    what = ("chair_stand_30s_count", "30-second chair stand", "stands")
    band = age_band(n["below_average_if_fewer_than"], demo.get("age"))
    sex = normalise_sex(demo.get("sex"))
    if band is None or sex is None:
        why = (
            "age and sex are needed for the norm"
            if demo.get("age") is None or sex is None
            else f"no norm for age {demo.get('age')} (table covers 60-94 y)"
        )
        return reg.Factor(*what[:2], v, what[2], "not_rated", [], n["source"], note=why)
    norm = age_group(band, sex)
    return reg.threshold_factor(what, v, "<", float(band[sex]), n["source"], norm=norm)


def _rate_five(v: float | None, demo: Mapping[str, Any], norms: Mapping[str, Any]) -> reg.Factor:
    """Elevated from 12 s (Lusardi 2017), at risk from 15 s (Buatois 2008)."""
    n = norms["five_times_sts"]
    return reg.graded_factor(
        ("five_times_sts_time_s", "Five times sit-to-stand", "s"),
        v,
        ">=",
        (float(n["elevated_threshold_s"]), n["elevated_source"]),
        (float(n["at_risk_threshold_s"]), n["at_risk_source"]),
        f"{n['elevated_source']} {n['at_risk_source']}",
    )


#: Stands in 30 s: a fall-risk factor (below the STEADI age/sex score) and a progress metric.
CHAIR_STANDS = reg.Measure(
    "chair_stand_30s_count",
    "30-s chair stands",
    "stands",
    better="higher",
    decimals=0,
    result_keys=("n_stands", "stands", "count", "repetitions", "n_repetitions"),
    rate=_rate_chair,
    factor_rank=20,
    progress_rank=30,
    loinc=("66247-8", "Sit to stand frequency in 30 seconds"),
    ucum="{#}/(30.s)",
)
#: Time of five rises: a fall-risk factor (12 s elevated, 15 s at risk) and a progress metric.
FIVE_STS_TIME = reg.Measure(
    "five_times_sts_time_s",
    "5x sit-to-stand",
    "s",
    better="lower",
    decimals=1,
    result_keys=("total_time_s", "time_s"),
    rate=_rate_five,
    factor_rank=40,
    progress_rank=40,
    ucum="s",
)

reg.register(
    reg.ClinicalTest(
        key="chair-stand-30s",
        title="30-second chair stand",
        rank=40,
        make=lambda norms: ChairStand30s(norms=norms.get("chair_stand_30s")),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Sit in the middle of the chair, arms crossed on your chest. When I say Go, stand "
                "up fully and sit down again, as many times as you can in 30 seconds."
            ),
            therapist_instructions=(
                "Chair without arm rests against a wall. Counts below the age/sex norm indicate "
                "a risk of falling."
            ),
            stages=(
                reg.Stage("stands", "Chair stands", "Stand up and sit down, again and again.", 30),
            ),
            source="CDC STEADI, 30-Second Chair Stand",
        ),
        measures=(CHAIR_STANDS,),
        headline=reg.Headline("n_stands", "stands", 0),
        norms={"chair_stand_30s": CHAIR_STAND_NORMS},
    )
)
reg.register(
    reg.ClinicalTest(
        key="five-times-sts",
        title="Five times sit-to-stand",
        rank=50,
        make=lambda norms: FiveTimesSitToStand(norms=norms.get("five_times_sts")),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Arms crossed on your chest. When I say Go, stand up fully and sit down five "
                "times, as fast as you safely can."
            ),
            therapist_instructions=(
                "Press Space when the patient sits after the fifth stand (or the test stops "
                "after 60 s). 12 s or more raises fall probability, 15 s predicts recurrent falls."
            ),
            stages=(
                reg.Stage(
                    "sts", "Five sit-to-stands", "Stand up and sit down five times.", None, 60.0
                ),
            ),
            source="Lusardi et al. 2017; Buatois et al. 2008",
        ),
        measures=(FIVE_STS_TIME,),
        headline=reg.Headline("time_s", "s", 1),
        norms={"five_times_sts": FIVE_STS_NORMS},
    )
)

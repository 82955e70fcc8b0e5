"""Single-leg stance (unipedal stance) per side, from one lower-back IMU.

The patient stands on one leg, arms crossed, eyes open, for as long as possible up to
``max_hold_s`` (30 s), first on the left leg, then on the right. The time runs from the
moment the lifted foot leaves the floor until it touches down (or the stance foot moves,
the arms reach out, the therapist steadies the patient).

How Poise times it: lifting a foot and putting it down are bursts of trunk movement
between quiet periods (:func:`analysis.clinical.base.rest_mask`: the acceleration norm's
SD and the angular velocity, as the 4-stage test uses); the sway of single-leg stance
itself stays below them. The hold runs from the end of the lift to the start of the next
burst (the foot touching down) or the therapist's ``lost_balance``/``assisted`` marker,
at most ``max_hold_s``.

* **Events** (the guided protocol's stages ``left`` and ``right``): the lift is the first
  burst going on at the stage's start or starting within ``lift_window_s`` after it (none:
  the foot was already up at "Go"); the hold ends at the touch-down, a marker or the
  stage's end.
* **Automatic** (no stages): the bursts come in pairs, lift and touch-down; the quiet
  between the first pair is the left leg, between the second pair the right leg.

Validity: too little data; the recording looks like walking; no foot lift found. A side
not tested leaves its time empty (the result stays valid with one side).

Fall risk: unable to stand on one leg for 5 s is a predictor of injurious falls (Vellas
1997); Poise rates the better side against it (a Poise choice: the patient "can" stand on
one leg when one side holds). Norms: the mean single-limb stance times of Bohannon's
(2006) meta-analysis by age (result, progress reference line).

References
----------
Vellas B. J., Wayne S. J., Romero L., Baumgartner R. N., Rubenstein L. Z., Garry P. J.
(1997). One-leg balance is an important predictor of injurious falls in older persons.
J Am Geriatr Soc 45(6):735-738.

Bohannon R. W. (2006). Single limb stance times: a descriptive meta-analysis of data from
individuals at least 60 years of age. Top Geriatr Rehabil 22(1):70-77.

Springer B. A., Marin R., Cyhan T., Roberts H., Gill N. W. (2007). Normative values for
the unipedal stance test with eyes open and closed. J Geriatr Phys Ther 30(1):8-15
(procedure).

Notes: differences to the original
----------------------------------
* The clinical test is timed by eye; here the lift and the touch-down are found in the
  trunk's movement, so a touch-down so light that the trunk does not move is missed
  (the therapist's marker or Space ends the stage then).
* Studies use 30, 45 or 60 s as the maximum; Bohannon's means pool them. No LOINC term
  for single-leg stance time was found: FHIR carries Poise codes only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import base
from analysis.clinical import registry as reg
from analysis.clinical.base import ClinicalResult, Record, Segment, Validity
from analysis.clinical.registry import BalanceTest, TestContext

__all__ = ["BEST_SIDE", "LEFT", "NORMS", "RIGHT", "SIDES", "SingleLegStance", "SingleLegResult"]

KEY = "single-leg-stance"
#: The sides in protocol order (the guided run's stage keys): the leg stood on.
SIDES = ("left", "right")
#: The therapist's markers that end a hold.
LOSS_MARKERS = ("lost_balance", "assisted")
#: Norms and the fall-risk threshold (the registry's section).
NORMS: dict[str, Any] = {
    "at_risk_below_s": 5.0,
    "source": "Vellas BJ et al. (1997). One-leg balance is an important predictor of "
    "injurious falls in older persons. J Am Geriatr Soc 45(6):735-738 (unable to stand on one "
    "leg for 5 s).",
    "norms_by_age": {
        "source": "Bohannon RW (2006). Single limb stance times: a descriptive meta-analysis "
        "of data from individuals at least 60 years of age. Top Geriatr Rehabil 22(1):70-77 "
        "(eyes open, mean).",
        "bands": [
            {"age_min_y": 60, "age_max_y": 69, "mean_s": 27.0},
            {"age_min_y": 70, "age_max_y": 79, "mean_s": 17.2},
            {"age_min_y": 80, "age_max_y": 99, "mean_s": 8.5},
        ],
    },
}


@dataclass
class SideResult(Record):
    """One leg's hold."""

    side: str
    start_s: float
    end_s: float
    held_s: float
    ended_by: str  # "touch-down", "marker", "stage end", "maximum", "end of data"


@dataclass(kw_only=True)
class SingleLegResult(ClinicalResult):
    """Result of the single-leg stance test."""

    test: str = KEY
    left_s: float | None = None
    right_s: float | None = None
    best_s: float | None = None
    max_hold_s: float | None = None
    at_risk: bool | None = None
    norm_mean_s: float | None = None
    norm_age_group: str | None = None
    sides: list[SideResult] = field(default_factory=list)
    segmentation: str = ""
    source: str = "Springer et al. 2007 (procedure); Vellas et al. 1997; Bohannon 2006 (norms)"


@dataclass(eq=False)
class SingleLegStance(BalanceTest):
    """Single-leg stance, left and right.

    Parameters
    ----------
    max_hold_s : float
        The test's maximum per side (30 s).
    lift_window_s : float
        With stage events: the lift starts within this long after "Go".
    min_hold_s : float
        Shorter quiet between two bursts is not a hold (automatic segmentation).
    step_min_s, rest_acc_std_mps2, rest_gyr_radps : float
        A burst of movement: at least ``step_min_s`` outside the rest thresholds.
    norms : dict or None
        :data:`NORMS`.

    Attributes
    ----------
    result_ : SingleLegResult
    bursts_ : list of Segment
        The movement bursts found.
    """

    max_hold_s: float = 30.0
    lift_window_s: float = 3.0
    min_hold_s: float = 0.5
    step_min_s: float = 0.3
    rest_acc_std_mps2: float = 0.35
    rest_gyr_radps: float = 0.35
    norms: dict[str, Any] | None = None

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Time the hold on each leg (sets ``result_``).

        ``context``: the stages ``left``/``right`` and the markers of the guided run; the
        age for the norm.
        """
        acc, gyr, fs = base.check_imu(acc, gyr, fs)
        dur = len(acc) / fs
        self.bursts_: list[Segment] = []
        if dur < 3.0:
            self.result_ = SingleLegResult.invalid_result(
                base.TOO_SHORT, f"{dur:.1f} s of data is too short for single-leg stance"
            )
            return
        acc = base.fill_gaps(acc)[0]
        gyr = None if gyr is None else base.fill_gaps(gyr)[0]
        # the weight shifts of one lift (or one touch-down) come in quick succession
        still, bursts = base.movement_bursts(
            acc, gyr, fs, self.rest_acc_std_mps2, self.rest_gyr_radps, self.step_min_s, 0.5
        )
        self.bursts_ = bursts
        if base.looks_like_walking(acc, fs) and still.mean() < 0.3:
            self.result_ = SingleLegResult.invalid_result(
                base.WRONG_ACTIVITY, "the recording looks like walking, not standing on one leg"
            )
            return
        keys, starts, ends = ctx.stages()
        if any(k in SIDES for k in keys):
            sides = self._by_events(bursts, keys, starts, ends, ctx.markers_s(LOSS_MARKERS), dur)
            seg = "events"
        else:
            sides, seg = self._automatic(bursts, dur), "automatic"
        if not sides:
            self.result_ = SingleLegResult.invalid_result(
                base.NOT_DETECTED,
                "no foot lift found: single-leg stance shows as a burst of trunk movement "
                "(the lift), a quiet hold and another burst (the touch-down)",
                segmentation=seg,
            )
            return
        self.result_ = self._result(sides, seg, ctx.age_y)

    def _hold(self, side: str, t0: float, t1: float, bursts: list[Segment]) -> SideResult:
        """The hold from ``t0`` until the next burst, at most to ``t1`` and the maximum."""
        limit = min(t1, t0 + self.max_hold_s)
        down = next((b.start_s for b in bursts if t0 + 0.05 < b.start_s <= limit), None)
        end, why = (down, "touch-down") if down is not None else (limit, "stage end")
        if down is None and limit == t0 + self.max_hold_s:
            why = "maximum"
        return SideResult(side, t0, end, end - t0, why)

    def _by_events(self, bursts, keys, starts, ends, markers, dur) -> list[SideResult]:
        out = []
        for i, (k, s, e) in enumerate(zip(keys, starts, ends)):
            if k not in SIDES:
                continue
            bound = e if e is not None else (starts[i + 1] if i + 1 < len(starts) else dur)
            # the lift: a burst going on at "Go" or starting soon after it
            lift = next(
                (b for b in bursts if b.end_s >= s - 0.5 and b.start_s <= s + self.lift_window_s),
                None,
            )
            t0 = max(s, lift.end_s) if lift is not None else s
            hold = self._hold(k, t0, min(bound, dur), bursts)
            mark = next((t for t in markers if t0 < t <= hold.end_s), None)
            if mark is not None:
                hold = SideResult(k, t0, mark, mark - t0, "marker")
            out.append(hold)
        return out

    def _automatic(self, bursts: list[Segment], dur: float) -> list[SideResult]:
        out: list[SideResult] = []
        i = 0
        while i < len(bursts) and len(out) < len(SIDES):
            t0 = bursts[i].end_s
            nxt = bursts[i + 1].start_s if i + 1 < len(bursts) else dur
            if nxt - t0 >= self.min_hold_s:
                hold = self._hold(SIDES[len(out)], t0, nxt, bursts)
                if hold.ended_by == "stage end":
                    hold.ended_by = "end of data"
                out.append(hold)
                i += 2
            else:
                i += 1
        return out

    def _result(self, sides: list[SideResult], seg: str, age_y: float | None) -> SingleLegResult:
        n = self.norms or NORMS
        held = {s.side: round(s.held_s, 3) for s in sides}
        best = max(held.values())
        band = base.age_band(n["norms_by_age"]["bands"], age_y)
        validity = Validity.ok()
        if len(held) < len(SIDES):
            validity = Validity.ok(f"one side only ({', '.join(held)})")
        return SingleLegResult(
            validity=validity,
            left_s=held.get("left"),
            right_s=held.get("right"),
            best_s=best,
            max_hold_s=self.max_hold_s,
            at_risk=bool(best < float(n["at_risk_below_s"])),
            norm_mean_s=None if band is None else float(band["mean_s"]),
            norm_age_group=None if band is None else base.age_group(band),
            sides=sides,
            segmentation=seg,
        )


# --------------------------------------------------------------------------- registry entry


def _rate(v: float | None, demo: Any, norms: Any) -> reg.Factor:
    """At risk below 5 s on the better leg (Vellas 1997); the Bohannon (2006) mean as a note."""
    n = norms[KEY]
    band = base.age_band(n["norms_by_age"]["bands"], demo.get("age"))
    note = "" if band is None else f"age mean {band['mean_s']} s ({n['norms_by_age']['source']})"
    what = ("single_leg_stance_best_s", "Single-leg stance (better leg)", "s")
    return reg.threshold_factor(what, v, "<", float(n["at_risk_below_s"]), n["source"], note=note)


def _age_mean(demo: Any, norms: Any) -> list[dict[str, Any]]:
    """Bohannon's (2006) mean for the patient's age: a reference line of the progress plot."""
    band = base.age_band(norms.get(KEY, NORMS)["norms_by_age"]["bands"], demo.get("age"))
    if band is None:
        return []
    label = f"mean {base.age_group(band)} (Bohannon 2006)"
    return [{"value": float(band["mean_s"]), "label": label}]


def _side(side: str, rank: int) -> reg.Measure:
    return reg.Measure(
        f"single_leg_stance_{side}_s",
        f"Single-leg stance, {side} leg",
        "s",
        decimals=1,
        result_keys=(f"{side}_s",),
        progress_rank=rank,
        ucum="s",
        references=_age_mean,
    )


#: The better leg's time: a fall-risk factor (< 5 s, Vellas 1997) and a progress metric.
BEST_SIDE = reg.Measure(
    "single_leg_stance_best_s",
    "Single-leg stance (better leg)",
    "s",
    decimals=1,
    result_keys=("best_s",),
    rate=_rate,
    factor_rank=35,
    progress_rank=51,
    ucum="s",
    references=_age_mean,
)
#: Each leg's time: progress metrics.
LEFT, RIGHT = _side("left", 52), _side("right", 53)


def _headline(text: str, result: Any) -> str:
    parts = [
        f"{side} {result[f'{side}_s']:.1f} s"
        for side in SIDES
        if result.get(f"{side}_s") is not None
    ]
    return ", ".join(parts)


reg.register(
    reg.ClinicalTest(
        key=KEY,
        title="Single-leg stance",
        rank=15,
        make=lambda norms: SingleLegStance(norms=norms.get(KEY)),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Cross your arms on your chest. When I say Go, lift one foot off the floor and "
                "stand on the other leg as long as you can, up to 30 seconds. Then the other leg."
            ),
            therapist_instructions=(
                "Stand close to the patient. Press Space the moment the lifted foot touches the "
                "floor or the patient must be steadied (L marks a loss of balance); the stage "
                "ends by itself after 32 s. Less than 5 s on the better leg predicts injurious "
                "falls."
            ),
            stages=(
                reg.Stage("left", "Stand on the left leg", "Lift your right foot.", None, 32.0),
                reg.Stage("right", "Stand on the right leg", "Lift your left foot.", None, 32.0),
            ),
            countdown_s=3.0,
            stop_on_loss_of_balance=False,
            source="Springer et al. 2007 (unipedal stance); Vellas et al. 1997",
            quiet_stance=True,
        ),
        measures=(BEST_SIDE, LEFT, RIGHT),
        headline=reg.Headline("best_s", "s", 1, _headline),
        needs_gyroscope=False,
        norms={KEY: NORMS},
    )
)

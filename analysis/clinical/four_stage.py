"""STEADI 4-stage balance test from a lower-back IMU.

The patient holds four positions for 10 s each: feet together, semi-tandem, tandem, one
leg; the test stops at the first failure. Holding tandem stance for less than 10 s means
an increased risk of falling (CDC STEADI).

How stages are delimited
------------------------
* **Events** (the GUI's guided protocol, preferred; the ``context`` of
  :meth:`FourStageBalance.analyze`): the ``stage_start`` events are the times when the timer
  of each stage started; the ``stage_end`` events and the therapist's ``lost_balance`` and
  ``assisted`` markers are used too. A stage is scanned from its start to
  ``min(start + 10 s, its end)``.
* **Automatic** (no events): quiet periods (trunk still, see
  :func:`analysis.clinical.base.rest_mask`) of at least ``min_quiet_s`` separated by
  repositioning movement are the stages, in order. The time held is the length of the quiet
  period, capped at 10 s. One short quiet period (< 10 s) at the start that is followed by
  another quiet period is taken as settling before the test (the patient stands while the
  clinician explains), so a failure of the very first stage followed by quiet standing is
  misread; and the settling just before "go" counts as held time. Use events for exact
  times (the GUI always records them). A recording where the trunk moves more than half
  of the time and no stance lasts 5 s (chair stands, a TUG), or with seconds of walking
  (``walk_window_s``), is ``wrong_activity``.

Loss of balance
---------------
A step or a grab is a burst of trunk movement: over 0.5-s windows the SD of the
acceleration norm exceeds ``rest_acc_std_mps2`` or the mean gyro norm exceeds
``rest_gyr_radps``, for at least ``step_min_s``. Quiet stance, even on one leg, stays
below (lower-back sway is a few tenths of m/s^2 at most). The burst is called a ``step``
when the acceleration norm departs from gravity by more than ``step_impact_mps2`` within
1 s (a foot strike shakes the trunk vertically), otherwise a ``grab`` (arm or trunk
movement without impact). The time held is the time from the stage start to the burst
start (or to the therapist's marker, whichever is earlier).

References
----------
CDC STEADI (2017). Assessment: The 4-Stage Balance Test.
Rossiter-Fornoff J. E. et al. (1995). A cross-sectional validation study of the FICSIT
common data base static balance measures. J Gerontol A Biol Sci Med Sci 50(6):M291-M297.

Notes: differences to the original
----------------------------------
* STEADI is timed by a clinician with a stopwatch; here the times come from the signal
  (and the protocol's events), so a step that the clinician would forgive (a toe lift)
  is counted as soon as it moves the trunk beyond the thresholds.
* The step/grab distinction is a heuristic, reported as ``failure_kind`` for information.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import base
from analysis.clinical import registry as reg
from analysis.clinical.base import ClinicalResult, Record, Segment, Validity
from analysis.clinical.registry import BalanceTest, TestContext
from analysis.orientation import gravity_direction, horizontal_basis

__all__ = [
    "FOUR_STAGE_REACHED",
    "LOSS_MARKERS",
    "NORMS",
    "STAGES",
    "TANDEM_TIME",
    "FourStageBalance",
    "FourStageResult",
    "StageResult",
]

STAGES = ("feet_together", "semi_tandem", "tandem", "one_leg")
#: The therapist's markers that end a stage as a loss of balance.
LOSS_MARKERS = ("lost_balance", "assisted")
#: The STEADI threshold (the registry's ``four_stage`` section).
NORMS: dict[str, Any] = {
    "stage_duration_s": 10.0,
    "tandem_min_s": 10.0,
    "stages": ["feet-together", "semi-tandem", "tandem", "one-leg"],
    "source": "CDC STEADI, Assessment: The 4-Stage Balance Test (2017): if the patient cannot "
    "hold the tandem stance for at least 10 seconds, they are at increased risk of "
    "falling.",
}


@dataclass
class StageResult(Record):
    """One stage attempt."""

    stage: str
    start_s: float
    end_s: float
    held_s: float
    completed: bool
    failure: str = ""  # "", "loss_of_balance", "ended_early"
    failure_kind: str = ""  # "", "step", "grab", "marker"
    failure_t_s: float | None = None
    detected_by: str = ""  # "", "signal", "marker", "signal+marker"
    sway_rms_mps2: float | None = None


@dataclass(kw_only=True)
class FourStageResult(ClinicalResult):
    """Result of the 4-stage balance test."""

    test: str = "four-stage"
    segmentation: str | None = None  # "events" or "automatic"
    stages: list[StageResult] = field(default_factory=list)
    stage_reached: str | None = None
    stage_reached_number: int | None = None
    stages_completed: int | None = None
    feet_together_time_s: float | None = None
    semi_tandem_time_s: float | None = None
    tandem_time_s: float | None = None
    one_leg_time_s: float | None = None
    increased_risk: bool | None = None
    risk_note: str = ""


@dataclass(eq=False)
class FourStageBalance(BalanceTest):
    """Detect stages, losses of balance and the time held per stage.

    Parameters
    ----------
    stage_duration_s : float
        Target per stage (STEADI: 10 s).
    completion_tolerance_s : float
        A stage held at least ``stage_duration_s - completion_tolerance_s`` counts as done
        (absorbs event/timer jitter).
    min_quiet_s : float
        Shortest quiet period that counts as a stage attempt (automatic mode).
    step_min_s : float
        Shortest movement burst that counts as a loss of balance.
    rest_acc_std_mps2, rest_gyr_radps : float
        Rest thresholds (see :func:`analysis.clinical.base.rest_mask`).
    step_impact_mps2 : float
        Departure of the acceleration norm from gravity that makes a burst a ``step``.
    max_missing_fraction : float
        More missing samples gives ``missing_data``.
    walk_window_s : float
        Without stage events, any window of this length that looks like walking makes the
        recording ``wrong_activity`` (the test is standing in place).

    Attributes
    ----------
    result_ : FourStageResult
    quiet_segments_ : list of Segment
    movement_segments_ : list of Segment
    """

    stage_duration_s: float = 10.0
    completion_tolerance_s: float = 0.3
    min_quiet_s: float = 2.0
    step_min_s: float = 0.3
    rest_acc_std_mps2: float = 0.35
    rest_gyr_radps: float = 0.35
    step_impact_mps2: float = 2.0
    max_missing_fraction: float = 0.1
    walk_window_s: float = 6.0

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Analyse one test (sets ``result_``).

        ``context``: the guided run's ``stage_start``/``stage_end`` events and the markers of
        :data:`LOSS_MARKERS` (seconds from the first sample); without stage events the stages
        are found automatically (see the module docstring).
        """
        keys, starts, ends = ctx.stages()
        markers_s = ctx.markers_s(LOSS_MARKERS)
        stage_starts_s = starts or None
        stage_ends_s = ends if starts else None
        stage_keys = keys if starts else None
        acc, gyr, fs = base.check_imu(acc, gyr, fs)
        n = len(acc)
        dur = n / fs
        self.quiet_segments_: list[Segment] = []
        self.movement_segments_: list[Segment] = []
        if n < 2 * fs:
            self.result_ = FourStageResult.invalid_result(
                base.TOO_SHORT, f"{dur:.1f} s of data is too short for a balance test"
            )
            return
        both, missing = base.fill_gaps(np.hstack([acc, gyr if gyr is not None else 0 * acc]))
        if missing > self.max_missing_fraction:
            self.result_ = FourStageResult.invalid_result(
                base.MISSING_DATA, f"{100 * missing:.0f} % of the samples are missing"
            )
            return
        acc = both[:, :3]
        gyr = both[:, 3:] if gyr is not None else None
        still, moves = base.movement_bursts(
            acc, gyr, fs, self.rest_acc_std_mps2, self.rest_gyr_radps, self.step_min_s
        )
        # quiet = everything that is not a qualifying movement burst
        quiet_mask = np.ones(n, bool)
        for m in moves:
            quiet_mask[m.slice(fs)] = False
        quiet = base.segments_from_mask(quiet_mask, fs, min_duration_s=self.min_quiet_s)
        self.quiet_segments_, self.movement_segments_ = quiet, moves
        if base.looks_like_walking(acc, fs) and sum(q.duration_s for q in quiet) < 0.3 * dur:
            self.result_ = FourStageResult.invalid_result(
                base.WRONG_ACTIVITY,
                "the recording looks like walking, not a standing balance test",
                segmentation="events" if stage_starts_s else "automatic",
            )
            return
        longest = max((q.duration_s for q in quiet), default=0.0)
        active = 1.0 - float(quiet_mask.mean())
        if not stage_starts_s and active > 0.5 and longest < self.stage_duration_s / 2:
            self.result_ = FourStageResult.invalid_result(
                base.WRONG_ACTIVITY,
                f"the trunk moved during {100 * active:.0f} % of the recording and no stance "
                f"was held for {self.stage_duration_s / 2:g} s; this is not a balance test",
                segmentation="automatic",
            )
            return
        walked_at = None if stage_starts_s else self._walking_at(acc, fs, quiet_mask)
        if walked_at is not None:
            self.result_ = FourStageResult.invalid_result(
                base.WRONG_ACTIVITY,
                f"the patient walked (about {walked_at:.0f} s into the recording); the 4-stage "
                "test is standing in place, so this is not a balance test",
                segmentation="automatic",
            )
            return
        if not quiet:
            self.result_ = FourStageResult.invalid_result(
                base.WRONG_ACTIVITY,
                f"no quiet standing of at least {self.min_quiet_s:g} s found; "
                "this does not look like a balance test",
                segmentation="events" if stage_starts_s else "automatic",
            )
            return

        horiz = self._horizontal(acc, gyr, fs)
        if stage_starts_s:
            stages, note = self._by_events(
                acc, fs, moves, horiz, stage_starts_s, stage_ends_s, stage_keys, markers_s or []
            )
            seg_mode = "events"
        else:
            stages, note = self._automatic(acc, fs, moves, quiet, horiz, dur)
            seg_mode = "automatic"
        self.result_ = self._result(stages, seg_mode, note, missing)
        return

    # ----------------------------------------------------------------- segmentation
    def _by_events(self, acc, fs, moves, horiz, starts, ends, keys, markers):
        dur = len(acc) / fs
        keys = list(keys) if keys else list(STAGES[: len(starts)])
        ends = list(ends) if ends else [None] * len(starts)
        out: list[StageResult] = []
        note = ""
        for i, s in enumerate(starts):
            if i >= len(STAGES):
                break
            bound = ends[i] if i < len(ends) and ends[i] is not None else None
            if bound is None:
                bound = starts[i + 1] if i + 1 < len(starts) else s + self.stage_duration_s
            bound = min(bound, dur, s + self.stage_duration_s)
            burst = next((m for m in moves if s <= m.start_s < bound), None)
            # a burst that started before "go" and goes on for > 1 s is also a failure
            if burst is None:
                burst = next((m for m in moves if m.start_s < s and m.end_s > s + 1.0), None)
            mark = next((t for t in sorted(markers) if s <= t <= bound + 0.5), None)
            t_sig = None if burst is None else max(burst.start_s, s)
            cands = [t for t in (t_sig, mark) if t is not None]
            # movement at the very end of the stage is the repositioning for the next one
            # (the centred rest window marks a burst up to half a window early)
            if cands and min(cands) - s >= self.stage_duration_s - self.completion_tolerance_s:
                cands = []
            if cands:
                t_fail = min(cands)
                by = "+".join(x for x, t in (("signal", t_sig), ("marker", mark)) if t is not None)
                kind = self._kind(acc, fs, burst) if t_sig is not None else "marker"
                held = t_fail - s
                st = StageResult(
                    keys[i], s, t_fail, held, False, "loss_of_balance", kind, t_fail, by
                )
            else:
                held = bound - s
                done = held >= self.stage_duration_s - self.completion_tolerance_s
                st = StageResult(
                    keys[i],
                    s,
                    bound,
                    min(held, self.stage_duration_s),
                    done,
                    "" if done else "ended_early",
                )
                if not done:
                    note = f"stage {keys[i]} ended after {held:.1f} s without a loss of balance"
            st.sway_rms_mps2 = self._rms(horiz, fs, st.start_s, st.end_s)
            out.append(st)
            if not st.completed:
                break
        return out, note

    def _automatic(self, acc, fs, moves, quiet, horiz, dur):
        out: list[StageResult] = []
        note = ""
        full = self.stage_duration_s - self.completion_tolerance_s
        # one leading short quiet period followed by more quiet is settling before "go"
        if len(quiet) > 1 and quiet[0].duration_s < full:
            note = (
                f"the quiet period {quiet[0].start_s:.1f}-{quiet[0].end_s:.1f} s before the "
                "first stage was taken as settling"
            )
            quiet = quiet[1:]
        for i, q in enumerate(quiet[: len(STAGES)]):
            held = min(q.duration_s, self.stage_duration_s)
            done = q.duration_s >= self.stage_duration_s - self.completion_tolerance_s
            if done:
                st = StageResult(STAGES[i], q.start_s, q.start_s + held, held, True)
            else:
                at_end = q.end_s >= dur - 1.0 / fs
                burst = next((m for m in moves if abs(m.start_s - q.end_s) < 0.6), None)
                if at_end or burst is None:
                    st = StageResult(STAGES[i], q.start_s, q.end_s, held, False, "ended_early")
                    note = f"the recording ends {held:.1f} s into stage {STAGES[i]}"
                else:
                    st = StageResult(
                        STAGES[i],
                        q.start_s,
                        q.end_s,
                        held,
                        False,
                        "loss_of_balance",
                        self._kind(acc, fs, burst),
                        q.end_s,
                        "signal",
                    )
            st.sway_rms_mps2 = self._rms(horiz, fs, st.start_s, st.end_s)
            out.append(st)
            if not st.completed:
                break
        return out, note

    def _walking_at(self, acc: np.ndarray, fs: float, quiet_mask: np.ndarray) -> float | None:
        """Start (s) of the first ``walk_window_s`` window of gait, else None.

        Gait: the trunk moves during at least 80 % of the window and the acceleration looks
        like walking (:func:`analysis.clinical.base.looks_like_walking`). Repositioning the
        feet between stages is a step or two, never seconds of periodic gait.
        """
        w = int(round(self.walk_window_s * fs))
        hop = max(1, w // 3)
        moving = np.concatenate([[0], np.cumsum(~quiet_mask)])
        for i in range(0, max(1, len(acc) - w + 1), hop):
            j = min(i + w, len(acc))
            if moving[j] - moving[i] >= 0.8 * (j - i) and base.looks_like_walking(acc[i:j], fs):
                return i / fs
        return None

    def _kind(self, acc: np.ndarray, fs: float, burst: Segment | None) -> str:
        if burst is None:
            return "marker"
        i0 = int(burst.start_s * fs)
        i1 = min(len(acc), int((burst.start_s + 1.0) * fs) + 1)
        dev = np.abs(np.linalg.norm(acc[i0:i1], axis=1) - base.GRAVITY_MPS2)
        return "step" if dev.size and dev.max() > self.step_impact_mps2 else "grab"

    @staticmethod
    def _horizontal(acc: np.ndarray, gyr: np.ndarray | None, fs: float) -> np.ndarray:
        e1, e2 = horizontal_basis(gravity_direction(acc))
        return np.column_stack([acc @ e1, acc @ e2])

    @staticmethod
    def _rms(horiz: np.ndarray, fs: float, t0: float, t1: float) -> float | None:
        seg = horiz[int(t0 * fs) : int(t1 * fs)]
        if len(seg) < fs:
            return None
        seg = seg - seg.mean(axis=0)
        return float(np.sqrt(np.mean(np.sum(seg * seg, axis=1))))

    # ----------------------------------------------------------------- result
    def _result(self, stages: list[StageResult], mode: str, note: str, missing: float):
        times: dict[str, float | None] = dict.fromkeys(STAGES)
        for st in stages:
            if st.stage in times:
                times[st.stage] = st.held_s
        last = stages[-1] if stages else None
        n_done = sum(st.completed for st in stages)
        tandem = times["tandem"]
        tandem_attempted = any(st.stage == "tandem" for st in stages)
        ended_early = last is not None and last.failure == "ended_early"
        full = self.stage_duration_s - self.completion_tolerance_s
        if tandem_attempted and tandem is not None and tandem >= full:
            risk = False
            rnote = f"tandem stance held {min(tandem, self.stage_duration_s):.1f} s (>= 10 s)"
        elif tandem_attempted and not ended_early:
            risk = True
            rnote = (
                f"tandem stance held {tandem:.1f} s (< 10 s): increased risk of falling (STEADI)"
            )
        elif last is not None and last.failure == "loss_of_balance":
            risk, tandem = True, 0.0
            rnote = (
                f"lost balance in stage {last.stage}: tandem stance not reached "
                "(held 0 s), increased risk of falling (STEADI)"
            )
        else:
            risk, rnote = None, "the test ended before tandem stance could be judged"
        validity = Validity.ok(
            "; ".join(
                x
                for x in (
                    note,
                    f"{100 * missing:.1f} % missing samples interpolated" if missing else "",
                )
                if x
            )
        )
        if ended_early and not tandem_attempted:
            validity = Validity.invalid(base.TOO_SHORT, note or "the test ended early")
        return FourStageResult(
            validity=validity,
            segmentation=mode,
            stages=stages,
            stage_reached=last.stage if last else None,
            stage_reached_number=(STAGES.index(last.stage) + 1)
            if last and last.stage in STAGES
            else None,
            stages_completed=n_done,
            feet_together_time_s=times["feet_together"],
            semi_tandem_time_s=times["semi_tandem"],
            tandem_time_s=tandem,
            one_leg_time_s=times["one_leg"],
            increased_risk=risk,
            risk_note=rnote,
        )


# --------------------------------------------------------------------------- registry entry


def _rate(v: float | None, demo: Mapping[str, Any], norms: Mapping[str, Any]) -> reg.Factor:
    """At risk below 10 s of tandem stance (STEADI)."""
    n = norms["four_stage"]
    what = ("tandem_time_s", "4-stage balance: tandem stance held", "s")
    return reg.threshold_factor(what, v, "<", float(n["tandem_min_s"]), n["source"])


def _headline(text: str, result: Mapping[str, Any]) -> str:
    if not result.get("stage_reached"):
        return text
    stage = str(result["stage_reached"]).replace("_", " ").replace("-", " ")
    return (f"tandem held {text} " if text else "") + f"(stage reached: {stage})"


#: Tandem stance held: a fall-risk factor (< 10 s, STEADI) and a progress metric.
TANDEM_TIME = reg.Measure(
    "tandem_time_s",
    "4-stage: tandem held",
    "s",
    better="higher",
    decimals=1,
    result_keys=("tandem_time_s", "tandem_held_s"),
    rate=_rate,
    factor_rank=30,
    progress_rank=50,
    ucum="s",
)
#: The last stage reached (1-4): a progress metric.
FOUR_STAGE_REACHED = reg.Measure(
    "four_stage_reached",
    "4-stage: stage reached",
    "stage",
    better="higher",
    decimals=0,
    result_keys=("stage_reached_number",),
    progress_rank=60,
    ucum="{stage}",
)

reg.register(
    reg.ClinicalTest(
        key="four-stage",
        title="4-stage balance test",
        rank=10,
        make=lambda norms: FourStageBalance(),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Stand without support, arms by your side. Hold each position for 10 seconds. "
                "Do not move your feet until I tell you."
            ),
            therapist_instructions=(
                "Demonstrate each position. Stand close to the patient to prevent a fall. "
                "Press L the moment the patient loses balance (steps, grabs or you assist): "
                "the test stops there. Holding tandem stance for less than 10 s means an "
                "increased risk of falling."
            ),
            stages=(
                reg.Stage(
                    "feet_together", "Feet together", "Stand with your feet side by side.", 10
                ),
                reg.Stage(
                    "semi_tandem",
                    "Semi-tandem",
                    "Place the instep of one foot so it touches the big toe of the other.",
                    10,
                ),
                reg.Stage(
                    "tandem",
                    "Tandem",
                    "Place one foot in front of the other, heel touching toe.",
                    10,
                ),
                reg.Stage("one_leg", "One leg", "Stand on one foot.", 10),
            ),
            countdown_s=3.0,
            stop_on_loss_of_balance=True,
            source="CDC STEADI, The 4-Stage Balance Test",
            quiet_stance=True,
        ),
        measures=(TANDEM_TIME, FOUR_STAGE_REACHED),
        headline=reg.Headline("tandem_time_s", "s", 1, _headline),
        needs_gyroscope=False,
        norms={"four_stage": NORMS},
    )
)

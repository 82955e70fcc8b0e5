"""Quiet stance in four sensory conditions (mCTSIB) with sensory ratios and Romberg quotient.

Conditions (keys as the guided protocol's stages): ``eo_firm`` (eyes open, firm floor),
``ec_firm`` (eyes closed, firm), ``eo_foam`` (eyes open, foam pad), ``ec_foam`` (eyes
closed, foam). Each condition is a 30-s trial analysed with
:class:`analysis.sway.SwayAnalyzer` (same filter and measures; a trial shorter than
``min_duration_s`` = 20 s is ``too_short``; a step or sensor movement invalidates it).

Ratios (for each measure in ``ratio_measures``, default RMS, ellipse area and mean
velocity; a ratio > 1 means more sway than eyes open on a firm floor):

* vision ``= EC-firm / EO-firm`` (how much the patient relies on vision),
* somatosensory ``= EO-foam / EO-firm`` (sway when the feet's input is degraded),
* vestibular ``= EC-foam / EO-firm`` (only the vestibular system is reliable),
* Romberg quotient ``= EC / EO`` on the firm floor (and ``romberg_foam`` on foam).

A ratio is reported only when both of its trials are valid; otherwise it is ``None`` and
``ratio_notes`` says why.

Stages come from the protocol's ``stage_start``/``stage_end`` events (``conditions``
argument) or, without events, automatically: quiet periods of at least ``min_duration_s``
separated by movement (stepping on and off the foam), taken in the protocol's order.

References
----------
Shumway-Cook A., Horak F. B. (1986). Assessing the influence of sensory interaction on
balance. Phys Ther 66(10):1548-1550.
Mancini M. et al. (2012). ISway. J NeuroEng Rehabil 9:59.
Romberg M. H. (1853); Romberg quotient as EC/EO sway ratio e.g. Lord S. R. et al.

Notes: differences to the original
----------------------------------
* The mCTSIB scores time in balance and observed sway; Poise reports instrumented sway
  (Mancini 2012) per condition and the ratios named in the design guide instead of the
  "sensory analysis" of computerised posturography (which uses equilibrium scores).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.clinical import base
from analysis.clinical import registry as reg
from analysis.clinical.base import ClinicalResult, Validity
from analysis.clinical.registry import BalanceTest, TestContext
from analysis.orientation import BodyFrameAligner
from analysis.sway import TEST_KEY, SwayAnalyzer

__all__ = [
    "CONDITIONS",
    "NORMS",
    "SWAY_AREA",
    "SWAY_RMS",
    "QuietStance",
    "StanceResult",
    "SwayTest",
]

#: Sway has no fall-risk threshold (the registry's ``sway`` section says so, with its source).
NORMS: dict[str, Any] = {
    "source": "Mancini M et al. (2012) ISway. J NeuroEng Rehabil 9:59. No normative fall-risk "
    "threshold for accelerometric sway is used; sway measures are reported for information and "
    "progress only (status not_rated).",
    "thresholds": {},
}

CONDITIONS = ("eo_firm", "ec_firm", "eo_foam", "ec_foam")
RATIOS = {
    "vision": ("ec_firm", "eo_firm"),
    "somatosensory": ("eo_foam", "eo_firm"),
    "vestibular": ("ec_foam", "eo_firm"),
    "romberg": ("ec_firm", "eo_firm"),
    "romberg_foam": ("ec_foam", "eo_foam"),
}


@dataclass(kw_only=True)
class StanceResult(ClinicalResult):
    """Per-condition sway, ratios and the Romberg quotient."""

    test: str = "stance"
    segmentation: str | None = None
    conditions: dict[str, Any] = field(default_factory=dict)
    ratios: dict[str, dict[str, float | None]] = field(default_factory=dict)
    ratio_notes: list[str] = field(default_factory=list)
    vision_ratio: float | None = None
    somatosensory_ratio: float | None = None
    vestibular_ratio: float | None = None
    romberg_quotient: float | None = None
    ratio_measure: str = "rms_mps2"


@dataclass(eq=False)
class QuietStance:
    """Quiet stance in up to four conditions with mCTSIB ratios.

    Parameters
    ----------
    min_duration_s : float
        Shortest valid trial (20 s of the usual 30 s).
    ratio_measures : tuple of str
        Sway measures for which ratios are computed; the first gives the headline
        ``vision_ratio`` etc.
    heading_hint_sensor : (3,) array or None
        Forward direction in the sensor frame; by default the heading found on the whole
        recording is shared by all conditions, so AP and ML mean the same in each.
    sway_params : dict
        Extra parameters for :class:`analysis.sway.SwayAnalyzer`.

    Attributes
    ----------
    result_ : StanceResult
    """

    min_duration_s: float = 20.0
    ratio_measures: tuple[str, ...] = ("rms_mps2", "ellipse_area_m2ps4", "mean_velocity_mps3")
    heading_hint_sensor: np.ndarray | None = None
    sway_params: dict[str, Any] | None = None

    def calculate(
        self,
        acc_mps2: np.ndarray,
        gyr_radps: np.ndarray | None,
        sampling_rate_hz: float,
        conditions: dict[str, tuple[float, float]] | None = None,
    ) -> QuietStance:
        """Analyse the trials; ``conditions`` maps a key to (start_s, end_s) from sample 0.

        Returns ``self``.
        """
        acc, gyr, fs = base.check_imu(acc_mps2, gyr_radps, sampling_rate_hz)
        dur = len(acc) / fs
        if conditions:
            unknown = set(conditions) - set(CONDITIONS)
            if unknown:
                raise ValueError(
                    f"unknown stance condition(s) {sorted(unknown)}; expected {CONDITIONS}"
                )
            windows = dict(conditions)
            mode = "events"
        else:
            windows = self._automatic(acc, gyr, fs)
            mode = "automatic"
        if not windows:
            if base.looks_like_walking(base.fill_gaps(acc)[0], fs):
                why = "the recording looks like walking, not quiet stance"
            else:
                why = f"no quiet standing of at least {self.min_duration_s:g} s found"
            self.result_ = StanceResult.invalid_result(base.WRONG_ACTIVITY, why, segmentation=mode)
            return self

        hint = self.heading_hint_sensor
        if hint is None:
            filled = base.fill_gaps(acc)[0]
            al = BodyFrameAligner().align(
                filled, None if gyr is None else base.fill_gaps(gyr)[0], fs
            )
            hint = al.forward_sensor_ if np.all(np.isfinite(al.forward_sensor_)) else None
        params = {"min_duration_s": self.min_duration_s, **(self.sway_params or {})}
        per: dict[str, Any] = {}
        for key in CONDITIONS:
            if key not in windows:
                continue
            t0, t1 = windows[key]
            i0, i1 = max(0, int(round(t0 * fs))), min(len(acc), int(round(t1 * fs)))
            if i1 - i0 < 2:
                res = _window_outside(key, t0, t1, dur)
                per[key] = res
                continue
            r = (
                SwayAnalyzer(heading_hint_sensor=hint, **params)
                .calculate(acc[i0:i1], None if gyr is None else gyr[i0:i1], fs)
                .result_
            )
            d = r.to_dict()
            d["start_s"], d["end_s"] = i0 / fs, i1 / fs
            per[key] = d

        ratios: dict[str, dict[str, float | None]] = {}
        notes: list[str] = []
        for measure in self.ratio_measures:
            ratios[measure] = {}
            for name, (num, den) in RATIOS.items():
                ratios[measure][name] = self._ratio(per, num, den, measure, name, notes)
        head = ratios.get(self.ratio_measures[0], {})
        eo = per.get("eo_firm")
        if eo is None or not eo["validity"]["valid"]:
            why = (
                "the eyes-open firm trial (reference of every ratio) is missing"
                if eo is None
                else f"the eyes-open firm trial is not valid: {eo['validity']['reason']}"
            )
            code = eo["validity"]["code"] if eo is not None else base.NOT_DETECTED
            validity = Validity.invalid(code if code != base.OK else base.NOT_DETECTED, why)
        else:
            bad = [k for k, v in per.items() if not v["validity"]["valid"]]
            validity = Validity.ok(f"not valid: {', '.join(bad)}" if bad else "")
        self.result_ = StanceResult(
            validity=validity,
            segmentation=mode,
            conditions=per,
            ratios=ratios,
            ratio_notes=sorted(set(notes)),
            vision_ratio=head.get("vision"),
            somatosensory_ratio=head.get("somatosensory"),
            vestibular_ratio=head.get("vestibular"),
            romberg_quotient=head.get("romberg"),
            ratio_measure=self.ratio_measures[0],
        )
        return self

    @staticmethod
    def _ratio(per, num, den, measure, name, notes) -> float | None:
        a, b = per.get(num), per.get(den)
        if a is None or b is None:
            missing = [k for k, v in ((num, a), (den, b)) if v is None]
            notes.append(f"{name}: no {' and no '.join(missing)} trial")
            return None
        if not (a["validity"]["valid"] and b["validity"]["valid"]):
            bad = [k for k, v in ((num, a), (den, b)) if not v["validity"]["valid"]]
            notes.append(f"{name}: trial {', '.join(bad)} not valid")
            return None
        x, y = a.get(measure), b.get(measure)
        if x is None or y is None or y == 0:
            return None
        return float(x) / float(y)

    def _automatic(self, acc, gyr, fs) -> dict[str, tuple[float, float]]:
        filled = base.fill_gaps(acc)[0]
        if base.looks_like_walking(filled, fs) and len(filled) < 60 * fs:
            return {}
        still = base.rest_mask(filled, None if gyr is None else base.fill_gaps(gyr)[0], fs)
        segs = base.segments_from_mask(
            still, fs, min_duration_s=self.min_duration_s, merge_gap_s=0.0
        )
        return {k: (s.start_s, s.end_s) for k, s in zip(CONDITIONS, segs)}


def _window_outside(key: str, t0: float, t1: float, dur: float) -> dict[str, Any]:
    """Result dict of a condition whose window lies outside the data."""
    return {
        "test": TEST_KEY,
        "validity": Validity.invalid(
            base.MISSING_DATA, f"{key}: window {t0:.1f}-{t1:.1f} s is outside the {dur:.1f}-s data"
        ).to_dict(),
        "start_s": t0,
        "end_s": t1,
    }


# --------------------------------------------------------------------------- the sway test


class _Head(dict):
    """The mCTSIB result flattened around its eyes-open-firm trial (a JSON-ready dict)."""

    def to_dict(self) -> dict[str, Any]:
        return dict(self)


@dataclass(eq=False)
class SwayTest(BalanceTest):
    """The ``sway`` test: one quiet-stance trial, or the four mCTSIB conditions.

    The conditions come from the guided run's stage events (``eo_firm``...), or are found
    automatically in a recording of at least ``min_auto_s`` with clearly separated quiet
    periods (:class:`QuietStance`); otherwise the whole recording is one trial
    (:class:`analysis.sway.SwayAnalyzer`). With conditions the result is the eyes-open-firm
    trial's measures plus the conditions, ratios and Romberg quotient.
    """

    min_auto_s: float = 75.0

    def _run(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float, ctx: TestContext) -> None:
        """Analyse the quiet stance (sets ``result_``)."""
        keys, starts, ends = ctx.stages()
        conds = {
            k: (s, e if e is not None else s + 30.0)
            for k, s, e in zip(keys, starts, ends)
            if k in CONDITIONS
        }
        stance = None
        if conds:
            stance = QuietStance().calculate(acc, gyr, fs, conditions=conds).result_
        elif len(acc) / fs >= self.min_auto_s:
            auto = QuietStance().calculate(acc, gyr, fs).result_
            if len(auto.conditions) >= 2:
                stance = auto
        if stance is None:
            self.result_ = SwayAnalyzer().calculate(acc, gyr, fs).result_
            return
        d = stance.to_dict()
        head = _Head(d["conditions"].get("eo_firm") or {})
        head.update(
            {"test": TEST_KEY, "validity": d["validity"], "segmentation": d["segmentation"]}
        )
        head["headline_condition"] = "eo_firm"
        for k in ("conditions", "ratios", "ratio_notes", "ratio_measure"):
            head[k] = d[k]
        for k in ("vision", "somatosensory", "vestibular"):
            head[f"{k}_ratio"] = d[f"{k}_ratio"]
        head["romberg_quotient"] = d["romberg_quotient"]
        self.result_ = head  # type: ignore[assignment]


def _not_rated(key: str, label: str, unit: str):
    def rate(v: float | None, demo: reg.Demographics, norms: reg.Norms) -> reg.Factor:
        return reg.Factor(
            key,
            label,
            v,
            unit,
            "not_rated",
            [],
            norms.get(TEST_KEY, {}).get("source", ""),
            note="no normative fall-risk threshold; for information and progress",
        )

    return rate


def _eo_firm(result: Any) -> dict[str, Any]:
    """A QuietStance result read as its eyes-open-firm trial."""
    conds = result.get("conditions") or {}
    src = conds.get("eo_firm") or conds.get("eo-firm") or {}
    validity = result.get("validity")
    return {
        **src,
        "validity": src.get(
            "validity", validity if isinstance(validity, dict) else Validity.ok().to_dict()
        ),
    }


#: Sway RMS of the eyes-open-firm trial: shown among the fall-risk factors, not rated.
SWAY_RMS = reg.Measure(
    "sway_rms_mps2",
    "Sway RMS",
    "m/s^2",
    better="lower",
    decimals=3,
    result_keys=("rms_mps2",),
    rate=_not_rated("sway_rms_mps2", "Sway RMS (eyes open, firm)", "m/s^2"),
    factor_rank=80,
    ucum="m/s2",
)
#: Sway 95 % ellipse area: not rated; a progress metric.
SWAY_AREA = reg.Measure(
    "sway_ellipse_area_m2ps4",
    "Sway 95 % ellipse area",
    "m^2/s^4",
    better="lower",
    decimals=4,
    result_keys=("ellipse_area_m2ps4",),
    rate=_not_rated("sway_ellipse_area_m2ps4", "Sway 95 % ellipse area", "m^2/s^4"),
    factor_rank=90,
    progress_rank=70,
    ucum="m2/s4",
)


def _quiet(key: str, title: str, text: str) -> reg.Stage:
    return reg.Stage(key, title, text, 30.0)


reg.register(
    reg.ClinicalTest(
        key=TEST_KEY,
        title="Quiet stance (mCTSIB, 4 conditions)",
        rank=20,
        make=lambda norms: SwayTest(),
        protocol=reg.TestProtocol(
            patient_instructions=(
                "Stand still with your feet together and your arms crossed, looking at a point "
                "in front of you. Close your eyes when asked."
            ),
            therapist_instructions=(
                "Four 30-s conditions: eyes open and closed on the firm floor, then on foam. "
                "Press L if the patient steps or you must help."
            ),
            stages=(
                _quiet("eo_firm", "Eyes open, firm", "Eyes open, on the floor."),
                _quiet("ec_firm", "Eyes closed, firm", "Close your eyes, on the floor."),
                _quiet("eo_foam", "Eyes open, foam", "Eyes open, standing on the foam pad."),
                _quiet("ec_foam", "Eyes closed, foam", "Close your eyes, on the foam pad."),
            ),
            countdown_s=5.0,
            source="Shumway-Cook & Horak 1986 (mCTSIB); sway after Mancini et al. 2012",
            quiet_stance=True,
        ),
        measures=(SWAY_RMS, SWAY_AREA),
        headline=reg.Headline(
            "ellipse_area_m2ps4", "m^2/s^4", 4, lambda t, r: f"95 % ellipse area {t}" if t else t
        ),
        needs_gyroscope=False,
        norms={TEST_KEY: NORMS},
    )
)
reg.register(reg.ResultSource("stance", measures=(SWAY_RMS, SWAY_AREA), view=_eo_firm))

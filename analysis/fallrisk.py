"""Fall-risk summary: every measured factor with its value, threshold, source and status.

The summary never reduces to a bare score. Each :class:`Factor` shows the value, its unit,
the thresholds it was compared with (each with its source), and a status:

* ``normal``: on the safe side of every threshold;
* ``elevated``: past a secondary (weaker-evidence or two-tier) threshold;
* ``at_risk``: past the primary threshold from the guideline;
* ``not_rated``: measured but no threshold applies (no norm for the age, or none exists,
  e.g. accelerometric sway);
* ``invalid``: the test was run but its result is not valid (the reason is given).

Thresholds (all from ``analysis/data/norms.json``, which the caller loads and passes in;
``analysis`` does no file I/O, :func:`poise.assessments.load_norms` reads it):

============================  ===========================  ==================================
factor                        elevated                     at_risk
============================  ===========================  ==================================
TUG time                      --                           >= 12 s (STEADI)
30-s chair stand              --                           below the STEADI age/sex norm
4-stage: tandem held          --                           < 10 s (STEADI)
5x sit-to-stand               >= 12 s (Lusardi 2017)       >= 15 s (Buatois 2008)
gait speed                    < 1.0 m/s (Kyrdalen 2019)    < 0.8 m/s (World Falls Guidelines)
stride-time SD                >= 68 ms (Poise choice)      >= 106 ms (Hausdorff 2001 fallers)
6-min walk distance           < Enright-Sherrill LLN       --
============================  ===========================  ==================================

Overall level (documented rule, modelled on the CDC STEADI algorithm):

* ``high``: two or more factors ``at_risk``, or one ``at_risk`` factor and a reported fall in
  the past year (``demographics["falls_past_year"] >= 1``);
* ``moderate``: exactly one factor ``at_risk``, or any factor ``elevated``;
* ``low``: at least one rated factor, none ``at_risk`` or ``elevated``;
* ``not_determined``: no valid, rated factor.

References
----------
CDC STEADI (Stopping Elderly Accidents, Deaths & Injuries): Timed Up & Go, 30-Second Chair
Stand, 4-Stage Balance Test assessment sheets; Algorithm for Fall Risk Screening,
Assessment and Intervention (2017/2019).
Bohannon R. W. (2006). Reference values for the Timed Up and Go test: a descriptive
meta-analysis. J Geriatr Phys Ther 29(2):64-68.
Lusardi M. M. et al. (2017). J Geriatr Phys Ther 40(1):1-36.
Buatois S. et al. (2008). J Am Geriatr Soc 56(8):1575-1577.
Montero-Odasso M. et al. (2022). World guidelines for falls prevention and management for
older adults. Age Ageing 51(9):afac205.
Hausdorff J. M., Rios D. A., Edelberg H. K. (2001). Arch Phys Med Rehabil 82(8):1050-1056.
Enright P. L., Sherrill D. L. (1998). Am J Respir Crit Care Med 158(5):1384-1387.
Kyrdalen I. L. et al. (2019). Associations between gait speed and well-known fall risk
factors among community-dwelling older adults. Physiother Res Int 24(1):e1743.
Middleton A., Fritz S. L., Lusardi M. (2015). Walking speed: the functional vital sign.
J Aging Phys Act 23(2):314-322.

Notes: differences to the original
----------------------------------
* STEADI grades risk from screening questions (falls, unsteadiness, worry) plus the tests;
  Poise only has the tests and an optional fall count, so its level is a test-based
  summary, not the STEADI risk category.
* The stride-time SD thresholds are a Poise choice derived from Hausdorff's group means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from analysis.clinical.base import ClinicalResult, Validity, age_band, to_jsonable

__all__ = [
    "Factor",
    "FallRiskSummary",
    "FallRiskAssessor",
    "measures_from_results",
    "DISCLAIMER",
    "LEVELS",
]

DISCLAIMER = (
    "This summary supports, and does not replace, a clinician's judgement. It lists the "
    "factors measured in this session against published thresholds; it is not a diagnosis "
    "and does not cover fall history, medication, vision, home hazards or other risk factors "
    "that a full assessment (e.g. CDC STEADI) includes."
)
LEVELS = ("low", "moderate", "high", "not_determined")
STATUSES = ("normal", "elevated", "at_risk", "not_rated", "invalid")


@dataclass
class Factor:
    """One fall-risk factor as shown to the clinician."""

    key: str
    label: str
    value: float | None
    unit: str
    status: str
    thresholds: list[dict[str, Any]] = field(default_factory=list)
    source: str = ""
    test: str = ""
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "label": self.label,
            "value": to_jsonable(self.value),
            "unit": self.unit,
            "status": self.status,
            "thresholds": to_jsonable(self.thresholds),
            "source": self.source,
            "test": self.test,
            "note": self.note,
        }


@dataclass(kw_only=True)
class FallRiskSummary(ClinicalResult):
    """All factors, the overall level, the rule that gave it, and the disclaimer."""

    test: str = "fall-risk"
    level: str = "not_determined"
    rule: str = ""
    level_reason: str = ""
    n_at_risk: int = 0
    n_elevated: int = 0
    factors: list[Factor] = field(default_factory=list)
    not_measured: list[str] = field(default_factory=list)
    disclaimer: str = DISCLAIMER


# --------------------------------------------------------------------------- inputs


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        v = d.get(k)
        if v is not None:
            return v
    return None


def _validity_of(d: dict[str, Any]) -> dict[str, Any]:
    v = d.get("validity")
    if isinstance(v, Validity):
        return v.to_dict()
    if isinstance(v, dict):
        return v
    return Validity.ok().to_dict()


def measures_from_results(results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Canonical fall-risk measures from test results keyed by test name.

    ``results`` maps a test name (``"tug"``, ``"chair-stand-30s"``, ``"five-times-sts"``,
    ``"four-stage"``, ``"walk-2min"``, ``"walk-6min"``, ``"gait"``, ``"sway"``, ``"stance"``)
    to the result's ``to_dict()`` (or the result object). Key names of the result dicts are
    looked up tolerantly (``total_time_s`` or ``time_s``, ...).

    Gait speed and stride-time variability come from walking tests (``walk-2min``,
    ``walk-6min``) or a ``gait``/``walk`` result only: a speed measured inside a TUG or a
    chair test (short walks with turns and transitions) is not the gait-speed factor.

    Returns
    -------
    dict
        canonical key -> ``{"value": float|None, "validity": {...}, "test": name}``.
    """
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, value: Any, res: dict[str, Any], test: str) -> None:
        if value is None and _validity_of(res).get("valid", True):
            return
        # keep the first valid entry if several tests measure the same thing
        if key in out and out[key]["validity"].get("valid", True):
            return
        out[key] = {"value": value, "validity": _validity_of(res), "test": test}

    for test, res in results.items():
        if res is None:
            continue
        if hasattr(res, "to_dict"):
            res = res.to_dict()
        name = str(test).lower()
        if name == "tug":
            # the TUG's walks (3 m with turns) are not the gait-speed factor
            put("tug_time_s", _first(res, "total_time_s", "time_s", "duration_s"), res, test)
        elif name == "chair-stand-30s":
            put(
                "chair_stand_30s_count",
                _first(res, "n_stands", "stands", "count", "repetitions", "n_repetitions"),
                res,
                test,
            )
        elif name == "five-times-sts":
            put("five_times_sts_time_s", _first(res, "total_time_s", "time_s"), res, test)
        elif name == "four-stage":
            put("tandem_time_s", _first(res, "tandem_time_s", "tandem_held_s"), res, test)
        elif name in ("walk-2min", "walk-6min", "gait", "walk"):
            speed = _first(
                res, "gait_speed_mps", "mean_speed_mps", "speed_mps", "walking_speed_mps"
            )
            put("gait_speed_mps", speed, res, test)
            sd_ms = _first(res, "stride_time_sd_ms")
            if sd_ms is None and res.get("stride_time_sd_s") is not None:
                sd_ms = 1000.0 * float(res["stride_time_sd_s"])
            put("stride_time_sd_ms", sd_ms, res, test)
            if name == "walk-6min":
                put(
                    "six_minute_walk_distance_m",
                    _first(res, "distance_m", "total_distance_m"),
                    res,
                    test,
                )
        elif name in ("sway", "stance"):
            src = res
            if name == "stance":
                conds = res.get("conditions") or {}
                # QuietStance names its conditions eo_firm, ... (the protocol's stage keys)
                src = conds.get("eo_firm") or conds.get("eo-firm") or {}
                src = {**src, "validity": src.get("validity", _validity_of(res))}
            put("sway_rms_mps2", _first(src, "rms_mps2"), src, test)
            put("sway_ellipse_area_m2ps4", _first(src, "ellipse_area_m2ps4"), src, test)
    return out


# --------------------------------------------------------------------------- assessment


def _sex(demo: dict[str, Any]) -> str | None:
    s = demo.get("sex")
    if s is None:
        return None
    s = str(s).strip().lower()
    return {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}.get(s)


def _graded(
    what: tuple[str, str, str],
    v: float | None,
    comparison: str,
    elevated: tuple[float, str],
    at_risk: tuple[float, str],
    source: str,
    note: str = "",
) -> Factor:
    """A factor with two thresholds: ``at_risk`` beyond the second, ``elevated`` beyond the
    first, else ``normal``; ``comparison`` is ``">="`` (higher is worse) or ``"<"``."""
    key, label, unit = what
    worse = (lambda x, t: x >= t) if comparison == ">=" else (lambda x, t: x < t)
    status = "normal"
    if v is not None and worse(v, at_risk[0]):
        status = "at_risk"
    elif v is not None and worse(v, elevated[0]):
        status = "elevated"
    thresholds = [
        {"value": t, "comparison": comparison, "status": st, "source": src}
        for st, (t, src) in (("elevated", elevated), ("at_risk", at_risk))
    ]
    return Factor(key, label, v, unit, status, thresholds, source, note=note)


class FallRiskAssessor:
    """Rate each measured factor against ``norms`` and derive the overall level.

    Parameters
    ----------
    norms : dict
        The content of ``analysis/data/norms.json`` (loaded by the caller).

    Attributes
    ----------
    summary_ : FallRiskSummary
    """

    def __init__(self, norms: dict[str, Any]) -> None:
        for key in ("tug", "chair_stand_30s", "four_stage", "five_times_sts", "gait_speed"):
            if key not in norms:
                raise ValueError(
                    f"norms table lacks the {key!r} section (see analysis/data/norms.json)"
                )
        self.norms = norms

    def assess(
        self, measures: dict[str, Any], demographics: dict[str, Any] | None = None
    ) -> FallRiskAssessor:
        """Build the summary from canonical measures (see :func:`measures_from_results`).

        A measure may be a bare number or ``{"value", "validity", "test"}``. Returns ``self``.
        """
        demo = dict(demographics or {})
        for key in ("age", "height_m", "weight_kg", "falls_past_year"):
            if demo.get(key) is not None:
                try:
                    demo[key] = float(demo[key])
                except (TypeError, ValueError):
                    raise ValueError(
                        f"demographics[{key!r}] must be a number, got {demo[key]!r}"
                    ) from None
        norm_m = {
            k: (
                v if isinstance(v, dict) else {"value": v, "validity": _validity_of({}), "test": ""}
            )
            for k, v in measures.items()
        }
        factors: list[Factor] = []
        builders = (
            ("tug_time_s", self._tug),
            ("chair_stand_30s_count", self._chair),
            ("tandem_time_s", self._tandem),
            ("five_times_sts_time_s", self._five_sts),
            ("gait_speed_mps", self._gait_speed),
            ("stride_time_sd_ms", self._stride_sd),
            ("six_minute_walk_distance_m", self._six_mw),
            ("sway_rms_mps2", self._sway("sway_rms_mps2", "Sway RMS (eyes open, firm)", "m/s^2")),
            (
                "sway_ellipse_area_m2ps4",
                self._sway("sway_ellipse_area_m2ps4", "Sway 95 % ellipse area", "m^2/s^4"),
            ),
        )
        not_measured = []
        for key, build in builders:
            m = norm_m.get(key)
            if m is None:
                not_measured.append(key)
                continue
            validity = m.get("validity") or {}
            if not validity.get("valid", True):
                f = build(None, demo)
                f.status = "invalid"
                f.value = None
                f.note = f"test result not valid: {validity.get('reason', '')}".strip()
            else:
                f = build(float(m["value"]), demo)
            f.test = m.get("test", "") or ""
            factors.append(f)

        n_risk = sum(f.status == "at_risk" for f in factors)
        n_elev = sum(f.status == "elevated" for f in factors)
        n_rated = sum(f.status in ("normal", "elevated", "at_risk") for f in factors)
        falls = demo.get("falls_past_year")
        fell = falls is not None and float(falls) >= 1
        if n_rated == 0:
            level, why = "not_determined", "no valid, rated factor was measured"
        elif n_risk >= 2:
            level, why = "high", f"{n_risk} factors at risk"
        elif n_risk == 1 and fell:
            level, why = "high", "one factor at risk and a fall in the past year"
        elif n_risk == 1:
            level, why = "moderate", "one factor at risk"
        elif n_elev >= 1:
            level, why = "moderate", f"{n_elev} factor(s) elevated, none at risk"
        else:
            level, why = "low", f"{n_rated} rated factor(s), none elevated or at risk"
        rule = self.norms.get("overall_rule", {})
        rule_text = "; ".join(f"{k}: {rule[k]}" for k in LEVELS if k in rule)
        self.summary_ = FallRiskSummary(
            level=level,
            level_reason=why,
            rule=rule_text,
            n_at_risk=n_risk,
            n_elevated=n_elev,
            factors=factors,
            not_measured=not_measured,
            validity=Validity.ok()
            if n_rated
            else Validity.invalid(
                "not_detected", "no valid, rated fall-risk factor in this session"
            ),
        )
        return self

    # ----------------------------------------------------------------- factor builders
    def _tug(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms["tug"]
        thr = float(n["at_risk_threshold_s"])
        note = ""
        band = age_band(n.get("norms_by_age", {}).get("bands", []), demo.get("age"))
        if band is not None:
            note = (
                f"age norm {band['mean_s']} s for {band['age_min_y']}-{band['age_max_y']} y "
                f"({n['norms_by_age']['source']})"
            )
        status = "normal" if v is None or v < thr else "at_risk"
        return Factor(
            "tug_time_s",
            "Timed Up and Go",
            v,
            "s",
            status,
            [{"value": thr, "comparison": ">=", "status": "at_risk", "source": n["source"]}],
            n["source"],
            note=note,
        )

    def _chair(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms["chair_stand_30s"]
        band = age_band(n["below_average_if_fewer_than"], demo.get("age"))
        sex = _sex(demo)
        if band is None or sex is None:
            why = (
                "age and sex are needed for the norm"
                if demo.get("age") is None or sex is None
                else f"no norm for age {demo.get('age')} (table covers 60-94 y)"
            )
            return Factor(
                "chair_stand_30s_count",
                "30-second chair stand",
                v,
                "stands",
                "not_rated",
                [],
                n["source"],
                note=why,
            )
        thr = float(band[sex])
        status = "normal" if v is None or v >= thr else "at_risk"
        return Factor(
            "chair_stand_30s_count",
            "30-second chair stand",
            v,
            "stands",
            status,
            [
                {
                    "value": thr,
                    "comparison": "<",
                    "status": "at_risk",
                    "source": n["source"],
                    "norm": f"{'men' if sex == 'm' else 'women'} "
                    f"{band['age_min_y']}-{band['age_max_y']} y",
                }
            ],
            n["source"],
        )

    def _tandem(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms["four_stage"]
        thr = float(n["tandem_min_s"])
        status = "normal" if v is None or v >= thr else "at_risk"
        return Factor(
            "tandem_time_s",
            "4-stage balance: tandem stance held",
            v,
            "s",
            status,
            [{"value": thr, "comparison": "<", "status": "at_risk", "source": n["source"]}],
            n["source"],
        )

    def _five_sts(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms["five_times_sts"]
        return _graded(
            ("five_times_sts_time_s", "Five times sit-to-stand", "s"),
            v,
            ">=",
            (float(n["elevated_threshold_s"]), n["elevated_source"]),
            (float(n["at_risk_threshold_s"]), n["at_risk_source"]),
            f"{n['elevated_source']} {n['at_risk_source']}",
        )

    def _gait_speed(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms["gait_speed"]
        return _graded(
            ("gait_speed_mps", "Gait speed", "m/s"),
            v,
            "<",
            (float(n["elevated_below_mps"]), n["elevated_source"]),
            (float(n["at_risk_below_mps"]), n["at_risk_source"]),
            f"{n['at_risk_source']} {n['elevated_source']}",
        )

    def _stride_sd(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms.get("stride_time_variability")
        if not n:
            return Factor("stride_time_sd_ms", "Stride-time variability (SD)", v, "ms", "not_rated")
        return _graded(
            ("stride_time_sd_ms", "Stride-time variability (SD)", "ms"),
            v,
            ">=",
            (float(n["elevated_sd_ms"]), n["choice"]),
            (float(n["at_risk_sd_ms"]), n["source"]),
            n["source"],
            note=n.get("choice", ""),
        )

    def _six_mw(self, v: float | None, demo: dict[str, Any]) -> Factor:
        n = self.norms.get("six_minute_walk")
        label = "6-minute walk distance"
        sex = _sex(demo)
        age, h_m, w = demo.get("age"), demo.get("height_m"), demo.get("weight_kg")
        if not n or sex is None or None in (age, h_m, w):
            return Factor(
                "six_minute_walk_distance_m",
                label,
                v,
                "m",
                "not_rated",
                [],
                (n or {}).get("source", ""),
                note="age, sex, height and weight are needed for the reference equation",
            )
        pred = predicted_six_minute_walk_m(n, sex, float(age), 100.0 * float(h_m), float(w))
        c = n["male" if sex == "m" else "female"]
        lln = pred + float(c["lower_limit_offset_m"])
        status = "normal" if v is None or v >= lln else "elevated"
        note = f"predicted {pred:.0f} m" + (f", {100 * v / pred:.0f} % of predicted" if v else "")
        return Factor(
            "six_minute_walk_distance_m",
            label,
            v,
            "m",
            status,
            [{"value": lln, "comparison": "<", "status": "elevated", "source": n["source"]}],
            n["source"],
            note=note + "; reduced endurance, not a fall-risk factor by itself",
        )

    def _sway(self, key: str, label: str, unit: str):
        def build(v: float | None, demo: dict[str, Any]) -> Factor:
            n = self.norms.get("sway", {})
            return Factor(
                key,
                label,
                v,
                unit,
                "not_rated",
                [],
                n.get("source", ""),
                note="no normative fall-risk threshold; for information and progress",
            )

        return build


def predicted_six_minute_walk_m(
    table: dict[str, Any], sex: str, age_y: float, height_cm: float, weight_kg: float
) -> float:
    """Enright & Sherrill (1998) predicted 6-minute walk distance (m)."""
    c = table["male" if sex == "m" else "female"]
    return float(
        c["height_cm"] * height_cm
        + c["age_y"] * age_y
        + c["weight_kg"] * weight_kg
        + c["intercept_m"]
    )

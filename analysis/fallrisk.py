"""Fall-risk summary: every measured factor with its value, threshold, source and status.

The summary never reduces to a bare score. Each :class:`Factor` shows the value, its unit,
the thresholds it was compared with (each with its source), and a status:

* ``normal``: on the safe side of every threshold;
* ``elevated``: past a secondary (weaker-evidence or two-tier) threshold;
* ``at_risk``: past the primary threshold from the guideline;
* ``not_rated``: measured but no threshold applies (no norm for the age, or none exists,
  e.g. accelerometric sway);
* ``invalid``: the test was run but its result is not valid (the reason is given).

The factors are the measures of the clinical-test registry that carry a rating
(:func:`analysis.clinical.registry.factor_measures`, in their ``factor_rank`` order); each
measure's ``rate`` compares the value with the thresholds of its test's normative tables
(:func:`default_norms`, every section with its source). Today:

============================  ===========================  ==================================
factor                        elevated                     at_risk
============================  ===========================  ==================================
TUG time                      --                           >= 12 s (STEADI)
30-s chair stand              --                           below the STEADI age/sex norm
4-stage: tandem held          --                           < 10 s (STEADI)
single-leg stance (better)    --                           < 5 s (Vellas 1997)
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

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from analysis.clinical import registry
from analysis.clinical.base import ClinicalResult, Validity
from analysis.clinical.registry import Factor
from analysis.clinical.walk import predicted_six_minute_walk_m

__all__ = [
    "Factor",
    "FallRiskSummary",
    "FallRiskAssessor",
    "OVERALL_RULE",
    "default_norms",
    "measures_from_results",
    "predicted_six_minute_walk_m",
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


#: How the overall level is decided (shown with every summary).
OVERALL_RULE: dict[str, str] = {
    "source": "Poise rule (docs/clinical.md), modelled on CDC STEADI's algorithm: screening "
    "deficits in gait, strength or balance plus a fall history escalate the risk.",
    "high": "two or more factors at_risk, or one at_risk factor with a reported fall in the past "
    "year",
    "moderate": "exactly one factor at_risk, or any factor elevated",
    "low": "at least one rated factor and none at_risk or elevated",
    "not_determined": "no valid, rated factor was measured",
}


def default_norms() -> dict[str, Any]:
    """The normative tables: every registry entry's sections and the overall rule (a copy)."""
    return {**registry.norms_sections(), "overall_rule": dict(OVERALL_RULE)}


# --------------------------------------------------------------------------- inputs


def _validity_of(d: Mapping[str, Any]) -> dict[str, Any]:
    v = d.get("validity")
    if isinstance(v, Validity):
        return v.to_dict()
    if isinstance(v, dict):
        return v
    return Validity.ok().to_dict()


def measures_from_results(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Canonical measures from results keyed by their name (a test key, ``gait``...).

    Each name is looked up in the registry (:func:`analysis.clinical.registry.result_source`);
    the entry's measures are read from the result's ``to_dict()`` (or the result object). A
    name the registry does not know gives nothing. Gait speed and stride-time variability
    are measures of the walking tests and of a ``gait`` result only: a speed measured inside
    a TUG or a chair test (short walks with turns and transitions) is not the factor.

    Returns
    -------
    dict
        measure key -> ``{"value": float|None, "validity": {...}, "test": name}``.
    """
    out: dict[str, dict[str, Any]] = {}

    def put(key: str, value: object, res: Mapping[str, Any], test: str) -> None:
        if value is None and _validity_of(res).get("valid", True):
            return
        # keep the first valid entry if several tests measure the same thing
        if key in out and out[key]["validity"].get("valid", True):
            return
        out[key] = {"value": value, "validity": _validity_of(res), "test": test}

    for test, res in results.items():
        entry = registry.result_source(str(test).lower())
        if res is None or entry is None:
            continue
        if hasattr(res, "to_dict"):
            res = res.to_dict()
        src = entry.viewed(res)
        for m in entry.measures:
            put(m.key, m.value(src), src, test)
    return out


# --------------------------------------------------------------------------- assessment


class FallRiskAssessor:
    """Rate each measured factor against ``norms`` and derive the overall level.

    Parameters
    ----------
    norms : dict or None
        The normative tables (default: :func:`default_norms`).

    Attributes
    ----------
    summary_ : FallRiskSummary
    """

    def __init__(self, norms: Mapping[str, Any] | None = None) -> None:
        self.norms = default_norms() if norms is None else norms
        for m in registry.factor_measures():
            try:
                m.rate(None, {}, self.norms)  # type: ignore[misc]
            except KeyError as exc:
                raise ValueError(
                    f"norms table lacks the {exc.args[0]!r} section (the {m.test} entry's)"
                ) from None

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
        factors: list[Factor] = []
        not_measured = []
        for measure in registry.factor_measures():
            m = measures.get(measure.key)
            if m is None:
                not_measured.append(measure.key)
                continue
            if not isinstance(m, dict):
                m = {"value": m, "validity": _validity_of({}), "test": ""}
            factors.append(self._factor(measure, m, demo))
        self.summary_ = self._summary(factors, not_measured, demo.get("falls_past_year"))
        return self

    def _factor(self, measure: registry.Measure, m: dict[str, Any], demo: dict) -> Factor:
        rate = measure.rate
        assert rate is not None
        validity = m.get("validity") or {}
        if not validity.get("valid", True):
            f = rate(None, demo, self.norms)
            f.status = "invalid"
            f.value = None
            f.note = f"test result not valid: {validity.get('reason', '')}".strip()
        else:
            f = rate(float(m["value"]), demo, self.norms)
        f.test = m.get("test", "") or ""
        return f

    def _summary(self, factors: list[Factor], not_measured: list[str], falls: Any) -> Any:
        n_risk = sum(f.status == "at_risk" for f in factors)
        n_elev = sum(f.status == "elevated" for f in factors)
        n_rated = sum(f.status in ("normal", "elevated", "at_risk") for f in factors)
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
        return FallRiskSummary(
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

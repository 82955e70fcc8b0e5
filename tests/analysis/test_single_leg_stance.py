"""Single-leg stance per side: hold times against the scenario's truth, the guided stages,
validity, norms, fall risk, and every consumer of the registry end to end."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.clinical.registry import TestContext
from analysis.clinical.single_leg_stance import SingleLegStance
from poise.assessments import session_fall_risk
from sensors import scenarios as sc

KEY = "single-leg-stance"
SCENARIO = sc.TEST_SCENARIOS[KEY]


def _analyze(md, context=None):
    fs = md.sampling_rate_hz
    return SingleLegStance().analyze(
        md.acc_mps2, md.gyr_radps, sampling_rate_hz=fs, context=context
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_hold_times_match_the_truth_on_any_mount(seed):
    mount = sc.random_mount(np.random.default_rng(seed))
    held = (12.0 - 2 * seed, 3.0 + 3 * seed)
    md = sc.single_leg_stance(
        held, seed=seed, mount=mount, sampling_rate_hz=(100.0, 50.0)[seed % 2]
    )
    r = _analyze(md).result_
    assert r.valid, r.validity
    assert r.segmentation == "automatic"
    assert r.left_s == pytest.approx(md.truth["left_s"], abs=0.5)
    assert r.right_s == pytest.approx(md.truth["right_s"], abs=0.5)
    assert r.best_s == max(r.left_s, r.right_s)
    assert [s.ended_by for s in r.sides] == ["touch-down", "touch-down"]


def test_the_guided_stages_and_the_maximum():
    md = sc.single_leg_stance((35.0, 6.0), seed=4)  # holds the left leg past the maximum
    left, right = md.truth["sides"]
    events = [
        {"kind": "stage_start", "stage": "left", "t_s": left["start_s"] - 2.0},
        {"kind": "stage_end", "stage": "left", "t_s": left["end_s"] + 1.0},
        {"kind": "stage_start", "stage": "right", "t_s": right["start_s"] - 2.0},
        {"kind": "marker", "marker": "lost_balance", "t_s": right["start_s"] + 3.0},
        {"kind": "stage_end", "stage": "right", "t_s": right["end_s"] + 1.0},
    ]
    r = _analyze(md, TestContext({"age": 75}, events)).result_
    assert r.valid and r.segmentation == "events"
    assert r.left_s == pytest.approx(30.0) and r.sides[0].ended_by == "maximum"
    # the therapist's marker comes before the touch-down the trunk shows
    assert r.right_s == pytest.approx(3.0, abs=0.5) and r.sides[1].ended_by == "marker"
    assert r.norm_mean_s == 17.2 and r.norm_age_group == "70-79 y"  # Bohannon 2006


def test_walking_and_standing_still_are_not_single_leg_stance():
    walk = sc.walk(20.0, seed=5)
    r = _analyze(walk).result_
    assert not r.valid and r.validity.code == "wrong_activity"
    still = sc.quiet_stance(20.0, seed=6)
    r = _analyze(still).result_
    assert not r.valid and "no foot lift found" in r.validity.reason
    short = sc.quiet_stance(2.0, seed=6)
    assert _analyze(short).result_.validity.code == "too_short"


def test_one_side_only_is_valid_and_says_so():
    md = sc.single_leg_stance((8.0,), seed=7)
    r = _analyze(md).result_
    assert r.valid and "one side only" in r.validity.reason
    assert r.left_s == pytest.approx(8.0, abs=0.5) and r.right_s is None


def test_fall_risk_from_the_better_leg():
    md = sc.single_leg_stance((3.0, 4.0), seed=8)
    r = _analyze(md).result_
    assert r.at_risk is True
    fr = session_fall_risk(results={KEY: r.to_dict()}, demographics={"age": 81})
    f = next(f for f in fr["factors"] if f["key"] == "single_leg_stance_best_s")
    assert f["status"] == "at_risk" and f["test"] == KEY
    assert f["thresholds"][0]["value"] == 5.0 and "Vellas" in f["source"]
    assert "8.5" in f["note"]  # the Bohannon (2006) mean for 80-99 years


def test_end_to_end(clinical_e2e):
    demo = {"age": 72, "sex": "f", "height_m": 1.7, "weight_kg": 70}
    md = sc.single_leg_stance()  # left 12 s, right 4 s
    out = clinical_e2e.cli(KEY, md, {"age": 72})
    assert out["test"] == KEY and out["left_s"] == pytest.approx(md.truth["left_s"], abs=0.5)
    # lifts at 5.0 and 24.7 s, touch-downs at 18.5 and 30.2 s (3-s countdowns)
    plan = [("left", 20.5), ("right", 31.5)]
    run = clinical_e2e.guided(KEY, SCENARIO, plan, demo)
    res = run.events_result()
    assert res["left_s"] == pytest.approx(md.truth["left_s"], abs=0.5)
    assert res["right_s"] == pytest.approx(md.truth["right_s"], abs=0.5)
    assert run.title.startswith("Single-leg stance: left 12")
    assert run.factors.get("Single-leg stance (better leg)") == "normal"
    stored = clinical_e2e.stored(KEY, run.recording, demo)
    series = stored["progress"]["single_leg_stance_right_s"]
    assert series.values == [pytest.approx(res["right_s"])]
    assert series.references[0]["value"] == 17.2
    assert stored["pdf_pages"] >= 1
    # Poise codes: no LOINC term
    assert {"single_leg_stance_left_s", "single_leg_stance_best_s"} <= stored["codes"]

"""10-metre walk test: comfortable and fast speed against the scenario's truth, validity,
norms, fall risk, and every consumer of the registry end to end."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.clinical.registry import TestContext
from analysis.clinical.ten_metre_walk import TenMetreWalk
from poise.assessments import session_fall_risk
from sensors import scenarios as sc

KEY = "ten-metre-walk"
SCENARIO = sc.TEST_SCENARIOS[KEY]


def _analyze(md, **demo):
    demo.setdefault("sensor_height_m", md.truth["subject"]["sensor_height_m"])
    ctx = TestContext(demo)
    return TenMetreWalk().analyze(
        md.acc_mps2, md.gyr_radps, sampling_rate_hz=md.sampling_rate_hz, context=ctx
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_speeds_match_the_truth_on_any_mount(seed):
    mount = sc.random_mount(np.random.default_rng(seed))
    md = sc.ten_metre_walk(
        comfortable=(95.0 + 5 * seed, 0.55 + 0.04 * seed), seed=seed, mount=mount
    )
    r = _analyze(md).result_
    assert r.valid, r.validity
    # the inverted-pendulum step length carries its few-percent error (as the timed walks)
    assert r.comfortable_speed_mps == pytest.approx(md.truth["comfortable_speed_mps"], rel=0.12)
    assert r.fast_speed_mps == pytest.approx(md.truth["fast_speed_mps"], rel=0.12)
    assert r.fast_speed_mps > r.comfortable_speed_mps
    assert r.comfortable_time_s == pytest.approx(10.0 / r.comfortable_speed_mps)
    assert r.segmentation == "automatic"


def test_the_guided_stages_delimit_the_trials():
    md = sc.ten_metre_walk(seed=4, sampling_rate_hz=50.0)
    trials = md.truth["trials"]
    events = []
    for t in trials:
        events += [
            {"kind": "stage_start", "stage": t["pace"], "t_s": t["start_s"] - 1.0},
            {"kind": "stage_end", "stage": t["pace"], "t_s": t["end_s"] + 1.0},
        ]
    ctx = TestContext({"sensor_height_m": md.truth["subject"]["sensor_height_m"]}, events)
    r = TenMetreWalk().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=50.0, context=ctx)
    res = r.result_
    assert res.valid and res.segmentation == "events"
    assert [t.pace for t in res.trials] == ["comfortable", "fast"]
    assert res.comfortable_speed_mps == pytest.approx(trials[0]["speed_mps"], rel=0.12)


def test_a_walk_too_short_for_ten_metres_is_not_valid():
    md = sc.ten_metre_walk(path_m=6.0, fast=None, seed=5)
    r = _analyze(md).result_
    assert not r.valid and r.validity.code == "too_short"
    assert "walked" in r.validity.reason and "10 m timed" in r.validity.reason
    assert r.comfortable_speed_mps is None


def test_no_walking_and_a_sensor_on_the_leg_are_not_valid():
    quiet = sc.quiet_stance(20.0, seed=6)
    r = TenMetreWalk().analyze(quiet.acc_mps2, quiet.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.validity.reason == "no walking found"
    md = sc.ten_metre_walk(seed=7)
    # a shank swings about the medio-lateral axis at several hundred deg/s at stride rhythm
    up = md.acc_mps2[:100].mean(0)
    axis = np.cross(up, [0.0, 0.0, 1.0] if abs(up[2]) < 5 else [1.0, 0.0, 0.0])
    axis /= np.linalg.norm(axis)
    t = np.arange(len(md.acc_mps2)) / md.sampling_rate_hz
    walking = np.zeros(len(t), bool)
    for tr in md.truth["trials"]:
        walking |= (t >= tr["start_s"]) & (t < tr["end_s"])
    swing = np.radians(350.0) * np.sin(2 * np.pi * 0.9 * t) * walking
    gyr = md.gyr_radps + np.outer(swing, axis)
    r = TenMetreWalk().analyze(md.acc_mps2, gyr, sampling_rate_hz=100.0).result_
    assert not r.valid and "like a leg" in r.validity.reason


def test_norms_and_the_gait_speed_factor():
    md = sc.ten_metre_walk(comfortable=(88.0, 0.45), fast=(100.0, 0.5), seed=8)
    r = _analyze(md, age=72, sex="f").result_
    assert r.norm_comfortable_mps == 1.272 and r.norm_fast_mps == 1.749  # Bohannon 1997
    assert r.norm_age_group == "70-79 y"
    assert r.comfortable_speed_mps < 0.8
    fr = session_fall_risk(results={KEY: r.to_dict()}, demographics={"age": 72, "sex": "f"})
    speed = next(f for f in fr["factors"] if f["key"] == "gait_speed_mps")
    assert speed["status"] == "at_risk" and speed["test"] == KEY
    assert "Montero-Odasso" in speed["thresholds"][1]["source"]


def test_end_to_end(clinical_e2e):
    md = sc.ten_metre_walk()
    subject = md.truth["subject"]  # what the clinic enters for this patient
    demo = {"age": 72, "sex": "f", "weight_kg": 70}
    demo |= {k: subject[k] for k in ("height_m", "sensor_height_m")}
    out = clinical_e2e.cli(KEY, md, demo)
    assert out["test"] == KEY and out["validity"]["valid"]
    assert out["fast_speed_mps"] == pytest.approx(md.truth["fast_speed_mps"], rel=0.12)
    # the scenario's comfortable walk starts at 5 s, the fast one at 23.3 s (3-s countdowns)
    plan = [("comfortable", 20.0), ("fast", 35.0)]
    run = clinical_e2e.guided(KEY, SCENARIO, plan, demo)
    res = run.events_result()
    assert res["comfortable_speed_mps"] == pytest.approx(
        md.truth["comfortable_speed_mps"], rel=0.12
    )
    assert run.title.startswith("10-metre walk test: comfortable")
    assert "Gait speed" in run.factors
    stored = clinical_e2e.stored(KEY, run.recording, demo)
    assert stored["progress"]["fast_gait_speed_mps"].values == [
        pytest.approx(res["fast_speed_mps"])
    ]
    refs = stored["progress"]["fast_gait_speed_mps"].references
    assert refs and refs[0]["value"] == 1.749
    assert stored["progress"]["gait_speed_mps"].values == [
        pytest.approx(res["comfortable_speed_mps"])
    ]
    assert stored["pdf_pages"] >= 1
    assert {"gait_speed_mps", "fast_gait_speed_mps"} <= stored["codes"]  # Poise codes: no LOINC

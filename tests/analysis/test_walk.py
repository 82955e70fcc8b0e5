"""Two- and six-minute walk tests on synthetic scenarios with known distance and fatigue."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.clinical.registry import TestContext
from analysis.clinical.walk import TimedWalk, enright_sherrill_6mwd_m
from analysis.fallrisk import default_norms
from sensors import scenarios as sc


@pytest.fixture(scope="module")
def six_min():
    md = sc.walk_6min(
        seed=41,
        sampling_rate_hz=50.0,
        fatigue=0.2,
        mount=sc.random_mount(np.random.default_rng(41)),
    )
    r = (
        TimedWalk(6)
        .analyze(
            md.acc_mps2,
            md.gyr_radps,
            sampling_rate_hz=50.0,
            context=TestContext(
                {
                    "sensor_height_m": md.truth["subject"]["sensor_height_m"],
                    "age": 70,
                    "sex": "m",
                    "height_m": 1.75,
                    "weight_kg": 80,
                }
            ),
        )
        .result_
    )
    return md, r


def test_six_minute_distance_and_minutes(six_min):
    md, r = six_min
    assert r.valid, r.validity
    assert r.distance_m == pytest.approx(md.truth["distance_m"], rel=0.10)
    assert len(r.per_minute) == 6
    for est, true in zip(r.per_minute, md.truth["per_minute"]):
        assert est.speed_mps == pytest.approx(true["speed_mps"], rel=0.12)
        assert est.cadence_spm == pytest.approx(true["cadence_spm"], abs=6)
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d
    assert d["per_minute"][0]["minute"] == 1


def test_fatigability_follows_the_speed_decline(six_min):
    md, r = six_min
    pm = md.truth["per_minute"]
    true_fat = (pm[-1]["speed_mps"] - pm[1]["speed_mps"]) / pm[1]["speed_mps"]
    assert true_fat < -0.08
    assert r.fatigability_speed == pytest.approx(true_fat, abs=0.06)
    assert r.fatigability_cadence < 0
    speeds = [m["speed_mps"] for m in pm]
    assert r.deceleration_index == pytest.approx(min(speeds) / max(speeds), abs=0.06)
    assert r.predicted_distance_m == pytest.approx(enright_sherrill_6mwd_m("m", 70, 175, 80))
    assert r.percent_predicted == pytest.approx(100 * r.distance_m / r.predicted_distance_m)


def test_two_minute_walk_without_fatigue():
    md = sc.walk_2min(seed=42, mount=sc.random_mount(np.random.default_rng(42)))
    r = TimedWalk(2).analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert r.valid and r.test == "walk-2min"
    assert r.distance_m == pytest.approx(md.truth["distance_m"], rel=0.10)
    assert r.deceleration_index > 0.9
    assert r.predicted_distance_m is None  # Enright & Sherrill is for 6 minutes


def test_enright_sherrill_equations():
    assert enright_sherrill_6mwd_m("m", 70, 175, 80) == pytest.approx(523.55)
    assert enright_sherrill_6mwd_m("f", 70, 160, 60) == pytest.approx(
        2.11 * 160 - 2.29 * 60 - 5.78 * 70 + 667
    )
    with pytest.raises(ValueError):
        enright_sherrill_6mwd_m("x", 70, 170, 70)


def test_wrong_activity_and_too_short():
    md = sc.quiet_stance(30, seed=43)
    r = TimedWalk(6).analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.distance_m is None and "no walking" in r.validity.reason
    md = sc.walk(40, seed=44)
    r = TimedWalk(2).analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.validity.code == "too_short"


@pytest.mark.parametrize(("sex", "age", "h_cm", "w_kg"), [("m", 66, 181, 92), ("f", 83, 152, 48)])
def test_walk_test_and_fall_risk_predict_the_same_distance(sex, age, h_cm, w_kg):
    # two implementations of Enright & Sherrill: the walk test's and the norms table's

    from analysis.fallrisk import predicted_six_minute_walk_m

    norms = default_norms()
    assert predicted_six_minute_walk_m(
        norms["six_minute_walk"], sex, age, h_cm, w_kg
    ) == pytest.approx(enright_sherrill_6mwd_m(sex, age, h_cm, w_kg), abs=1e-9)


def test_two_minute_walk_of_a_very_slow_walker():
    # 0.15 m/s with 1.5-s steps: found and measured (distance within 0.08 m/s x 120 s)
    from sensors.scenarios import slow_walk

    md = slow_walk("crawl", walk_s=122.0, standing_s=3.0, seed=2)
    h = md.truth["subject"]["sensor_height_m"]
    w = TimedWalk(minutes=2).analyze(
        md.acc_mps2,
        md.gyr_radps,
        sampling_rate_hz=100.0,
        context=TestContext({"sensor_height_m": h}),
    )
    r = w.result_
    assert r.validity.valid, r.validity.reason
    assert abs(r.distance_m - md.truth["distance_m"]) <= 0.08 * 120


def test_walking_too_irregular_to_measure_says_so():
    # the same walk, every stride refused: not "no walking found" but what was seen
    from analysis.gait import GaitAnalyzer, WalkingBoutAssembler
    from sensors.scenarios import slow_walk

    md = slow_walk("very-slow", walk_s=60.0, seed=2)
    strict = GaitAnalyzer(wba=WalkingBoutAssembler(min_stride_length_m=2.0))
    r = TimedWalk(minutes=2, gait_analyzer=strict).analyze(
        md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0
    )
    assert not r.result_.validity.valid
    assert "too slow, irregular or interrupted" in r.result_.validity.reason

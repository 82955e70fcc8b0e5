"""Instrumented TUG on synthetic scenarios (independent generator, random mounts)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.clinical.tug import TimedUpAndGo
from sensors import scenarios as sc


@pytest.mark.parametrize(
    ("seed", "rate", "sts_s"), [(21, 100.0, 1.7), (22, 50.0, 2.4), (23, 200.0, 1.4)]
)
def test_tug_total_time_and_phases(seed, rate, sts_s, mounted_scenario, run_on):
    md = mounted_scenario("tug", seed, sampling_rate_hz=rate, sts_duration_s=sts_s)
    r = run_on(TimedUpAndGo(), md, demographics={"age": 75})
    t = md.truth
    assert r.valid, r.validity
    assert r.total_time_s == pytest.approx(t["total_time_s"], abs=0.5)
    assert r.sit_to_stand_s == pytest.approx(t["sit_to_stand_s"], abs=0.5)
    assert r.turn_s == pytest.approx(t["turn_s"], abs=0.8)
    assert r.walk_out_s == pytest.approx(t["walk_out_s"], abs=0.8)
    assert r.cadence_spm == pytest.approx(t["cadence_spm"], abs=6)
    assert r.turn_angle_deg == pytest.approx(180, abs=30)
    assert r.at_risk == (r.total_time_s >= 12.0)
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d and d["validity"]["valid"]


def test_tug_norms_and_threshold_from_norms_table(run_on):
    md = sc.tug(seed=24, cadence_spm=80, step_length_m=0.4, sts_duration_s=2.5)
    norms = {
        "at_risk_threshold_s": 12.0,
        "norms_by_age": {"bands": [{"age_min_y": 70, "age_max_y": 79, "mean_s": 9.2}]},
    }
    r = run_on(TimedUpAndGo(norms=norms), md, demographics={"age": 74})
    assert r.total_time_s > 12.0 and r.at_risk and r.above_norm and r.norm_mean_s == 9.2
    assert r.norm_age_group == "70-79 y"  # a norm is quoted with its age group


def test_several_cycles_in_the_window_say_which_was_timed():
    # the therapist let the recording run over two TUGs: the first is timed, and the result
    # says there were two (issue 17: the heading must say which one was used)
    a, b = sc.tug(seed=31), sc.tug(seed=32, cadence_spm=80, step_length_m=0.4)
    acc, gyr = np.vstack([a.acc_mps2, b.acc_mps2]), np.vstack([a.gyr_radps, b.gyr_radps])
    r = TimedUpAndGo().analyze(acc, gyr, sampling_rate_hz=100.0).result_
    assert r.valid and r.cycles_found == 2 and r.cycle_used == 1
    assert r.total_time_s == pytest.approx(a.truth["total_time_s"], abs=0.5)
    one = TimedUpAndGo().analyze(a.acc_mps2, a.gyr_radps, sampling_rate_hz=100.0).result_
    assert one.cycles_found == 1


@pytest.mark.parametrize("scenario", ["quiet_stance", "walk"])
def test_wrong_activity_says_so(scenario):
    md = sc.make_scenario(scenario, seed=25)
    r = TimedUpAndGo().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.total_time_s is None
    assert "sit-to-stand" in r.validity.reason


def test_sit_stand_without_walking_is_not_a_tug():
    md = sc.sit_to_stand(seed=26)
    r = TimedUpAndGo().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and "walking" in r.validity.reason


def test_bad_input():
    with pytest.raises(ValueError):
        TimedUpAndGo().analyze(np.zeros((100, 2)), np.zeros((100, 2)), sampling_rate_hz=100.0)
    r = (
        TimedUpAndGo()
        .analyze(np.zeros((100, 3)), np.zeros((100, 3)), sampling_rate_hz=100.0)
        .result_
    )
    assert not r.valid and r.validity.code == "too_short"


def test_walking_around_between_standing_up_and_sitting_down_is_not_a_tug():
    # stand up, walk back and forth with four 180-degree turns, sit down: the sit/stand
    # bracket of a TUG, but not its one turn at the line
    take = sc._setup("custom", {"sampling_rate_hz": 100.0, "seed": 27})
    b = take.b
    b.posture = "sit"
    b.hold(3.0)
    b.sit_to_stand(1.7, 35.0)
    b.walk(
        15.0,
        cadence_spm=105.0,
        step_length_m=0.6,
        turns=[(d, 180.0 * (-1) ** i, 2.0) for i, d in enumerate((2.7, 5.7, 8.7, 11.7))],
        end_turn=(180.0, 1.6),
    )
    b.hold(0.1)
    b.stand_to_sit(1.9, 30.0)
    b.hold(3.0)
    md = take.finish({})
    r = TimedUpAndGo().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.validity.code == "wrong_activity"
    assert "turns" in r.validity.reason

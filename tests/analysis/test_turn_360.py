"""Timed 360° turn: time and steps against the scenario's truth, the guided stages,
validity, and every consumer of the registry end to end."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.clinical.registry import TestContext
from analysis.clinical.turn_360 import Turn360
from sensors import scenarios as sc

KEY = "turn-360"
SCENARIO = sc.TEST_SCENARIOS[KEY]


def _analyze(md, context=None):
    fs = md.sampling_rate_hz
    return Turn360().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=fs, context=context)


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_time_and_steps_match_the_truth_on_any_mount(seed):
    mount = sc.random_mount(np.random.default_rng(seed))
    turns = ((360.0, 2.5 + 0.5 * seed, 110 - 8 * seed), (-360.0, 3.0 + 0.6 * seed, 100 - 8 * seed))
    md = sc.turn_360(turns, seed=seed, mount=mount, sampling_rate_hz=(100.0, 50.0, 200.0)[seed % 3])
    r = _analyze(md).result_
    assert r.valid, r.validity
    truth = md.truth["trials"]
    assert [t.direction for t in r.trials] == [t["direction"] for t in truth]
    for got, true in zip(r.trials, truth):
        # the turn's own duration (El-Gohary bounds at 5 deg/s): the slow ends of the turn
        # fall below it, so a turn comes out up to a tenth shorter
        assert got.time_s == pytest.approx(true["time_s"], rel=0.1)
        assert got.angle_deg == pytest.approx(360.0, abs=15.0)
        # steps from the trunk's vertical acceleration: within two of the truth
        assert abs(got.steps - true["steps"]) <= 2
    assert r.time_s == pytest.approx(np.mean([t.time_s for t in r.trials]))
    assert r.left_time_s == r.trials[0].time_s and r.right_time_s == r.trials[1].time_s


def test_the_guided_stages_pick_the_turns():
    md = sc.turn_360(seed=5)
    first, second = md.truth["trials"]
    events = [
        {"kind": "stage_start", "stage": "first", "t_s": first["start_s"] - 1.5},
        {"kind": "stage_end", "stage": "first", "t_s": first["end_s"] + 1.0},
        {"kind": "stage_start", "stage": "second", "t_s": second["start_s"] - 1.5},
    ]
    r = _analyze(md, TestContext({}, events)).result_
    assert r.valid and r.segmentation == "events"
    assert [t.trial for t in r.trials] == ["first", "second"]
    assert r.trials[1].time_s == pytest.approx(second["time_s"], abs=0.4)


def test_a_half_turn_a_walk_and_no_gyroscope():
    half = sc.turn_360(((180.0, 2.0, 100.0),), seed=6)
    r = _analyze(half).result_
    assert not r.valid and "no turn of at least 300°" in r.validity.reason
    assert "the largest: 1" in r.validity.reason
    walk = sc.walk(20.0, turns=[(10.0, 360.0, 4.0)], seed=1)
    r = _analyze(walk).result_
    assert not r.valid and "turn on the spot" in r.validity.reason
    one = _analyze(sc.turn_360(((-360.0, 3.0, 100.0),), seed=7)).result_
    assert one.valid and one.validity.reason == "one turn only" and one.left_time_s is None
    with pytest.raises(ValueError, match="gyroscope"):
        Turn360().analyze(half.acc_mps2, None, sampling_rate_hz=100.0)


def test_end_to_end(clinical_e2e):
    demo = {"age": 72, "sex": "f", "height_m": 1.7, "weight_kg": 70}
    md = sc.turn_360()
    out = clinical_e2e.cli(KEY, md, {"age": 72})
    assert out["test"] == KEY and out["validity"]["valid"]
    assert out["time_s"] == pytest.approx(md.truth["time_s"], abs=0.4)
    # turns at 5.6-8.6 s and 15.5-19.1 s (3-s countdowns)
    plan = [("first", 10.5), ("second", 20.5)]
    run = clinical_e2e.guided(KEY, SCENARIO, plan, demo)
    res = run.events_result()
    assert res["time_s"] == pytest.approx(md.truth["time_s"], abs=0.4)
    assert abs(res["steps"] - md.truth["steps"]) <= 2
    assert run.title.startswith("Timed 360° turn: ") and "steps" in run.title
    stored = clinical_e2e.stored(KEY, run.recording, demo)
    series = stored["progress"]["turn_360_time_s"]
    assert series.values == [pytest.approx(res["time_s"])]
    assert series.references[0]["value"] == 3.43  # Shiu et al. 2016
    assert "turn_360_steps" in stored["progress"]
    assert stored["pdf_pages"] >= 1
    assert {"turn_360_time_s", "turn_360_steps"} <= stored["codes"]  # no LOINC term exists

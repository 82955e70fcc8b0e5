"""30-s chair stand and five-times sit-to-stand on synthetic scenarios."""

from __future__ import annotations

import json

import pytest

from analysis.clinical.chair import ChairStand30s, FiveTimesSitToStand
from sensors import scenarios as sc

NORMS = {"below_average_if_fewer_than": [{"age_min_y": 70, "age_max_y": 74, "m": 12, "f": 10}]}


@pytest.mark.parametrize(
    ("seed", "rate", "sts_s"), [(31, 100.0, 1.0), (32, 50.0, 1.5), (33, 200.0, 1.2)]
)
def test_every_chair_stand_counted(seed, rate, sts_s, mounted_scenario, run_on):
    md = mounted_scenario("chair_stand_30s", seed, sampling_rate_hz=rate, sts_duration_s=sts_s)
    r = run_on(ChairStand30s(norms=NORMS), md, demographics={"age": 72, "sex": "m"})
    assert r.valid, r.validity
    assert r.n_stands == md.truth["n_stands"]
    assert r.start_s == pytest.approx(md.truth["start_s"], abs=0.3)
    assert r.below_average == (r.n_stands < 12)
    assert r.slowing_pct is not None and r.slowing_pct > 0  # the generator slows down
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize(("seed", "sts_s"), [(34, 1.0), (35, 1.8)])
def test_five_times_sts_time(seed, sts_s, mounted_scenario, run_on):
    md = mounted_scenario("five_times_sts", seed, sts_duration_s=sts_s)
    r = run_on(FiveTimesSitToStand(), md)
    assert r.valid
    assert r.time_s == pytest.approx(md.truth["time_s"], abs=0.5)
    expected = "at_risk" if r.time_s >= 15 else ("elevated" if r.time_s >= 12 else "normal")
    assert r.status == expected and r.time_to_sit_s > r.time_s
    # the other timing: to seated after the fifth rise (the generator's last sit-down)
    seated = md.truth["transitions"][-1]
    assert seated["type"] == "stand-to-sit"
    assert r.time_to_sit_s == pytest.approx(seated["end_s"] - md.truth["start_s"], abs=0.5)
    t = r.time_to_sit_s
    assert r.status_to_sit == ("at_risk" if t >= 15 else ("elevated" if t >= 12 else "normal"))
    assert "time_to_sit_s" in r.timing and "Guralnik" in r.timing


def test_five_times_sts_status_by_both_timings():
    """A slow patient can be 'elevated' timed to the fifth stand and 'at risk' timed to
    seated: both statuses are reported, each from its own time."""
    md = sc.five_times_sts(seed=40, sts_duration_s=1.6, slowing=0.2)
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert r.valid
    lo, hi = sorted([r.time_s, r.time_to_sit_s])
    # thresholds placed between the two times: the statuses must differ
    mid = 0.5 * (lo + hi)
    r2 = FiveTimesSitToStand(elevated_threshold_s=mid - 100, at_risk_threshold_s=mid)
    r2 = r2.analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert r2.status == "elevated" and r2.status_to_sit == "at_risk"
    d = r2.to_dict()
    assert d["status_to_sit"] == "at_risk" and d["time_to_sit_s"] > d["time_s"]


def test_five_times_sts_ended_before_the_last_sit_down(run_on):
    """Cut while standing after the fifth rise: time_s is there, the seated timing not."""
    md = sc.five_times_sts(seed=41)
    r = run_on(FiveTimesSitToStand(), md, until_s=md.truth["end_s"] + 1.0)
    assert r.valid and r.time_s == pytest.approx(md.truth["time_s"], abs=0.5)
    assert r.time_to_sit_s is None and r.status_to_sit is None


def test_wrong_activity():
    md = sc.walk(seed=36)
    assert (
        not ChairStand30s().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_.valid
    )
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.time_s is None and "sit-to-stand" in r.validity.reason
    md = sc.tug(seed=37)  # one rise only
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.validity.code == "not_detected"


def test_tug_is_not_a_chair_stand_test():
    md = sc.tug(seed=39)
    r = ChairStand30s().analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=100.0).result_
    assert not r.valid and r.validity.code == "wrong_activity" and "walked" in r.validity.reason


def test_truncated_chair_stand_recording_is_too_short(run_on):
    md = sc.chair_stand_30s(seed=38)
    r = run_on(ChairStand30s(), md, until_s=md.truth["start_s"] + 15.0)
    assert not r.valid and r.validity.code == "too_short"


def test_chair_stand_end_to_end(clinical_e2e):
    # the registry's consumers on the 30-s chair stand (the harness the new tests use)
    demo = {"age": 72, "sex": "f", "height_m": 1.65, "weight_kg": 68}
    md = sc.chair_stand_30s()
    out = clinical_e2e.cli("chair-stand-30s", md, {"age": 72, "sex": "f"})
    assert out["test"] == "chair-stand-30s" and out["n_stands"] == md.truth["n_stands"]
    run = clinical_e2e.guided("chair-stand-30s", "chair_stand_30s", [("stands", None)], demo)
    assert run.live["result"]["n_stands"] == md.truth["n_stands"]
    assert run.title.startswith("30-second chair stand") and "stands" in run.title
    assert "30-second chair stand" in run.factors
    stored = clinical_e2e.stored("chair-stand-30s", run.recording, demo)
    series = stored["progress"]["chair_stand_30s_count"]
    assert series.values == [md.truth["n_stands"]]
    assert stored["pdf_pages"] >= 1
    assert "66247-8" in stored["codes"]  # LOINC: sit to stand frequency in 30 seconds

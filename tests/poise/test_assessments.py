"""poise.assessments: test dispatch, sensor choice, events -> stages, fall-risk summary."""

import csv
import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.sway import SWAY_CLI_KEYS
from firmware_protocol.types import SensorConfig
from poise.assessments import TESTS, load_norms, pick_sensor, run_test, session_fall_risk
from poise.errors import PoiseError
from sensors import scenarios
from sensors.recording import Recording
from sensors.timeline import SensorData

REPO = Path(__file__).resolve().parents[2]
SWAY_KEYS = set(SWAY_CLI_KEYS)  # the measures the CLI contract (issue 5) names


def _sensor(acc, gyr, fs=100, t0=0.0, sid="s1", placement="lower-back"):
    t = t0 + np.arange(len(acc)) / fs
    cfg = SensorConfig(sampling_rate_hz=fs, acc_range_g=8, gyro_range_dps=2000)
    return SensorData(sid, placement, cfg, t, np.asarray(acc, float), np.asarray(gyr, float))


def _rec(md, events=(), t0=0.0, **meta):
    return Recording(
        metadata=dict(meta),
        sensors=[_sensor(md.acc_mps2, md.gyr_radps, int(md.sampling_rate_hz), t0)],
        events=list(events),
    )


def test_norms_load_and_every_test_is_known():
    n = load_norms()
    assert n["tug"]["at_risk_threshold_s"] == 12.0
    n["tug"]["at_risk_threshold_s"] = 99  # a copy: the cache is not changed
    assert load_norms()["tug"]["at_risk_threshold_s"] == 12.0
    assert set(TESTS) >= {"sway", "four-stage", "tug", "walk-6min"}
    with pytest.raises(PoiseError, match="unknown test"):
        run_test(_rec(scenarios.quiet_stance(5)), "juggling", {})


def test_sway_single_trial_has_the_cli_keys():
    r = run_test(_rec(scenarios.quiet_stance(30, seed=3)), "sway", {})
    assert SWAY_KEYS <= set(r) and r["validity"]["valid"] and r["test"] == "sway"
    json.dumps(r)


def test_sway_four_conditions_from_stage_events_on_a_cropped_clock():
    parts, events, t = [], [{"kind": "test_start", "t_s": 100.0, "test": "sway"}], 100.0
    for k in ("eo_firm", "ec_firm", "eo_foam", "ec_foam"):
        eyes, surface = k.split("_")
        md = scenarios.quiet_stance(30, eyes=eyes, surface=surface, seed=len(parts))
        parts.append(md)
        events += [
            {"kind": "stage_start", "t_s": t, "stage": k},
            {"kind": "stage_end", "t_s": t + 30.0, "stage": k, "ended_by": "time"},
        ]
        t += 30.0
    acc = np.vstack([p.acc_mps2 for p in parts])
    gyr = np.vstack([p.gyr_radps for p in parts])
    rec = Recording(metadata={}, sensors=[_sensor(acc, gyr, t0=100.0)], events=events)
    r = run_test(rec, "sway", {})
    assert r["segmentation"] == "events" and r["headline_condition"] == "eo_firm"
    assert SWAY_KEYS <= set(r)
    assert r["conditions"]["ec_firm"]["start_s"] == pytest.approx(30.0)
    truth = [p.truth["sway_rms_mps2"] for p in parts]
    assert r["vestibular_ratio"] == pytest.approx(truth[3] / truth[0], rel=0.05)
    assert r["time_origin_s"] == 100.0


def test_four_stage_with_protocol_events_and_marker():
    md = scenarios.four_stage(fail_stage=3, fail_time_s=6.0, seed=5)
    keys = ["feet_together", "semi_tandem", "tandem"]
    events = []
    for k, st in zip(keys, md.truth["stages"]):
        events.append({"kind": "stage_start", "t_s": st["start_s"] + 20, "stage": k})
    events.append(
        {
            "kind": "marker",
            "t_s": md.truth["stages"][2]["end_s"] + 20.3,
            "marker": "lost_balance",
            "stage": "tandem",
        }
    )
    r = run_test(_rec(md, events, t0=20.0), "four-stage", {})
    assert r["segmentation"] == "events" and r["stage_reached"] == "tandem"
    assert r["tandem_time_s"] == pytest.approx(6.0, abs=1.0) and r["increased_risk"] is True
    auto = run_test(_rec(md), "four-stage", {})
    assert auto["segmentation"] == "automatic" and auto["stage_reached_number"] == 3


def test_dispatch_to_the_clinical_modules_or_a_clear_error():
    rec = _rec(scenarios.quiet_stance(10))
    for test, mod in (("tug", "analysis.clinical.tug"), ("walk-6min", "analysis.clinical.walk")):
        if importlib.util.find_spec(mod) is None:
            with pytest.raises(PoiseError, match="not available"):
                run_test(rec, test, {})
        else:
            out = run_test(rec, test, {})
            assert "validity" in out  # quiet standing is the wrong activity for these tests
            assert out["validity"]["valid"] is False


def test_sensor_choice():
    md = scenarios.quiet_stance(5)
    a = _sensor(md.acc_mps2, md.gyr_radps, sid="shank", placement="left-shank")
    b = _sensor(md.acc_mps2, md.gyr_radps, sid="back", placement="lower_back")
    assert pick_sensor(Recording(metadata={}, sensors=[a, b])).id == "back"
    assert pick_sensor(Recording(metadata={}, sensors=[a])).id == "shank"
    with pytest.raises(PoiseError, match="lower back"):
        pick_sensor(Recording(metadata={}, sensors=[a, a]))
    with pytest.raises(PoiseError, match="no sensor"):
        pick_sensor(Recording(metadata={}, sensors=[]))


def test_fall_risk_from_stored_results_and_recomputed_runs():
    md = scenarios.four_stage(fail_stage=3, fail_time_s=5.0, seed=6)
    events = [
        {
            "kind": "test_result",
            "t_s": 0.5,
            "test": "tug",
            "result": {
                "total_time_s": 13.2,
                "validity": {"valid": True, "code": "ok", "reason": ""},
            },
        },
        {"kind": "test_start", "t_s": 1.0, "test": "four-stage"},
        {"kind": "test_stop", "t_s": md.duration_s - 0.1, "test": "four-stage"},
    ]
    s = session_fall_risk(_rec(md, events), {"age": 75, "sex": "f"})
    f = {x["key"]: x for x in s["factors"]}
    assert f["tug_time_s"]["status"] == "at_risk" and f["tug_time_s"]["value"] == 13.2
    assert f["tandem_time_s"]["status"] == "at_risk"
    assert f["tandem_time_s"]["value"] == pytest.approx(5.0, abs=1.0)
    assert s["level"] == "high" and "clinician" in s["disclaimer"]
    assert s["tests_used"] == ["four-stage", "tug"]
    json.dumps(s)


def test_fall_risk_measures_gait_on_a_real_walk():
    d = REPO / "recordings/mobgap-lab/HA-001-Test5-Trial1"
    with (d / "imu_lowerback.csv").open() as fh:
        rows = list(csv.DictReader(fh))
    acc = np.array([[float(r[f"acc_{a}"]) for a in "xyz"] for r in rows])
    gyr = np.radians(np.array([[float(r[f"gyr_{a}"]) for a in "xyz"] for r in rows]))
    rec = Recording(metadata={}, sensors=[_sensor(acc, gyr)])
    s = session_fall_risk(
        rec, {"height_m": json.loads((d / "info.json").read_text()).get("height_m")}
    )
    f = {x["key"]: x for x in s["factors"]}
    assert "gait_speed_mps" in f and 0.3 < f["gait_speed_mps"]["value"] < 2.0
    assert f["gait_speed_mps"]["test"] == "gait"
    assert s["level"] in ("low", "moderate", "high")


def test_chair_rises_are_not_taken_for_walking_but_a_walk_is():
    chair = scenarios.five_times_sts(seed=2)
    s = session_fall_risk(_rec(chair), {})
    assert "gait_speed_mps" not in {f["key"] for f in s["factors"]}
    walk = scenarios.walk_2min(seed=2)
    s = session_fall_risk(_rec(walk), {})
    f = {x["key"]: x for x in s["factors"]}
    assert f["gait_speed_mps"]["value"] == pytest.approx(walk.truth["speed_mps"], rel=0.15)
    assert f["stride_time_sd_ms"]["value"] < 68.0


def test_single_test_recording_named_in_metadata():
    from sensors.recording import load_recording

    rec = load_recording(REPO / "recordings/scenarios/tug.poise")
    assert rec.metadata.get("test") == "tug" and not rec.events
    s = session_fall_risk(rec, {"age": 72})
    keys = {f["key"] for f in s["factors"]}
    # the TUG counts; its 3-m walks with turns are not taken for usual gait
    assert keys == {"tug_time_s"} and s["tests_used"] == ["tug"]


def test_endurance_of_a_fatiguing_six_minute_walk():
    from poise.assessments import endurance
    from sensors.recording import load_recording

    name = "recordings/scenarios/walk-6min-fatigue"
    truth = json.loads((REPO / f"{name}.truth.json").read_text())
    pm = {m["minute"]: m["speed_mps"] for m in truth["per_minute"]}
    expected = 100 * ((pm[5] + pm[6]) / 2 - (pm[1] + pm[2]) / 2) / ((pm[1] + pm[2]) / 2)
    r = endurance(load_recording(REPO / f"{name}.poise"), {})
    assert r["validity"]["valid"]
    assert r["speed_change_pct"] == pytest.approx(expected, abs=3.0)
    assert r["active_fraction"] > 0.9 and r["repetitions"] == 0
    chair = endurance(load_recording(REPO / "recordings/scenarios/chair-stand-30s.poise"), {})
    assert (
        chair["repetitions"]
        == json.loads((REPO / "recordings/scenarios/chair-stand-30s.truth.json").read_text())[
            "n_stands"
        ]
    )
    assert chair["walking_time_s"] == 0.0  # chair rises are not walking


def test_fall_risk_and_endurance_use_the_measured_sensor_height():
    # the inverted pendulum's step length grows with the sensor height; `poise analyze`
    # takes it from the header's demographics, and so must the fall-risk gait speed
    from poise.assessments import endurance

    walk = scenarios.walk_2min(seed=2)

    def speed(h):
        s = session_fall_risk(_rec(walk, demographics={"sensor_height_m": h}), {})
        return {x["key"]: x for x in s["factors"]}["gait_speed_mps"]["value"]

    assert speed(1.2) > 1.15 * speed(0.7)
    e_lo = endurance(_rec(walk, demographics={"sensor_height_m": 0.7}), {})
    e_hi = endurance(_rec(walk, demographics={"sensor_height_m": 1.2}), {})
    assert e_hi["speed_start_mps"] > 1.15 * e_lo["speed_start_mps"]


def test_a_run_in_a_session_recording_is_analysed_on_its_own_window():
    # a session recording: a five-times sit-to-stand, then a TUG run; the TUG analysis
    # must not start at the first rise of the chair test
    chair, tug = scenarios.five_times_sts(seed=2), scenarios.tug(seed=3)
    fs = 100
    acc = np.vstack([chair.acc_mps2, tug.acc_mps2])
    gyr = np.vstack([chair.gyr_radps, tug.gyr_radps])
    t_tug = len(chair.acc_mps2) / fs
    events = [
        {"kind": "test_start", "t_s": 12.0 + 0.5, "test": "five-times-sts"},
        {"kind": "test_stop", "t_s": 12.0 + t_tug - 0.5, "test": "five-times-sts"},
        {"kind": "test_start", "t_s": 12.0 + t_tug, "test": "tug"},
        {"kind": "test_stop", "t_s": 12.0 + len(acc) / fs, "test": "tug"},
    ]
    rec = Recording(metadata={}, sensors=[_sensor(acc, gyr, fs, t0=12.0)], events=events)
    r = run_test(rec, "tug", {})
    assert r["validity"]["valid"], r["validity"]
    assert r["total_time_s"] == pytest.approx(tug.truth["total_time_s"], abs=0.5)
    assert r["time_origin_s"] + r["start_s"] == pytest.approx(
        12.0 + t_tug + tug.truth["start_s"], abs=0.5
    )
    five = run_test(rec, "five-times-sts", {})
    assert five["validity"]["valid"] and five["n_stands_found"] == 5


def test_a_run_stopped_the_moment_the_patient_sits_keeps_the_sit_down():
    # the therapist presses Stop as soon as the patient is seated: the analysis still sees
    # the data just after the stop (the recording goes on), so the stand-to-sit is found
    md = scenarios.tug(seed=1)
    seated = md.truth["start_s"] + md.truth["total_time_s"]
    events = [
        {"kind": "test_start", "t_s": 0.5, "test": "tug"},
        {"kind": "test_stop", "t_s": seated + 0.3, "test": "tug"},
    ]
    r = run_test(_rec(md, events), "tug", {})
    assert r["validity"]["valid"], r["validity"]
    assert r["total_time_s"] == pytest.approx(md.truth["total_time_s"], abs=0.5)


def test_one_fall_risk_for_a_session_whatever_asks_issue17_item2():
    # A session recording: the patient does TUG after TUG (a looping demo), the therapist
    # runs the test on one of them. The walks of the other cycles and of the TUG itself are
    # short walks with turns, not the patient's usual gait: no gait-speed factor, and the
    # store (Sessions table, Progress, PDF, FHIR), the CLI and the live Results page agree.
    from poise.progress import session_metrics
    from poise.service import analyse_session

    cycles = [scenarios.tug(seed=s) for s in range(5)]
    acc = np.vstack([c.acc_mps2 for c in cycles])
    gyr = np.vstack([c.gyr_radps for c in cycles])
    n0 = len(cycles[0].acc_mps2) + len(cycles[1].acc_mps2)
    t_start = n0 / 100 + 0.5
    t_stop = t_start + cycles[2].truth["end_s"] + 0.5
    events = [
        {"kind": "test_start", "t_s": t_start, "test": "tug"},
        {"kind": "test_stop", "t_s": t_stop, "test": "tug"},
    ]
    rec = Recording(
        metadata={"demographics": {"age": 78, "sex": "f"}},
        sensors=[_sensor(acc, gyr)],
        events=events,
    )
    live = session_fall_risk(rec, results={"tug": run_test(rec, "tug", {})})
    whole = session_fall_risk(rec)
    stored = analyse_session(rec, {"age": 78, "sex": "f"}).to_dict()
    for fr in (whole, stored["fall_risk"]):
        assert fr["level"] == live["level"]
        assert [(f["key"], f["value"], f["status"]) for f in fr["factors"]] == [
            (f["key"], f["value"], f["status"]) for f in live["factors"]
        ]
    assert {f["key"] for f in whole["factors"]} == {"tug_time_s"}
    assert "gait" not in stored["results"] and stored["tests"] == ["tug"]
    metrics = session_metrics(stored["results"], stored["fall_risk"])
    assert "gait_speed_mps" not in metrics  # Progress and FHIR read these
    # a speed reported inside a TUG result is not the gait-speed factor either
    tug = {**stored["results"]["tug"], "gait_speed_mps": 0.7}
    fr = session_fall_risk(rec, results={"tug": tug})
    assert "gait_speed_mps" not in {f["key"] for f in fr["factors"]}


def test_free_walking_too_slow_to_measure_is_not_a_gait_speed(monkeypatch):
    # a recording whose walking the gait analysis sees (step rhythm) but cannot measure (here
    # every stride refused: a stand-in for walking too slow or irregular for the bout rules):
    # a speed from whatever could be measured would hide the risk, so the factor says why
    import analysis.gait as gait_mod
    from poise.assessments import _gait_measures
    from sensors.scenarios import slow_walk, walk

    md = slow_walk("very-slow", walk_s=40.0, seed=1)
    real = gait_mod.GaitAnalyzer

    class Strict(real):
        def __init__(self, *a, **kw):
            super().__init__(*a, wba=gait_mod.WalkingBoutAssembler(min_stride_length_m=2.0), **kw)

    monkeypatch.setattr(gait_mod, "GaitAnalyzer", Strict)
    g = _gait_measures(md.acc_mps2, md.gyr_radps, 100.0, {})["gait_speed_mps"]
    assert g["value"] is None and not g["validity"]["valid"]
    assert "too slow or irregular to measure" in g["validity"]["reason"]
    monkeypatch.setattr(gait_mod, "GaitAnalyzer", real)
    brisk = walk(20.0, seed=1)
    alone = _gait_measures(brisk.acc_mps2, brisk.gyr_radps, 100.0, {})["gait_speed_mps"]
    assert alone["validity"]["valid"] and alone["value"] > 0.8

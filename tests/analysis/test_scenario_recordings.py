"""The committed scenario recordings (recordings/scenarios/) analysed against their truth.

The recordings are read like any session (``sensors.recording.load_recording``, live
decoder); the analysis sees only the samples. Tolerances are the project's acceptance
criteria: TUG within 0.5 s, every chair stand counted, 4-stage stage reached and time held
within 1 s, 6-minute distance within 10 %.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from analysis.clinical.chair import ChairStand30s, FiveTimesSitToStand
from analysis.clinical.four_stage import FourStageBalance
from analysis.clinical.registry import TestContext
from analysis.clinical.tug import TimedUpAndGo
from analysis.clinical.walk import TimedWalk
from analysis.sway import SwayAnalyzer
from sensors.recording import load_recording

ROOT = Path(__file__).resolve().parents[2]
DIR = ROOT / "recordings" / "scenarios"


def _load(name: str):
    rec = load_recording(DIR / f"{name}.poise")
    truth = json.loads((DIR / f"{name}.truth.json").read_text())
    s = rec.sensors[0]
    assert not np.isnan(s.acc_mps2).any(), "synthetic recordings have no gaps"
    return s.acc_mps2, s.gyr_radps, float(s.sampling_rate_hz), truth, rec.metadata


def test_every_test_has_a_recording_and_the_folder_is_small():
    tests = set()
    size = 0
    for p in DIR.glob("*.poise"):
        size += p.stat().st_size + p.with_suffix("").with_suffix(".truth.json").stat().st_size
        tests.add(json.loads(p.with_name(p.stem + ".truth.json").read_text())["test"])
    assert {
        "sway",
        "four-stage",
        "tug",
        "chair-stand-30s",
        "five-times-sts",
        "walk-2min",
        "walk-6min",
    } <= tests
    assert size < 5e6


def test_recordings_match_the_generator():
    """The committed files are exactly what recordings/make_scenarios.py produces."""
    spec = importlib.util.spec_from_file_location(
        "make_scenarios", ROOT / "recordings" / "make_scenarios.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in ("tug", "five-times-sts"):
        data, truth = mod.make(name)
        assert data == (DIR / f"{name}.poise").read_bytes(), name
        assert mod._truth_bytes(truth) == (DIR / f"{name}.truth.json").read_bytes(), name


def test_tug_recording():
    acc, gyr, fs, truth, meta = _load("tug")
    assert meta["test"] == "tug" and fs == truth["sampling_rate_hz"]
    r = TimedUpAndGo().analyze(acc, gyr, sampling_rate_hz=fs).result_
    assert r.valid, r.validity
    assert r.total_time_s == pytest.approx(truth["total_time_s"], abs=0.5)


def test_chair_stand_recording_counts_every_stand():
    acc, gyr, fs, truth, _ = _load("chair-stand-30s")
    r = ChairStand30s().analyze(acc, gyr, sampling_rate_hz=fs).result_
    assert r.valid and r.n_stands == truth["n_stands"]


def test_five_times_sts_recording():
    acc, gyr, fs, truth, _ = _load("five-times-sts")
    r = FiveTimesSitToStand().analyze(acc, gyr, sampling_rate_hz=fs).result_
    assert r.valid and r.time_s == pytest.approx(truth["time_s"], abs=0.5)


def test_four_stage_recording_stage_and_time_held():
    acc, gyr, fs, truth, _ = _load("four-stage-fail-tandem")
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=fs).result_
    assert r.valid, r.validity
    assert r.stage_reached_number == truth["stage_reached"]
    held = [s.held_s for s in r.stages]
    assert len(held) == len(truth["held_s"])
    for est, true in zip(held, truth["held_s"]):
        assert est == pytest.approx(true, abs=1.0)
    assert r.increased_risk


@pytest.mark.parametrize(("name", "minutes"), [("walk-2min", 2), ("walk-6min-fatigue", 6)])
def test_walk_recordings_distance(name, minutes):
    acc, gyr, fs, truth, meta = _load(name)
    demo = meta["demographics"]  # entered by the clinic, not ground truth
    r = (
        TimedWalk(minutes)
        .analyze(
            acc,
            gyr,
            sampling_rate_hz=fs,
            context=TestContext({**demo, "age": demo["age_y"]}),
        )
        .result_
    )
    assert r.valid, r.validity
    assert r.distance_m == pytest.approx(truth["distance_m"], rel=0.10)
    if minutes == 6:
        assert r.predicted_distance_m > 0 and r.percent_predicted > 0
    if truth["fatigue"] > 0:
        assert r.fatigability_speed < -0.05 and r.deceleration_index < 0.95


def test_quiet_stance_recordings_order_of_conditions():
    rms = {}
    for cond in ("eo-firm", "ec-firm", "eo-foam", "ec-foam"):
        acc, gyr, fs, truth, _ = _load(f"stance-{cond}")
        r = SwayAnalyzer().calculate(acc, gyr, fs).result_
        assert r.valid, r.validity
        rms[cond] = r.rms_mps2
        # the generator's RMS of the horizontal acceleration (band-limited differently)
        assert r.rms_mps2 == pytest.approx(truth["sway_rms_mps2"], rel=0.5)
    assert rms["eo-firm"] < rms["ec-firm"] < rms["ec-foam"]
    assert rms["eo-firm"] < rms["eo-foam"] < rms["ec-foam"]


@pytest.mark.parametrize("name", ["tug", "five-times-sts", "chair-stand-30s"])
def test_recordings_cut_short_after_a_sit_down(name):
    """The committed recordings cut 0.3 s after their last sit-down (a session stopped at
    once): the test is still valid, with the same result as the whole recording."""
    acc, gyr, fs, truth, _ = _load(name)
    cut = int(round((truth["transitions"][-1]["end_s"] + 0.3) * fs))
    cls = {"tug": TimedUpAndGo, "five-times-sts": FiveTimesSitToStand}.get(name, ChairStand30s)
    whole = cls().analyze(acc, gyr, sampling_rate_hz=fs).result_
    part = cls().analyze(acc[:cut], gyr[:cut], sampling_rate_hz=fs).result_
    assert part.valid, part.validity
    for key in ("total_time_s", "time_s", "time_to_sit_s", "n_stands"):
        if getattr(whole, key, None) is not None:
            assert getattr(part, key) == pytest.approx(getattr(whole, key), abs=0.05), key

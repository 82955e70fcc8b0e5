"""30-s chair stand and five-times sit-to-stand on synthetic scenarios."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.clinical.chair import ChairStand30s, FiveTimesSitToStand
from sensors import scenarios as sc

NORMS = {"below_average_if_fewer_than": [{"age_min_y": 70, "age_max_y": 74, "m": 12, "f": 10}]}


@pytest.mark.parametrize(
    ("seed", "rate", "sts_s"), [(31, 100.0, 1.0), (32, 50.0, 1.5), (33, 200.0, 1.2)]
)
def test_every_chair_stand_counted(seed, rate, sts_s):
    md = sc.chair_stand_30s(
        seed=seed,
        sampling_rate_hz=rate,
        sts_duration_s=sts_s,
        mount=sc.random_mount(np.random.default_rng(seed)),
    )
    r = (
        ChairStand30s(norms=NORMS)
        .analyze(md.acc_mps2, md.gyr_radps, rate, age_y=72, sex="m")
        .result_
    )
    assert r.valid, r.validity
    assert r.n_stands == md.truth["n_stands"]
    assert r.start_s == pytest.approx(md.truth["start_s"], abs=0.3)
    assert r.below_average == (r.n_stands < 12)
    assert r.slowing_pct is not None and r.slowing_pct > 0  # the generator slows down
    d = r.to_dict()
    assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize(("seed", "sts_s"), [(34, 1.0), (35, 1.8)])
def test_five_times_sts_time(seed, sts_s):
    md = sc.five_times_sts(
        seed=seed, sts_duration_s=sts_s, mount=sc.random_mount(np.random.default_rng(seed))
    )
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, 100.0).result_
    assert r.valid
    assert r.time_s == pytest.approx(md.truth["time_s"], abs=0.5)
    expected = "at_risk" if r.time_s >= 15 else ("elevated" if r.time_s >= 12 else "normal")
    assert r.status == expected and r.time_to_sit_s > r.time_s


def test_wrong_activity():
    md = sc.walk(seed=36)
    assert not ChairStand30s().analyze(md.acc_mps2, md.gyr_radps, 100.0).result_.valid
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, 100.0).result_
    assert not r.valid and r.time_s is None and "sit-to-stand" in r.validity.reason
    md = sc.tug(seed=37)  # one rise only
    r = FiveTimesSitToStand().analyze(md.acc_mps2, md.gyr_radps, 100.0).result_
    assert not r.valid and r.validity.code == "not_detected"


def test_tug_is_not_a_chair_stand_test():
    md = sc.tug(seed=39)
    r = ChairStand30s().analyze(md.acc_mps2, md.gyr_radps, 100.0).result_
    assert not r.valid and r.validity.code == "wrong_activity" and "walked" in r.validity.reason


def test_truncated_chair_stand_recording_is_too_short():
    md = sc.chair_stand_30s(seed=38)
    cut = int((md.truth["start_s"] + 15.0) * 100)
    r = ChairStand30s().analyze(md.acc_mps2[:cut], md.gyr_radps[:cut], 100.0).result_
    assert not r.valid and r.validity.code == "too_short"

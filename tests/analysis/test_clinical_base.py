"""Contract of the shared clinical result/validity types and helpers."""

import json
from dataclasses import dataclass

import numpy as np
import pytest

from analysis.clinical import base
from analysis.clinical.base import ClinicalResult, Validity
from analysis.fallrisk import default_norms


@dataclass(kw_only=True)
class _Demo(ClinicalResult):
    test: str = "demo"
    time_s: float | None = None
    values_m: np.ndarray | None = None


def test_to_dict_is_json_ready_and_nan_becomes_none():
    r = _Demo(time_s=np.float64(3.5), values_m=np.array([1.0, np.nan]))
    d = r.to_dict()
    assert d == {
        "test": "demo",
        "validity": {"valid": True, "code": "ok", "reason": ""},
        "time_s": 3.5,
        "values_m": [1.0, None],
    }
    json.dumps(d)


def test_invalid_result_has_no_numbers_and_says_why():
    r = _Demo.invalid_result(base.WRONG_ACTIVITY, "this is walking, not quiet stance")
    d = r.to_dict()
    assert d["validity"]["valid"] is False
    assert d["validity"]["code"] == "wrong_activity"
    assert "walking" in d["validity"]["reason"]
    assert d["time_s"] is None
    with pytest.raises(ValueError):
        Validity.invalid("nonsense", "x")


def test_validity_combination_keeps_first_failure():
    a = Validity.ok("note")
    b = Validity.invalid(base.TOO_SHORT, "12 s < 20 s")
    assert (a & b) is b
    assert (b & a) is b
    assert (a & Validity.ok("other")).reason == "note; other"


def test_segments_from_mask_merges_and_drops():
    fs = 10.0
    m = np.zeros(100, bool)
    m[10:30] = True
    m[32:50] = True  # gap of 0.2 s -> merged
    m[70:73] = True  # 0.3 s -> dropped
    segs = base.segments_from_mask(m, fs, min_duration_s=1.0, merge_gap_s=0.5)
    assert [(s.start_s, s.end_s) for s in segs] == [(1.0, 5.0)]


def test_rest_mask_and_walking_detector():
    fs = 100.0
    t = np.arange(0, 20, 1 / fs)
    rng = np.random.default_rng(0)
    acc = np.tile([0.0, 0.0, base.GRAVITY_MPS2], (len(t), 1)) + 0.02 * rng.standard_normal(
        (len(t), 3)
    )
    gyr = 0.01 * rng.standard_normal((len(t), 3))
    walk = slice(1000, 2000)
    acc[walk, 2] += 2.0 * np.sin(2 * np.pi * 1.8 * t[walk])
    gyr[walk, 0] += 0.6 * np.sin(2 * np.pi * 0.9 * t[walk])
    still = base.rest_mask(acc, gyr, fs)
    assert still[:900].all() and not still[1100:1900].any()
    assert base.looks_like_walking(acc[walk], fs)
    assert not base.looks_like_walking(acc[:1000], fs)


def test_sensor_moved_detects_tilt():
    fs = 50.0
    n = 500
    acc = np.tile([0.0, 0.0, 9.81], (n, 1))
    assert base.sensor_moved(acc, fs)[0] is False
    ang = np.radians(30)
    acc[250:] = [0.0, 9.81 * np.sin(ang), 9.81 * np.cos(ang)]
    moved, deg = base.sensor_moved(acc, fs)
    assert moved and deg == pytest.approx(30, abs=0.5)


def test_fill_gaps_interpolates_and_counts():
    x = np.array([[0.0], [np.nan], [2.0], [np.nan]])
    y, frac = base.fill_gaps(x)
    assert y[:, 0].tolist() == [0.0, 1.0, 2.0, 2.0] and frac == 0.5


def test_check_imu_rejects_bad_shapes():
    with pytest.raises(ValueError, match="shape"):
        base.check_imu(np.zeros((5, 2)), None, 100)
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        base.check_imu(np.zeros((5, 3)), None, 0)


def test_age_bands_hold_fractional_ages_in_completed_years():

    from analysis.clinical.base import age_band
    from analysis.clinical.chair import ChairStand30s
    from analysis.clinical.tug import _norm_for_age

    norms = default_norms()
    bands = norms["chair_stand_30s"]["below_average_if_fewer_than"]
    assert age_band(bands, 64.5)["age_min_y"] == 60  # 64 completed years
    assert age_band(bands, 65.0)["age_min_y"] == 65
    assert age_band(bands, 59.9) is None and age_band(bands, 95.0) is None
    # the tests and the fall-risk summary use the same bands
    assert ChairStand30s(norms=norms["chair_stand_30s"])._limit(64.5, "m") == 14
    assert _norm_for_age(norms["tug"], 69.5) == (8.1, "60-69 y")  # the mean and its age group


def test_still_tail_separates_quiet_stance_from_walking() -> None:
    """still_tail_s: the live analysis' "is the patient moving"."""
    from sensors.scenarios import make_scenario

    def window(name: str, start_s: float) -> tuple[np.ndarray, np.ndarray]:
        md = make_scenario(name, sampling_rate_hz=100.0, seed=3)
        i = int(start_s * 100)
        return md.acc_mps2[i : i + 100], md.gyr_radps[i : i + 100]

    assert base.still_tail_s(*window("quiet_stance", 10.0), 100.0) >= 0.5
    assert base.still_tail_s(*window("walk", 8.0), 100.0) < 0.5
    acc, gyr = window("quiet_stance", 10.0)
    assert base.still_tail_s(acc[:5], gyr[:5], 100.0) == 0.0  # too little data

"""Sway measures against closed-form answers (sinusoids at an arbitrary sensor tilt)."""

import json

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.clinical import base
from analysis.sway import SWAY_CLI_KEYS, SlidingSway, SwayAnalyzer, spectral_measures

FS = 100.0
G = base.GRAVITY_MPS2


def _to_sensor(ap, ml, fs=FS, tilt=(25.0, -40.0, 130.0), noise=0.01, seed=1, vert=None):
    """Body-frame (V up, AP, ML) specific force -> sensor frame by a fixed rotation, + noise."""
    n = len(ap)
    v = np.full(n, G) if vert is None else G + vert
    body = np.column_stack([v, ap, ml])
    rot = Rotation.from_euler("xyz", tilt, degrees=True).as_matrix()  # body -> sensor
    acc = body @ rot.T
    rng = np.random.default_rng(seed)
    acc = acc + noise * rng.standard_normal(acc.shape)
    gyr = 0.003 * rng.standard_normal(acc.shape)
    forward_sensor = rot @ np.array([0.0, 1.0, 0.0])
    return acc, gyr, forward_sensor


def _t(duration_s):
    return np.arange(int(duration_s * FS)) / FS


def _analyze(acc, gyr, fwd, **kw):
    return SwayAnalyzer(heading_hint_sensor=fwd, **kw).calculate(acc, gyr, FS).result_


def test_two_axis_sines_rms_path_jerk_and_split():
    t = _t(60)
    a, b, fa, fb = 0.12, 0.05, 0.4, 0.7
    ap = a * np.sin(2 * np.pi * fa * t)
    ml = b * np.sin(2 * np.pi * fb * t + 0.3)
    vert = 0.05 * np.sin(2 * np.pi * 1.0 * t)
    acc, gyr, fwd = _to_sensor(ap, ml, vert=vert)
    r = _analyze(acc, gyr, fwd)
    assert r.valid, r.validity
    T = 60.0
    assert r.rms_ap_mps2 == pytest.approx(a / np.sqrt(2), rel=0.05)
    assert r.rms_ml_mps2 == pytest.approx(b / np.sqrt(2), rel=0.05)
    assert r.rms_mps2 == pytest.approx(np.sqrt((a * a + b * b) / 2), rel=0.05)
    assert r.path_length_ap_mps2 == pytest.approx(4 * a * fa * T, rel=0.05)
    assert r.path_length_ml_mps2 == pytest.approx(4 * b * fb * T, rel=0.05)
    assert r.range_ap_mps2 == pytest.approx(2 * a, rel=0.05)
    assert r.jerk_ap_m2ps5 == pytest.approx(a**2 * (2 * np.pi * fa) ** 2 * T / 4, rel=0.05)
    assert r.jerk_ml_m2ps5 == pytest.approx(b**2 * (2 * np.pi * fb) ** 2 * T / 4, rel=0.05)
    # independent axes: 95 % ellipse = 2 pi F s_ap s_ml = 3 pi a b / 2 ... with F ~ 3.0
    assert r.ellipse_area_m2ps4 == pytest.approx(
        2 * np.pi * 3.0 * (a / np.sqrt(2)) * (b / np.sqrt(2)), rel=0.05
    )
    assert r.centroidal_frequency_ap_hz == pytest.approx(fa, rel=0.05)
    assert r.centroidal_frequency_ml_hz == pytest.approx(fb, rel=0.05)
    assert r.heading_source == "hint"


def test_circular_sway_path_mean_frequency_and_ellipse():
    t = _t(40)
    a, f = 0.08, 0.5
    ap, ml = a * np.cos(2 * np.pi * f * t), a * np.sin(2 * np.pi * f * t)
    acc, gyr, fwd = _to_sensor(ap, ml, tilt=(-70.0, 15.0, 10.0))
    r = _analyze(acc, gyr, None)  # no hint: total measures do not need the heading
    assert r.rms_mps2 == pytest.approx(a, rel=0.05)
    assert r.mean_distance_mps2 == pytest.approx(a, rel=0.05)
    assert r.path_length_mps2 == pytest.approx(2 * np.pi * a * f * 40, rel=0.05)
    assert r.mean_velocity_mps3 == pytest.approx(2 * np.pi * a * f, rel=0.05)
    assert r.mean_velocity_mps2 == r.mean_velocity_mps3
    assert r.mean_frequency_hz == pytest.approx(f, rel=0.05)
    assert r.ellipse_area_m2ps4 == pytest.approx(np.pi * 3.0 * a * a, rel=0.05)
    # range is an extreme-value statistic: filtered noise adds a few sigma on each side
    assert r.range_mps2 == pytest.approx(2 * a, rel=0.15)
    assert r.f95_hz == pytest.approx(f, rel=0.05)
    assert r.frequency_dispersion < 0.2


@pytest.mark.parametrize("tilt", [(0.0, 0.0, 0.0), (90.0, 0.0, 0.0), (33.0, 71.0, -120.0)])
def test_multisine_frequency_measures(tilt):
    t = _t(60)
    amps = np.array([0.10, 0.06, 0.04])
    freqs = np.array([0.25, 0.6, 1.1])
    ap = sum(A * np.sin(2 * np.pi * f * t + k) for k, (A, f) in enumerate(zip(amps, freqs)))
    ml = 0.5 * ap[::-1].copy()
    acc, gyr, fwd = _to_sensor(ap, ml, tilt=tilt)
    r = _analyze(acc, gyr, fwd)
    p = amps**2 / 2 * 1.25  # AP + ML (ML has 0.25 of AP power at the same lines)
    mu0, mu1, mu2 = p.sum(), (p * freqs).sum(), (p * freqs**2).sum()
    frac = np.cumsum(p) / mu0
    assert r.total_power_m2ps4 == pytest.approx(mu0, rel=0.05)
    assert r.centroidal_frequency_hz == pytest.approx(np.sqrt(mu2 / mu0), rel=0.05)
    assert r.frequency_dispersion == pytest.approx(np.sqrt(1 - mu1**2 / (mu0 * mu2)), rel=0.05)
    assert r.f95_hz == pytest.approx(freqs[np.searchsorted(frac, 0.95)], rel=0.05)
    assert r.f50_hz == pytest.approx(freqs[np.searchsorted(frac, 0.5)], rel=0.05)
    assert r.rms_mps2 == pytest.approx(np.sqrt(mu0), rel=0.05)


def test_cli_keys_json_ready():
    t = _t(30)
    acc, gyr, fwd = _to_sensor(
        0.05 * np.sin(2 * np.pi * 0.3 * t), 0.03 * np.sin(2 * np.pi * 0.5 * t)
    )
    d = SwayAnalyzer().calculate(acc, gyr, FS).result_.to_dict()
    assert set(SWAY_CLI_KEYS) <= set(d)
    assert all(isinstance(d[k], float) for k in SWAY_CLI_KEYS)
    assert d["validity"]["valid"] is True
    json.dumps(d)


def test_spectral_measures_single_line():
    f = np.arange(0, 5, 0.05)
    p = np.zeros_like(f)
    p[10] = 2.0  # 0.5 Hz
    m = spectral_measures(f, p)
    assert m["centroidal_frequency_hz"] == pytest.approx(0.5)
    assert m["frequency_dispersion"] == pytest.approx(0.0, abs=1e-6)
    assert 0.475 <= m["f50_hz"] <= 0.525


def test_walking_is_wrong_activity_without_numbers():
    t = _t(20)
    vert = 2.0 * np.sin(2 * np.pi * 1.8 * t)
    ap = 1.0 * np.sin(2 * np.pi * 1.8 * t + 1)
    ml = 0.6 * np.sin(2 * np.pi * 0.9 * t)
    acc, gyr, _ = _to_sensor(ap, ml, vert=vert)
    r = SwayAnalyzer().calculate(acc, gyr, FS).result_
    assert not r.valid and r.validity.code == base.WRONG_ACTIVITY
    assert r.rms_mps2 is None and r.to_dict()["ellipse_area_m2ps4"] is None


def test_real_walking_trial_is_rejected(lab_trial):
    tr = lab_trial("HA-001-Test5-Trial1")
    acc, gyr = tr["acc"], tr["gyr"]
    r = SwayAnalyzer().calculate(acc, gyr, 100.0).result_
    assert r.validity.code == base.WRONG_ACTIVITY


def test_step_too_short_and_sensor_moved_flags():
    t = _t(30)
    ap, ml = 0.05 * np.sin(2 * np.pi * 0.3 * t), 0.03 * np.sin(2 * np.pi * 0.45 * t)
    acc, gyr, fwd = _to_sensor(ap, ml)
    # a step: 0.6 s jolt at 15 s
    stepped = acc.copy()
    sl = slice(1500, 1560)
    stepped[sl] += 3.0 * np.sin(np.linspace(0, 3 * np.pi, 60))[:, None] * np.array([0.3, 0.5, 0.8])
    g2 = gyr.copy()
    g2[sl] += 1.0
    r = _analyze(stepped, g2, fwd)
    assert r.validity.code == base.STEPPED and "15." in r.validity.reason
    r = _analyze(acc[:300], gyr[:300], fwd, min_duration_s=20)
    assert r.validity.code == base.TOO_SHORT
    moved = acc.copy()
    rot = Rotation.from_euler("x", 30, degrees=True).as_matrix()
    moved[1500:] = moved[1500:] @ rot.T
    r = _analyze(moved, gyr, fwd)
    assert r.validity.code == base.SENSOR_MOVED
    assert _analyze(acc, gyr, fwd).valid


def test_missing_data_flag_and_gap_interpolation():
    t = _t(30)
    acc, gyr, fwd = _to_sensor(
        0.05 * np.sin(2 * np.pi * 0.3 * t), 0.03 * np.sin(2 * np.pi * 0.5 * t)
    )
    a = acc.copy()
    a[100:110] = np.nan
    r = _analyze(a, gyr, fwd)
    assert r.valid and "missing" in r.validity.reason
    a[:1500] = np.nan
    assert _analyze(a, gyr, fwd).validity.code == base.MISSING_DATA


def test_sliding_sway_tracks_amplitude_with_bounded_buffer():
    t = _t(60)
    amp = np.where(t < 30, 0.04, 0.12)
    ap = amp * np.cos(2 * np.pi * 0.5 * t)
    ml = amp * np.sin(2 * np.pi * 0.5 * t)
    acc, gyr, fwd = _to_sensor(ap, ml)
    live = SlidingSway(window_s=10.0, sampling_rate_hz=FS, heading_hint_sensor=fwd)
    seen = {}
    for i in range(0, len(t), 25):
        live.update(acc[i : i + 25], gyr[i : i + 25])
        if live.metrics_ and "rms_mps2" in live.metrics_:
            seen[live.metrics_["window_end_s"]] = live.metrics_["rms_mps2"]
    assert live._acc_ring.data.shape == (1000, 3)
    end = seen
    at = lambda s: min(end.items(), key=lambda kv: abs(kv[0] - s))[1]  # noqa: E731
    assert at(28.0) == pytest.approx(0.04, rel=0.05)
    assert at(59.75) == pytest.approx(0.12, rel=0.05)
    # updates are rate-limited: about one per 0.5 s of data
    assert 100 <= len(seen) <= 125


def test_mostly_moving_recording_is_wrong_activity_without_numbers():
    from sensors import scenarios

    md = scenarios.chair_stand_30s(seed=1)
    r = SwayAnalyzer().calculate(md.acc_mps2, md.gyr_radps, md.sampling_rate_hz).result_
    assert r.validity.code == base.WRONG_ACTIVITY
    assert r.rms_mps2 is None and r.ellipse_area_m2ps4 is None


def test_total_measures_do_not_depend_on_the_mounting():
    rng = np.random.default_rng(11)
    t = _t(30)
    ap = 0.07 * np.sin(2 * np.pi * 0.3 * t) + 0.02 * np.sin(2 * np.pi * 0.9 * t)
    ml = 0.04 * np.sin(2 * np.pi * 0.45 * t + 1)
    ref = None
    for _ in range(6):
        tilt = tuple(rng.uniform(-180, 180, 3))
        acc, gyr, _ = _to_sensor(ap, ml, tilt=tilt, seed=3)
        r = SwayAnalyzer().calculate(acc, gyr, FS).result_
        vals = np.array([r.rms_mps2, r.ellipse_area_m2ps4, r.f50_hz])
        if ref is None:
            ref, path, jerk = vals, r.path_length_mps2, r.jerk_m2ps5
        assert vals == pytest.approx(ref, rel=0.01), tilt
        # path and jerk are derivative measures: the same sensor noise projected onto other
        # axes changes them by a few percent (jerk by up to ~6 %: its noise floor is ~10 %)
        assert r.path_length_mps2 == pytest.approx(path, rel=0.03), tilt
        assert r.jerk_m2ps5 == pytest.approx(jerk, rel=0.1), tilt

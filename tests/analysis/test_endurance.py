"""Endurance across a session and the fatigability helpers."""

import numpy as np
import pytest

from analysis.clinical import base
from analysis.endurance import (
    EnduranceAnalyzer,
    change_pct,
    deceleration_index,
    fatigability_index,
    per_minute_gait,
)

FS = 50.0
G = base.GRAVITY_MPS2


def _session(rng):
    """60 s quiet (sway 0.04) + 120 s walking + 60 s quiet (sway 0.08): 240 s."""
    parts = []
    t = np.arange(int(60 * FS)) / FS
    parts.append(
        np.column_stack(
            [G + 0 * t, 0.04 * np.sin(2 * np.pi * 0.3 * t), 0.04 * np.cos(2 * np.pi * 0.3 * t)]
        )
    )
    tw = np.arange(int(120 * FS)) / FS
    parts.append(
        np.column_stack(
            [
                G + 2.5 * np.sin(2 * np.pi * 1.8 * tw),
                1.2 * np.sin(2 * np.pi * 1.8 * tw + 1),
                0.7 * np.sin(2 * np.pi * 0.9 * tw),
            ]
        )
    )
    parts.append(
        np.column_stack(
            [G + 0 * t, 0.08 * np.sin(2 * np.pi * 0.3 * t), 0.08 * np.cos(2 * np.pi * 0.3 * t)]
        )
    )
    acc = np.vstack(parts) + 0.01 * rng.standard_normal((int(240 * FS), 3))
    gyr = 0.01 * rng.standard_normal(acc.shape)
    gyr[int(60 * FS) : int(180 * FS), 0] += 0.6 * np.sin(2 * np.pi * 0.9 * tw)
    return acc, gyr


def test_session_active_time_sway_and_speed_change():
    rng = np.random.default_rng(0)
    acc, gyr = _session(rng)
    # strides: 1.1 m/s slowing to 0.9 m/s over the walk, stride 1.1 s -> 1.3 s
    starts = np.arange(60.0, 178.0, 1.2)
    frac = (starts - 60) / 120
    strides = [
        {"start_s": s, "duration_s": 1.1 + 0.2 * f, "speed_mps": 1.1 - 0.2 * f, "valid": True}
        for s, f in zip(starts, frac)
    ]
    reps = [5.0, 10.0, 15.0, 200.0]
    r = (
        EnduranceAnalyzer()
        .calculate(acc, gyr, FS, gait={"strides": strides}, repetitions_s=reps)
        .result_
    )
    assert r.valid, r.validity
    assert r.active_time_s == pytest.approx(120.0, abs=3.0)
    assert r.n_active_bouts == 1
    assert r.sway_rms_start_mps2 == pytest.approx(0.04, rel=0.05)
    assert r.sway_rms_end_mps2 == pytest.approx(0.08, rel=0.05)
    assert r.sway_change_pct == pytest.approx(100.0, abs=10)
    # start third = 0-80 s holds strides 60-80 s; end third = 160-240 s holds strides 160-178 s
    assert r.speed_start_mps > r.speed_end_mps and r.speed_change_pct < -10
    assert r.cadence_change_pct < -10
    assert r.repetitions == 4
    assert r.repetition_rate_start_per_min == pytest.approx(3 / (80 / 60))
    assert len(r.windows) == 4 and r.windows[1]["active_fraction"] == pytest.approx(1.0, abs=0.05)
    d = r.to_dict()
    assert d["validity"]["valid"] and isinstance(d["windows"], list)


def test_fatigability_helpers():
    assert fatigability_index([1.2, 1.2, 1.15, 1.1, 1.05, 1.08]) == pytest.approx(
        (1.08 - 1.2) / 1.2
    )
    assert fatigability_index([1.0]) is None
    assert fatigability_index([1.0, None, 0.9]) is None
    assert deceleration_index([1.2, 1.0, 1.1]) == pytest.approx(1.0 / 1.2)
    assert change_pct(2.0, 1.0) == -50.0 and change_pct(0.0, 1.0) is None
    strides = [
        {"start_s": s, "duration_s": 1.0 + 0.1 * (s >= 60), "speed_mps": 1.0, "valid": True}
        for s in np.arange(0, 120, 1.0)
    ]
    pm = per_minute_gait({"strides": strides}, 0.0, 2)
    assert [m["cadence_spm"] for m in pm] == pytest.approx([120.0, 120.0 / 1.1])


def test_short_session_is_flagged():
    acc = np.tile([0, 0, G], (int(30 * FS), 1)).astype(float)
    r = EnduranceAnalyzer().calculate(acc, None, FS).result_
    assert r.validity.code == base.TOO_SHORT

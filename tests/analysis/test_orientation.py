"""Tests for analysis.orientation: conventions, mount invariance, tilt tracking, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.orientation import (
    _MATVEC_ROWS,
    STANDARD_GRAVITY_MPS2,
    BodyFrameAligner,
    _matvec,
    gravity_direction,
)

FS = 100.0


def test_static_gravity_any_mount():
    rng = np.random.default_rng(0)
    for rot in Rotation.random(5, random_state=1):
        up_true = rot.apply([0.0, 0.0, 1.0])
        acc = up_true * STANDARD_GRAVITY_MPS2 + rng.normal(0, 0.02, (500, 3))
        up = gravity_direction(acc, FS)
        assert np.degrees(np.arccos(np.clip(up @ up_true, -1, 1))) < 0.5
        al = BodyFrameAligner().align(acc, rng.normal(0, 0.001, (500, 3)), FS)
        assert np.allclose(np.nanmean(al.acc_body_mps2_[:, 0]), STANDARD_GRAVITY_MPS2, atol=0.05)
        assert np.abs(np.nanmean(al.acc_body_mps2_[:, 1:], 0)).max() < 0.05
        assert al.heading_source_ in {"pca", "hint"}


def test_right_handed_frame_and_walking_heading_on_real_data(lab_trial):
    # README of the trials: x up, y left, z forward. Expect V~+x, AP~+z, ML (right) ~ -y.
    tr = lab_trial("HA-001-Test5-Trial1")
    acc, gyr = tr["acc"], tr["gyr"]
    al = BodyFrameAligner().align(acc, gyr, FS)
    assert al.heading_source_ == "walking"
    r = al.rotation_
    assert np.allclose(r @ r.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r) == pytest.approx(1.0)
    assert r[0] @ [1, 0, 0] > 0.9
    assert r[1] @ [0, 0, 1] > 0.9
    assert r[2] @ [0, -1, 0] > 0.9


@pytest.mark.parametrize(
    "rotvec",
    [[np.pi, 0, 0], [0, np.pi / 2, 0], [np.radians(20), 0, 0], [0.4, -1.1, 2.0]],
    ids=["upside-down", "sideways", "tilt20", "arbitrary"],
)
def test_body_frame_does_not_depend_on_mount(rotvec, lab_trial):
    tr = lab_trial("MS-001-Test5-Trial1")
    acc, gyr = tr["acc"], tr["gyr"]
    ref = BodyFrameAligner().align(acc, gyr, FS)
    rot = Rotation.from_rotvec(rotvec)
    other = BodyFrameAligner().align(rot.apply(acc), rot.apply(gyr), FS)
    assert np.nanmax(np.abs(other.acc_body_mps2_ - ref.acc_body_mps2_)) < 1e-6
    assert np.nanmax(np.abs(other.gyr_body_radps_ - ref.gyr_body_radps_)) < 1e-6


def test_tilt_tracked_during_movement_with_gyro():
    # sensor pitches 0 -> 30 deg -> 0 about its y axis while shaking at 2 Hz
    t = np.arange(0, 10, 1 / FS)
    theta = np.radians(30) * np.clip(np.sin(np.pi * (t - 2) / 6), 0, None) * (t > 2) * (t < 8)
    dtheta = np.gradient(theta, 1 / FS)
    rots = Rotation.from_rotvec(np.outer(theta, [0, 1, 0]))
    world = np.zeros((t.size, 3))
    world[:, 0] = STANDARD_GRAVITY_MPS2 + 2.0 * np.sin(2 * np.pi * 2 * t)
    world[:, 2] = 2.0 * np.sin(2 * np.pi * 2 * t + 1.0)
    acc = rots.inv().apply(world)  # world (x up) -> sensor
    gyr = np.outer(dtheta, [0, 1, 0])
    al = BodyFrameAligner().align(acc, gyr, FS)
    up_true = rots.inv().apply([1.0, 0, 0])
    err = np.degrees(np.arccos(np.clip(np.sum(al.gravity_sensor_ * up_true, 1), -1, 1)))
    assert err[200:].max() < 2.0
    # vertical acceleration recovered (gravity + 2 Hz), AP and ML near the true values
    assert np.abs(al.acc_body_mps2_[200:, 0] - world[200:, 0]).max() < 0.5


def test_nan_rows_empty_and_bad_shapes(lab_trial):
    tr = lab_trial("HA-001-Test5-Trial2")
    acc, gyr = tr["acc"], tr["gyr"]
    acc = acc.copy()
    acc[300:350] = np.nan
    al = BodyFrameAligner().align(acc, gyr, FS)
    assert np.isnan(al.acc_body_mps2_[300:350]).all()
    assert np.isfinite(al.acc_body_mps2_[:300]).all()
    empty = BodyFrameAligner().align(np.empty((0, 3)), np.empty((0, 3)), FS)
    assert empty.acc_body_mps2_.shape == (0, 3)
    allnan = BodyFrameAligner().align(np.full((50, 3), np.nan), np.full((50, 3), np.nan), FS)
    assert allnan.heading_source_ == "none"
    assert np.isnan(gravity_direction(np.full((10, 3), np.nan), FS)).all()
    with pytest.raises(ValueError, match="shape"):
        BodyFrameAligner().align(np.zeros((10, 2)), None, FS)
    with pytest.raises(ValueError, match="rows"):
        BodyFrameAligner().align(np.zeros((10, 3)), np.zeros((9, 3)), FS)


@pytest.mark.parametrize("mount", ["lowerback", "sideways", "upside_down"])
def test_the_live_frame_is_the_body_frame_whatever_the_mounting(mount: str) -> None:
    """frame_from_acc: what the live view draws every sensor's signals along."""
    from analysis.orientation import frame_from_acc
    from sensors.scenarios import MOUNTS, make_scenario

    md = make_scenario("quiet_stance", duration_s=12.0, sampling_rate_hz=100.0, mount=mount)
    up, ap, ml = frame_from_acc(md.acc_mps2[:1000])
    frame = np.vstack([up, ml, ap])
    m = MOUNTS[mount]  # v_sensor = M @ v_body; body axes x forward, y left, z up
    assert np.allclose(frame @ frame.T, np.eye(3), atol=1e-9)  # orthonormal rows
    assert abs(frame[0] @ m[:, 2]) > 0.99  # V is the body's up, for any mounting
    v = md.acc_mps2[:1000] @ frame.T
    assert np.mean(v[:, 0]) == pytest.approx(9.81, abs=0.1)  # gravity on V only
    assert np.all(np.abs(np.mean(v[:, 1:], axis=0)) < 0.05)
    assert frame_from_acc(md.acc_mps2[:5]) is None  # too few samples
    assert frame_from_acc(0.1 * md.acc_mps2[:1000]) is None  # no clear gravity


def test_matvec_in_blocks_equals_one_product_to_the_bit():
    """The tall products of the body frame run in single-threaded blocks; each row is the
    same dot product as in one BLAS call (C-, F-ordered and column-slice inputs)."""
    rng = np.random.default_rng(7)
    v = rng.standard_normal(3)
    for n in (_MATVEC_ROWS - 1, 2 * _MATVEC_ROWS + 5, 5 * _MATVEC_ROWS + 3):
        x = rng.standard_normal((n, 6)) * 10.0 ** rng.uniform(-3, 3, (n, 6))
        for a in (
            x[:, :3].copy(),
            np.asfortranarray(x[:, :3]),
            x[:, 3:],
            np.asfortranarray(x)[:, :3],
        ):
            assert np.array_equal(_matvec(a, v), a @ v)

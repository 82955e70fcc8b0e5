"""Quiet stance in four conditions: per-condition sway, mCTSIB ratios, Romberg quotient, validity."""

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from analysis.clinical import base
from analysis.clinical.stance import QuietStance

FS = 100.0
G = base.GRAVITY_MPS2
ROT = Rotation.from_euler("xyz", (15.0, 50.0, -30.0), degrees=True).as_matrix()


def _trial(amp, dur=30.0, f=0.35, seed=0):
    t = np.arange(int(dur * FS)) / FS
    ap = amp * np.sin(2 * np.pi * f * t)
    ml = 0.6 * amp * np.sin(2 * np.pi * (f + 0.2) * t + 0.5)
    return np.column_stack([np.full_like(t, G), ap, ml])


def _move(dur=3.0):
    t = np.arange(int(dur * FS)) / FS
    env = np.sin(np.pi * t / dur)
    return np.column_stack(
        [G + 3 * env * np.sin(4 * np.pi * t), env * np.sin(2 * np.pi * t), 0 * t]
    )


def _to_sensor(body, seed=0):
    rng = np.random.default_rng(seed)
    acc = body @ ROT.T + 0.01 * rng.standard_normal(body.shape)
    gyr = 0.01 * rng.standard_normal(body.shape)
    return acc, gyr


AMPS = {"eo_firm": 0.04, "ec_firm": 0.06, "eo_foam": 0.08, "ec_foam": 0.14}


def _session(amps=AMPS, durs=None):
    pieces, windows, t = [], {}, 0.0
    for k, a in amps.items():
        d = (durs or {}).get(k, 30.0)
        pieces.append(_trial(a, d, seed=len(pieces)))
        windows[k] = (t, t + d)
        t += d
        pieces.append(_move())
        t += 3.0
    return _to_sensor(np.vstack(pieces)), windows


def test_ratios_from_events_match_amplitude_ratios():
    (acc, gyr), windows = _session()
    r = QuietStance().calculate(acc, gyr, FS, conditions=windows).result_
    assert r.valid, r.validity
    assert r.segmentation == "events"
    assert r.vision_ratio == pytest.approx(0.06 / 0.04, rel=0.05)
    assert r.somatosensory_ratio == pytest.approx(0.08 / 0.04, rel=0.05)
    assert r.vestibular_ratio == pytest.approx(0.14 / 0.04, rel=0.05)
    assert r.romberg_quotient == pytest.approx(1.5, rel=0.05)
    # ellipse area scales with amplitude squared
    assert r.ratios["ellipse_area_m2ps4"]["vestibular"] == pytest.approx(
        (0.14 / 0.04) ** 2, rel=0.08
    )
    assert r.conditions["eo_firm"]["rms_mps2"] == pytest.approx(0.04 * np.sqrt(1.36 / 2), rel=0.05)


def test_automatic_segmentation_finds_the_four_trials():
    (acc, gyr), windows = _session()
    r = QuietStance().calculate(acc, gyr, FS).result_
    assert r.segmentation == "automatic"
    assert list(r.conditions) == ["eo_firm", "ec_firm", "eo_foam", "ec_foam"]
    for k, (t0, t1) in windows.items():
        assert r.conditions[k]["start_s"] == pytest.approx(t0, abs=1.0)
        assert r.conditions[k]["end_s"] == pytest.approx(t1, abs=1.0)
    assert r.vestibular_ratio == pytest.approx(3.5, rel=0.08)


def test_short_trial_invalidates_its_ratios_only():
    (acc, gyr), windows = _session(durs={"ec_foam": 12.0})
    r = QuietStance().calculate(acc, gyr, FS, conditions=windows).result_
    assert r.valid  # the reference trial is fine
    assert r.conditions["ec_foam"]["validity"]["code"] == base.TOO_SHORT
    assert r.vestibular_ratio is None and any("vestibular" in n for n in r.ratio_notes)
    assert r.vision_ratio is not None


def test_only_eyes_open_and_closed_gives_romberg():
    (acc, gyr), windows = _session({"eo_firm": 0.05, "ec_firm": 0.09})
    r = QuietStance().calculate(acc, gyr, FS, conditions=windows).result_
    assert r.romberg_quotient == pytest.approx(1.8, rel=0.05)
    assert r.somatosensory_ratio is None


def test_walking_is_wrong_activity():
    t = np.arange(0, 40, 1 / FS)
    body = np.column_stack(
        [
            G + 2.5 * np.sin(2 * np.pi * 1.8 * t),
            np.sin(2 * np.pi * 1.8 * t),
            0.6 * np.sin(2 * np.pi * 0.9 * t),
        ]
    )
    acc, gyr = _to_sensor(body)
    r = QuietStance().calculate(acc, gyr, FS).result_
    assert r.validity.code == base.WRONG_ACTIVITY and r.vision_ratio is None


def test_unknown_condition_is_a_clear_error():
    (acc, gyr), _ = _session({"eo_firm": 0.05})
    with pytest.raises(ValueError, match="eyes_shut"):
        QuietStance().calculate(acc, gyr, FS, conditions={"eyes_shut": (0, 30)})

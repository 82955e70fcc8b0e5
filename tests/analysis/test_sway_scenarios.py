"""Sway and mCTSIB ratios on the kinematic quiet-stance scenarios (any mounting)."""

import numpy as np
import pytest

from analysis.clinical.stance import QuietStance
from analysis.sway import SwayAnalyzer

scenarios = pytest.importorskip("sensors.scenarios")


@pytest.mark.parametrize("mount", [None, "sideways", "upside_down"])
@pytest.mark.parametrize(("eyes", "surface"), [("eo", "firm"), ("ec", "foam")])
def test_sway_rms_matches_truth_whatever_the_mount(eyes, surface, mount):
    kw = {"mount": mount} if mount else {}
    md = scenarios.quiet_stance(30, eyes=eyes, surface=surface, seed=7, **kw)
    r = SwayAnalyzer().calculate(md.acc_mps2, md.gyr_radps, md.sampling_rate_hz).result_
    assert r.valid, r.validity
    t = md.truth
    assert r.rms_mps2 == pytest.approx(t["sway_rms_mps2"], rel=0.05)
    # no heading hint: PCA takes the dominant sway axis as AP
    assert r.rms_ap_mps2 == pytest.approx(t["sway_rms_ap_mps2"], rel=0.05)
    assert r.rms_ml_mps2 == pytest.approx(t["sway_rms_ml_mps2"], rel=0.05)


def test_four_conditions_ratios_follow_the_truth():
    parts, windows, t0 = [], {}, 0.0
    truth = {}
    for k in ("eo_firm", "ec_firm", "eo_foam", "ec_foam"):
        eyes, surface = k.split("_")
        md = scenarios.quiet_stance(30, eyes=eyes, surface=surface, seed=len(parts))
        parts.append(md)
        windows[k] = (t0, t0 + md.duration_s)
        t0 += md.duration_s
        truth[k] = md.truth["sway_rms_mps2"]
    acc = np.vstack([p.acc_mps2 for p in parts])
    gyr = np.vstack([p.gyr_radps for p in parts])
    r = QuietStance().calculate(acc, gyr, parts[0].sampling_rate_hz, conditions=windows).result_
    assert r.valid
    assert r.vision_ratio == pytest.approx(truth["ec_firm"] / truth["eo_firm"], rel=0.05)
    assert r.somatosensory_ratio == pytest.approx(truth["eo_foam"] / truth["eo_firm"], rel=0.05)
    assert r.vestibular_ratio == pytest.approx(truth["ec_foam"] / truth["eo_firm"], rel=0.05)

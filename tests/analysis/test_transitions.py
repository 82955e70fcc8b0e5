"""Sit-to-stand / stand-to-sit detection: synthetic truth and the real mobgap Test11 trial."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis.transitions import (
    StreamingTransitions,
    Transition,
    TransitionDetector,
    detect_transitions,
)
from sensors import scenarios as sc


def _match(found: list[Transition], truth: list[dict], tol_s: float) -> None:
    assert [t.type for t in found] == [t["type"] for t in truth]
    for f, t in zip(found, truth):
        assert f.start_s == pytest.approx(t["start_s"], abs=tol_s)
        assert f.end_s == pytest.approx(t["end_s"], abs=tol_s)
        assert f.duration_s == pytest.approx(t["duration_s"], abs=2 * tol_s)


@pytest.mark.parametrize(
    ("scenario", "rate", "seed"),
    [
        ("sit_to_stand", 100.0, 11),
        ("sit_to_stand", 50.0, 12),
        ("tug", 200.0, 13),
        ("chair_stand_30s", 100.0, 14),
        ("five_times_sts", 50.0, 15),
        ("demo", 100.0, 16),
    ],
)
def test_synthetic_transitions_any_mount(scenario, rate, seed, mounted_scenario):
    md = mounted_scenario(scenario, seed, sampling_rate_hz=rate)
    found = detect_transitions(md.acc_mps2, md.gyr_radps, rate)
    _match(found, md.truth["transitions"], tol_s=0.3)
    for f in found:
        assert (f.height_change_m > 0) == (f.type == "sit-to-stand")
        assert 0.2 < abs(f.height_change_m) < 0.6
        assert f.peak_tilt_rate_dps > 20
        d = f.to_dict()
        assert json.loads(json.dumps(d)) == d


@pytest.mark.parametrize("scenario", ["walk", "quiet_stance", "four_stage"])
def test_no_transitions_without_sitting(scenario, mounted_scenario):
    md = mounted_scenario(scenario, 3)
    assert detect_transitions(md.acc_mps2, md.gyr_radps, md.sampling_rate_hz) == []


def test_slow_elderly_transition_still_found():
    md = sc.sit_to_stand(seed=4, sts_duration_s=3.2)
    found = detect_transitions(md.acc_mps2, md.gyr_radps, 100.0)
    _match(found, md.truth["transitions"], tol_s=0.4)


def test_bad_and_degenerate_input():
    with pytest.raises(ValueError, match="shape"):
        detect_transitions(np.zeros((10, 2)), np.zeros((10, 2)), 100)
    with pytest.raises(ValueError, match="differs"):
        detect_transitions(np.zeros((10, 3)), np.zeros((9, 3)), 100)
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        detect_transitions(np.zeros((10, 3)), np.zeros((10, 3)), 0)
    assert detect_transitions(np.zeros((50, 3)), np.zeros((50, 3)), 100) == []
    # a gap of lost samples in the middle of a recording does not hide the transitions
    md = sc.sit_to_stand(seed=5)
    acc, gyr = md.acc_mps2.copy(), md.gyr_radps.copy()
    acc[150:170] = np.nan
    gyr[150:170] = np.nan
    _match(detect_transitions(acc, gyr, 100.0), md.truth["transitions"], tol_s=0.3)
    det = TransitionDetector().detect(acc, gyr, 100.0)
    assert det.vertical_velocity_mps_.shape == (len(acc),)


def _test11(lab_trial):
    """HA-001 Test11: signals, rate and the reference walking bouts ``(start_s, end_s)``."""
    tr = lab_trial("HA-001-Test11-Trial1")
    bouts = [(b["start_s"], b["end_s"]) for b in tr["ref_bouts"]]
    return tr["acc"], tr["gyr"], tr["fs"], bouts


def test_real_daily_activities_transitions_are_plausible(lab_trial):
    """HA-001 Test11 (sitting, standing, short walks): no transition reference exists, so
    check consistency with the reference walking bouts instead of times."""
    acc, gyr, fs, bouts = _test11(lab_trial)
    found = detect_transitions(acc, gyr, fs)
    types = [t.type for t in found]
    assert "sit-to-stand" in types and "stand-to-sit" in types
    # they alternate (one cannot stand up twice)
    assert all(a != b for a, b in zip(types, types[1:]))
    for t in found:
        assert 0.8 <= t.duration_s <= 4.0
        assert 0.1 <= abs(t.height_change_m) <= 0.6
        # none inside a walking bout (sit-to-walk may overlap the first second of a bout,
        # walk-to-sit the last second)
        for b0, b1 in bouts:
            assert not (t.start_s > b0 + 1.0 and t.end_s < b1 - 1.0), (t, b0, b1)
            assert not (b0 + 1.0 < t.midpoint_s < b1 - 1.0), (t, b0, b1)
    # every walking bout starts standing: the last transition before it is a sit-to-stand
    for b0, _b1 in bouts:
        before = [t for t in found if t.midpoint_s < b0 + 1.0]
        if before:
            assert before[-1].type == "sit-to-stand", (b0, before[-1])
    # and after each stand-to-sit the person does not walk before standing up again
    for i, t in enumerate(found):
        if t.type != "stand-to-sit":
            continue
        nxt = found[i + 1].start_s if i + 1 < len(found) else np.inf
        assert not any(t.end_s - 0.5 < b0 < nxt for b0, _ in bouts), t
    # the first bout is preceded by standing up from the chair the trial starts on
    assert found[0].type == "sit-to-stand" and found[0].end_s < bouts[0][0] + 1.0


def test_real_transitions_do_not_depend_on_the_mounting(lab_trial):
    """The same trial strapped upside down / sideways / tilted gives the same transitions."""
    acc, gyr, fs, _ = _test11(lab_trial)
    ref = detect_transitions(acc, gyr, fs)
    rng = np.random.default_rng(7)
    mounts = [sc.MOUNTS["upside_down"], sc.mount_rotation("body", (0, 20, 0)), sc.random_mount(rng)]
    for m in mounts:
        rot = detect_transitions(acc @ m.T, gyr @ m.T, fs)
        assert [t.type for t in rot] == [t.type for t in ref]
        for a, b in zip(rot, ref):
            assert a.start_s == pytest.approx(b.start_s, abs=0.15)
            assert a.end_s == pytest.approx(b.end_s, abs=0.15)


def _completed(truth: list[dict], cut_s: float) -> list[dict]:
    return [t for t in truth if t["end_s"] <= cut_s]


def _cut(md: sc.MotionData, cut_s: float) -> list[Transition]:
    n = int(round(cut_s * md.sampling_rate_hz))
    return detect_transitions(md.acc_mps2[:n], md.gyr_radps[:n], md.sampling_rate_hz)


def _check_cut(md: sc.MotionData, cut_s: float, what: str) -> None:
    truth = _completed(md.truth["transitions"], cut_s)
    found = _cut(md, cut_s)
    assert [t.type for t in found] == [t["type"] for t in truth], (what, cut_s)
    for f, t in zip(found, truth):
        assert f.end_s == pytest.approx(t["end_s"], abs=0.35), (what, cut_s)
        assert f.end_s <= cut_s


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("scenario", ["chair_stand_30s", "five_times_sts", "tug"])
def test_recording_cut_short_keeps_every_completed_transition(scenario, seed):
    """A recording that ends 0.2-0.5 s after a sit-down, half-way through a rise, or at a
    random point gives exactly the transitions completed before its end (random seed,
    mounting and rate); a rise cut half-way is not one."""
    rng = np.random.default_rng([seed, len(scenario)])
    rate = float(rng.choice([50.0, 100.0, 200.0]))
    md = sc.make_scenario(
        scenario,
        sampling_rate_hz=rate,
        seed=int(rng.integers(10_000)),
        mount=sc.random_mount(rng),
        sts_duration_s=float(rng.uniform(1.0, 2.2)),
    )
    truth = md.truth["transitions"]
    sits = [t for t in truth if t["type"] == "stand-to-sit"]
    rises = [t for t in truth if t["type"] == "sit-to-stand"]
    # the last sit-down and a random one
    for sit in {id(s): s for s in (sits[-1], sits[int(rng.integers(len(sits)))])}.values():
        _check_cut(md, sit["end_s"] + rng.uniform(0.2, 0.5), "after a sit-down")
    for rise in (rises[-1], rises[int(rng.integers(len(rises)))]):
        frac = rng.uniform(0.3, 0.7)
        _check_cut(md, rise["start_s"] + frac * rise["duration_s"], f"{frac:.0%} into a rise")
    # random cuts, not in the last 15 % of a transition (its end is where the trunk rate
    # falls below a threshold, a little before the end of the generator's min-jerk profile)
    k = 0
    while k < 4:
        cut = rng.uniform(4.0, md.duration_s)
        if any(t["start_s"] + 0.85 * t["duration_s"] < cut < t["end_s"] for t in truth):
            continue
        _check_cut(md, cut, "random")
        k += 1


def test_cut_tug_and_five_times_sts_stay_valid(mounted_scenario, run_on):
    """Cut 0.3 s after the final sit-down, a TUG and a five-times sit-to-stand are still
    valid (the stand-to-sit is found)."""
    from analysis.clinical.chair import FiveTimesSitToStand
    from analysis.clinical.tug import TimedUpAndGo

    for seed in range(3):
        md = mounted_scenario("tug", seed)
        res = run_on(TimedUpAndGo(), md, until_s=md.truth["transitions"][-1]["end_s"] + 0.3)
        assert res.validity.valid, res.validity
        assert res.total_time_s == pytest.approx(md.truth["total_time_s"], abs=0.5)
        md = mounted_scenario("five_times_sts", seed)
        res = run_on(FiveTimesSitToStand(), md, until_s=md.truth["transitions"][-1]["end_s"] + 0.3)
        assert res.validity.valid, res.validity
        assert res.time_to_sit_s is not None


def _stream_cut(md: sc.MotionData, n: int, finish: bool) -> list[str]:
    fs = md.sampling_rate_hz
    st = StreamingTransitions(fs)
    blk = max(1, int(0.1 * fs))
    for i in range(0, n, blk):
        j = min(i + blk, n)
        st.update(md.acc_mps2[i:j], md.gyr_radps[i:j])
    if finish:
        st.finish()
    return [t.type for t in st.transitions_]


@pytest.mark.parametrize("seed", range(3))
def test_streaming_on_a_cut_recording_agrees_with_offline(seed):
    """At the end of a stream, ``finish`` reports the lobes already over (a sit-down that
    ended just before the stop); streaming, offline and the truth then agree on recordings
    cut after a sit-down or half-way through a rise."""
    rng = np.random.default_rng(seed)
    scenario = ["chair_stand_30s", "five_times_sts", "tug"][seed]
    md = sc.make_scenario(
        scenario,
        sampling_rate_hz=float(rng.choice([50.0, 100.0, 200.0])),
        seed=seed,
        mount=sc.random_mount(rng),
    )
    fs = md.sampling_rate_hz
    truth = md.truth["transitions"]
    sit = [t for t in truth if t["type"] == "stand-to-sit"][-1]
    rise = [t for t in truth if t["type"] == "sit-to-stand"][-1]
    for cut in (sit["end_s"] + rng.uniform(0.2, 0.5), rise["start_s"] + 0.5 * rise["duration_s"]):
        n = int(round(cut * fs))
        off = [t.type for t in detect_transitions(md.acc_mps2[:n], md.gyr_radps[:n], fs)]
        assert _stream_cut(md, n, finish=True) == off == [t["type"] for t in _completed(truth, cut)]
    # stopped just after the end of the last sit-down's velocity lobe: only finish sees it
    v = TransitionDetector().detect(md.acc_mps2, md.gyr_radps, fs).vertical_velocity_mps_
    down = np.flatnonzero(v < -0.06)
    n = int(down[-1] + round(0.3 * fs))  # + the streaming lag (~0.15 s) + 0.15 s
    assert _stream_cut(md, n, finish=False)[-1] == "sit-to-stand"
    assert _stream_cut(md, n, finish=True)[-1] == "stand-to-sit"

"""Streaming sit-to-stand counter: counts, timing and latency against the truth and the
offline detector, on the scenario recordings and on synthetic motion with random mountings."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.transitions import StreamingTransitions, detect_transitions
from sensors import scenarios as sc
from sensors.recording import load_recording

SCEN = Path(__file__).resolve().parents[2] / "recordings" / "scenarios"


def stream(acc, gyr, fs, block_s=0.1, **kw):
    """Feed blocks; returns the detector and (transition, data time reported) pairs."""
    st = StreamingTransitions(fs, **kw)
    blk = max(1, int(round(block_s * fs)))
    out = []
    for i in range(0, len(acc), blk):
        st.update(acc[i : i + blk], gyr[i : i + blk])
        out += [(t, min(i + blk, len(acc)) / fs) for t in st.new_transitions_]
    return st, out


def check(acc, gyr, fs, truth_rises, max_latency_s=1.0, **kw):
    st, out = stream(acc, gyr, fs, **kw)
    rises = [(t, at) for t, at in out if t.type == "sit-to-stand"]
    offline = [t for t in detect_transitions(acc, gyr, fs) if t.type == "sit-to-stand"]
    assert st.count_ == len(rises) == len(truth_rises) == len(offline)
    for (t, at), true_end, off in zip(rises, truth_rises, offline):
        assert t.end_s == pytest.approx(true_end, abs=0.4)
        assert t.end_s == pytest.approx(off.end_s, abs=0.4)  # consistent with offline
        assert 0 < at - true_end <= max_latency_s, (at, true_end)
    types = [t.type for t, _ in out]
    assert all(a != b for a, b in zip(types, types[1:]))  # alternating
    return [at - e for (_, at), e in zip(rises, truth_rises)]


@pytest.mark.parametrize("name", ["chair-stand-30s", "five-times-sts", "tug"])
def test_scenario_recordings(name):
    rec = load_recording(SCEN / f"{name}.poise")
    s = rec.sensors[0]
    truth = json.loads((SCEN / f"{name}.truth.json").read_text())
    events = truth.get("events") or truth.get("transitions") or []
    ends = [e["end_s"] for e in events if e.get("type") == "sit-to-stand"]
    assert ends
    lat = check(s.acc_mps2, s.gyr_radps, s.config.sampling_rate_hz, ends)
    print(f"{name}: {len(ends)} rises, latency median {np.median(lat):.2f} s max {max(lat):.2f} s")


@pytest.mark.parametrize(
    ("scenario", "rate", "seed"),
    [
        ("chair_stand_30s", 50.0, 21),
        ("five_times_sts", 200.0, 22),
        ("sit_to_stand", 100.0, 23),
        ("demo", 100.0, 24),
        ("tug", 50.0, 25),
    ],
)
def test_synthetic_any_mount(scenario, rate, seed, mounted_scenario):
    md = mounted_scenario(scenario, seed, sampling_rate_hz=rate)
    ends = [t["end_s"] for t in md.truth["transitions"] if t["type"] == "sit-to-stand"]
    check(md.acc_mps2, md.gyr_radps, rate, ends)


@pytest.mark.parametrize("scenario", ["walk", "quiet_stance"])
def test_nothing_without_sitting(scenario, mounted_scenario):
    md = mounted_scenario(scenario, 5)
    st, out = stream(md.acc_mps2, md.gyr_radps, md.sampling_rate_hz)
    assert out == [] and st.count_ == 0


def test_block_size_does_not_matter_and_memory_is_bounded():
    md = sc.make_scenario("chair_stand_30s", sampling_rate_hz=100.0, seed=8)
    a, _ = stream(md.acc_mps2, md.gyr_radps, 100.0, block_s=0.01)
    b, _ = stream(md.acc_mps2, md.gyr_radps, 100.0, block_s=1.3)
    assert a.count_ == b.count_ > 5
    for x, y in zip(a.transitions_, b.transitions_):
        assert x.type == y.type and x.end_s == pytest.approx(y.end_s, abs=1e-6)
    assert b._v.size <= int(b.buffer_s * 100)  # ring buffer


def test_bad_input_and_gaps():
    st = StreamingTransitions(100.0)
    with pytest.raises(ValueError, match="shape"):
        st.update(np.zeros((5, 2)), np.zeros((5, 2)))
    with pytest.raises(ValueError, match="differs"):
        st.update(np.zeros((5, 3)), np.zeros((4, 3)))
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        StreamingTransitions(0)
    assert st.update(np.zeros((0, 3)), np.zeros((0, 3))).new_transitions_ == []
    md = sc.sit_to_stand(seed=5)
    acc, gyr = md.acc_mps2.copy(), md.gyr_radps.copy()
    acc[150:170] = np.nan  # lost samples before the rise
    gyr[150:170] = np.nan
    st, out = stream(acc, gyr, 100.0)
    assert st.count_ == 1 and out[0][0].end_s == pytest.approx(
        md.truth["transitions"][0]["end_s"], abs=0.4
    )


@pytest.mark.parametrize(
    "trial", ["HA-001-Test11-Trial1", "HA-001-Test5-Trial2", "MS-001-Test5-Trial1"]
)
def test_real_recordings_agree_with_offline(trial, lab_trial):
    """Real lower-back data (mobgap lab): no transition reference exists, so the streaming
    detector is compared with the offline one (types in order, ends within 1.2 s: the
    offline end is the end of trunk extension, the streaming end the velocity lobe's)."""
    tr = lab_trial(trial)
    acc, gyr, fs = tr["acc"], tr["gyr"], tr["fs"]
    off = detect_transitions(acc, gyr, fs)
    mount = sc.random_mount(np.random.default_rng(3))  # and strapped on another way
    for a, g in ((acc, gyr), (acc @ mount.T, gyr @ mount.T)):
        st, out = stream(a, g, fs, block_s=0.07)
        assert [t.type for t, _ in out] == [t.type for t in off]
        for (t, at), o in zip(out, off):
            assert t.end_s == pytest.approx(o.end_s, abs=1.2)
            assert 0 < at - t.end_s <= 1.0

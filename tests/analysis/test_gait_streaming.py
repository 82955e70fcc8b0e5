"""StreamingGait: same bouts as offline, latency, bounded memory, NaN rows and odd blocks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from analysis.gait import GaitAnalyzer, StreamingGait

DATA = Path(__file__).resolve().parents[2] / "recordings" / "mobgap-lab"
TRIALS = sorted(p.name for p in DATA.glob("*") if (p / "imu_lowerback.csv").exists())
FS = 100.0


def _load(trial: str):
    x = np.loadtxt(DATA / trial / "imu_lowerback.csv", delimiter=",", skiprows=1)
    info = json.loads((DATA / trial / "info.json").read_text())
    return x[:, :3], np.deg2rad(x[:, 3:]), info["participant"]["sensor_height_m"]


_CACHE: dict = {}


def _stream_trial(trial: str):
    if trial not in _CACHE:
        acc, gyr, h = _load(trial)
        off = GaitAnalyzer(sensor_height_m=h).analyze(acc, gyr, FS).result_.walking_bouts
        _CACHE[trial] = (off, *_stream(acc, gyr, h))
    return _CACHE[trial]


def _stream(acc, gyr, h, seed=0, **kw):
    rng = np.random.default_rng(seed)
    sg = StreamingGait(FS, sensor_height_m=h, **kw)
    i, latency, established, retracted = 0, [], [], []
    while i < acc.shape[0]:
        k = int(rng.integers(1, 40))
        before = len(sg._g_ic)  # contacts of the open bout before this block
        sg.update(acc[i : i + k], gyr[i : i + k])
        i += k
        for s in sg.new_steps_:
            latency.append(i / FS - s.time_s)
            established.append(before >= 5)
        retracted += sg.retracted_steps_
    sg.flush()
    retracted += sg.retracted_steps_
    sg._test_retracted = retracted
    return sg, np.array(latency), np.array(established, dtype=bool)


@pytest.mark.parametrize("trial", TRIALS)
def test_stream_matches_offline(trial):
    off, sg, _, _ = _stream_trial(trial)
    live = list(sg.bouts_)
    assert len(live) == len(off) >= 1
    for b in off:
        ov = [min(b.end_s, x.end_s) - max(b.start_s, x.start_s) for x in live]
        m = live[int(np.argmax(ov))]
        assert max(ov) >= 0.9 * b.duration_s
        assert m.cadence_spm == pytest.approx(b.cadence_spm, abs=1.0)
        assert m.walking_speed_mps == pytest.approx(b.walking_speed_mps, abs=0.05)


def test_retracted_provisional_steps_are_not_walking():
    # provisional steps are emitted before the gait-sequence detector confirms them; the ones
    # it never confirms (about one per bout: the stopping step) lie outside the offline bouts
    n_emitted = n_retracted = 0
    for trial in TRIALS:
        off, sg, lat, _ = _stream_trial(trial)
        n_emitted += lat.size
        n_retracted += len(sg._test_retracted)
        for st in sg._test_retracted:
            assert not any(b.start_s + 0.2 < st.time_s < b.end_s - 0.2 for b in off), st
    assert n_retracted <= 0.1 * n_emitted


KNOWN_LATE = pytest.mark.xfail(
    strict=True,
    reason="HA-001-Test11: 3 of 43 steps emitted in established bouts come 1.2-2.6 s late "
    "(shallow steps in turns that the detectors find only with more context; docs/gait.md)",
)


@pytest.mark.parametrize(
    "trial", [pytest.param(t, marks=KNOWN_LATE) if "Test11" in t else t for t in TRIALS]
)
def test_stream_latency_within_one_second(trial):
    _, _, lat, est = _stream_trial(trial)
    print(
        f"\nstream latency {trial} (established bouts): max {lat[est].max():.2f} s, "
        f"median {np.median(lat[est]):.2f} s, within 1 s {np.mean(lat[est] <= 1.0):.0%}"
    )
    assert lat[est].max() <= 1.0


def test_current_bout_and_strides_are_emitted_live():
    acc, gyr, h = _load("HA-001-Test5-Trial1")
    sg = StreamingGait(FS, sensor_height_m=h)
    seen_current, strides = False, 0
    for i in range(0, acc.shape[0], 10):
        sg.update(acc[i : i + 10], gyr[i : i + 10])
        seen_current |= sg.current_bout_ is not None
        strides += len(sg.new_strides_)
    assert seen_current and strides >= 4
    assert sg.n_samples_ == acc.shape[0]


def test_nan_rows_and_odd_blocks_do_not_break_the_stream():
    acc, gyr, h = _load("MS-001-Test5-Trial1")
    acc, gyr = acc.copy(), gyr.copy()
    acc[200:230] = np.nan  # lost samples before the walk
    gyr[200:230] = np.nan
    acc[900:903] = np.nan  # and three inside it
    sg = StreamingGait(FS, sensor_height_m=h)
    sg.update(np.empty((0, 3)), np.empty((0, 3)))
    sg.update(acc[:1], gyr[:1])
    sg.update(acc[1:1200], gyr[1:1200])  # a block longer than the window
    sg.update(acc[1200:], None)
    sg.flush()
    assert len(sg.bouts_) == 1
    with pytest.raises(ValueError, match="rows"):
        sg.update(np.zeros((5, 3)), np.zeros((4, 3)))


def test_memory_is_bounded_on_a_long_stream():
    rng = np.random.default_rng(0)
    t = np.arange(0, 180, 1 / FS)  # 3 min of regular walking-like signal
    f = 1.8
    acc = np.stack(
        [
            9.81 + 2 * np.sin(2 * np.pi * f * t),
            1.5 * np.cos(2 * np.pi * f * t),
            np.sin(np.pi * f * t),
        ],
        1,
    ) + rng.normal(0, 0.05, (t.size, 3))
    gyr = np.stack([0.3 * np.sin(np.pi * f * t)] * 3, 1)
    sg = StreamingGait(FS, max_bout_steps=120)
    cap = sg._buf.shape
    for i in range(0, t.size, 50):
        sg.update(acc[i : i + 50], gyr[i : i + 50])
        assert len(sg._g_ic) <= 120
    sg.flush()
    assert sg._buf.shape == cap
    assert len(sg.bouts_) >= 2  # long walk cut into bounded bouts
    assert all(b.cadence_spm == pytest.approx(108, abs=2) for b in sg.bouts_)


def test_no_walking_stream_gives_nothing():
    rng = np.random.default_rng(1)
    sg = StreamingGait(FS)
    for _ in range(200):
        sg.update(
            np.tile([0, 0, 9.81], (25, 1)) + rng.normal(0, 0.02, (25, 3)),
            rng.normal(0, 0.01, (25, 3)),
        )
        assert sg.new_steps_ == []
    sg.flush()
    assert len(sg.bouts_) == 0 and sg.current_bout_ is None
    with pytest.raises(ValueError, match="sampling_rate_hz"):
        StreamingGait(0)


def test_reset_forgets_everything_and_the_stream_starts_afresh():
    acc, gyr, h = _load("HA-001-Test5-Trial1")
    sg = StreamingGait(FS, sensor_height_m=h)

    def run() -> list:
        bouts = []
        for i in range(0, acc.shape[0], 25):
            bouts += sg.update(acc[i : i + 25], gyr[i : i + 25]).new_bouts_
        bouts += sg.flush().new_bouts_
        return [(b.start_s, b.end_s, b.n_steps) for b in bouts]

    first = run()
    assert first, "the straight walk has a bout"
    assert sg.reset() is sg
    assert sg.n_samples_ == 0 and sg.current_bout_ is None
    assert run() == first

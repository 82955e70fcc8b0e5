"""Synthetic days of daily life (sensors.daily_life): plans, truth and fast recordings."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_protocol.types import SensorConfig
from sensors.daily_life import WALK_DURATIONS_S, DailyLife, write_recording
from sensors.recording import load_recording

CFG = SensorConfig(100, 8, 2000)


@pytest.fixture(scope="module")
def dl() -> DailyLife:
    return DailyLife(100.0, seed=5)


def test_a_day_is_tiled_without_holes_and_its_truth_adds_up(dl):
    pieces, truth = dl.plan(2)
    assert pieces[0][2] == 0
    for (_k, _j, start, rows), nxt in zip(pieces, pieces[1:]):
        assert start + rows == nxt[2]  # contiguous
    assert pieces[-1][2] + pieces[-1][3] == 86400 * 100
    assert truth["wear"] == [[7.5 * 3600, 22 * 3600]] and truth["wear_s"] == 14.5 * 3600
    kinds = {k for k, *_ in pieces}
    assert {"off", "put_on", "sit", "outing", "take_off"} <= kinds
    walks = truth["walks"]
    assert len(walks) == sum(1 for k, *_ in pieces if k == "outing")
    for w in walks:
        assert 7.5 * 3600 < w["start_s"] < w["end_s"] < 22 * 3600
        assert 0.4 < w["speed_mps"] < 1.4 and 80 < w["cadence_spm"] < 125
    # every Mobilise-D bout class is in the library, and days differ
    assert min(WALK_DURATIONS_S) < 10 and max(WALK_DURATIONS_S) > 60
    other = dl.plan(3)[1]["walks"]
    assert [w["start_s"] for w in other] != [w["start_s"] for w in walks]


def test_blocks_follow_the_plan_and_add_fresh_noise(dl):
    kw = {"day_s": 1800.0, "wear_start_s": 300.0, "wear_end_s": 1500.0}
    blocks = list(dl.blocks(0, block_rows=50_000, **kw))
    acc = np.concatenate([a for a, _ in blocks])
    assert acc.shape == (180_000, 3) and max(len(a) for a, _ in blocks) == 50_000
    off = acc[:25_000]  # the sensor on the table: only noise around one gravity vector
    assert np.allclose(np.linalg.norm(off.mean(0)), 9.81, atol=0.1)
    assert 0.01 < off.std(0).max() < 0.02
    again = np.concatenate([a for a, _ in dl.blocks(0, **kw)])
    assert np.array_equal(again, acc)  # deterministic per seed and day


def test_a_written_recording_holds_the_samples_as_the_sensor_sent_them(dl, tmp_path):
    kw = {"day_s": 600.0, "wear_start_s": 60.0, "wear_end_s": 540.0}
    md = dl.day(1, **kw)
    path = tmp_path / "d.poise"
    n = write_recording(path, dl.blocks(1, **kw), config=CFG, start_epoch_s=1.8e9)
    assert n == md.n_samples == 60_000
    rec = load_recording(path)
    s = rec.sensors[0]
    assert not rec.damage and rec.closed_cleanly and not s.gaps and s.n_samples == n
    assert rec.metadata["start"]["epoch_s"] == 1.8e9
    # int16 counts: at most half a count of the range
    assert np.abs(s.acc_mps2 - md.acc_mps2).max() <= CFG.acc_scale_mps2 / 2 + 1e-12
    assert np.abs(s.gyr_radps - md.gyr_radps).max() <= CFG.gyro_scale_radps / 2 + 1e-12
    # 20 ppm drift, 8 ms latency: the fitted grid is uniform and starts near the latency
    assert s.clock.drift_ppm == pytest.approx(20.0, abs=2.0)
    assert np.allclose(np.diff(s.t_s), 0.01 * (1 + 20e-6), rtol=1e-4)
    assert 0.005 < s.t_s[0] < 0.012

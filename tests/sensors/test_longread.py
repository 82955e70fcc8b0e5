"""Reading a recording in pieces (sensors.longread) gives what load_recording gives.

Every row (bit for bit, NaN where lost), every time, gap, damage entry, note and event;
for hostile random files (valid CRCs, damaged contents: jumping and restarting clocks,
garbage packets, impossible host times) and for a file large enough to be mapped, with
loss, a clock restart and a layout change."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware_protocol import codec
from firmware_protocol.types import SensorConfig
from poise.player import Player
from sensors.longread import open_recording
from sensors.recording import RecordingError, RecordingWriter, load_recording
from sensors.recording_fuzz import hostile_recording

CFG = SensorConfig(100, 8, 2000)


def _same(a, b) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    if isinstance(a, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    return a == b


def _assert_same(path, pieces=(7, 1000)) -> None:
    try:
        rec = load_recording(path)
    except RecordingError as exc:
        with pytest.raises(RecordingError) as other:
            open_recording(path)
        assert str(other.value) == str(exc)
        return
    lr = open_recording(path)
    assert [(d.offset, d.reason) for d in lr.damage] == [(d.offset, d.reason) for d in rec.damage]
    assert lr.notes == rec.notes and _same(lr.events, rec.events)
    assert lr.metadata == rec.metadata and lr.closed_cleanly == rec.closed_cleanly
    assert _same(lr.duration_s, rec.duration_s)
    for s, ls in zip(rec.sensors, lr.sensors, strict=True):
        n = len(s.t_s)
        assert ls.n_rows == n == len(ls.t_s)
        assert (ls.id, ls.placement, ls.kind, ls.device) == (s.id, s.placement, s.kind, s.device)
        assert (ls.n_samples, ls.duplicates, ls.clock_resets) == (
            s.n_samples,
            s.duplicates,
            s.clock_resets,
        )
        assert _same([g.to_dict() for g in ls.gaps], [g.to_dict() for g in s.gaps])
        for step in pieces:
            parts = [ls.rows(i, i + step) for i in range(0, n, step)] or [ls.rows(0, 0)]
            t = np.concatenate([p[0] for p in parts])
            acc = np.concatenate([p[1] for p in parts])
            gyr = np.concatenate([p[2] for p in parts])
            assert np.array_equal(t, s.t_s)
            assert np.array_equal(acc, s.acc_mps2, equal_nan=True)
            assert np.array_equal(gyr, s.gyr_radps, equal_nan=True)
        if n:
            for x in (s.t_s[0] - 1, s.t_s[0], s.t_s[n // 2], s.t_s[n // 2] + 1e-4, s.t_s[-1] + 1):
                for side in ("left", "right"):
                    assert ls.t_s.searchsorted(x, side=side) == np.searchsorted(s.t_s, x, side=side)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rng=st.randoms(use_true_random=False))
def test_hostile_files_read_in_pieces_equal_the_whole_file(rng: random.Random, tmp_path_factory):
    path = tmp_path_factory.mktemp("h") / "x.poise"
    path.write_bytes(hostile_recording(rng))
    _assert_same(path)


def test_the_first_1500_seeds_of_the_hostile_generator():
    # fixed seeds (the property test above shrinks and varies); most hold 1-3 sensors,
    # damage, clock jumps and restarts, a tenth is refused as a whole
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.poise"
        for seed in range(0, 1500, 5):
            p.write_bytes(hostile_recording(random.Random(seed)))
            _assert_same(p, pieces=(13,))


def _packets(acc, gyr, ts0_us, per=19, compact=False, first_seq=0):
    out = []
    step = 1 if compact else per
    for p, i in enumerate(range(0, len(acc), step)):
        ts = (ts0_us + i * CFG.sample_period_us) % 2**32
        out.append(
            (
                i,
                codec.encode_data(
                    (first_seq + p) % 65536,
                    ts,
                    acc[i : i + step],
                    gyr[i : i + step],
                    compact=compact,
                    config=CFG,
                ),
            )
        )
    return out


def test_a_mapped_file_with_loss_a_clock_restart_and_a_layout_change(tmp_path, monkeypatch):
    """Larger than a megabyte (so it is mapped, not read, and its pages are released behind
    the reader every 64 KiB here), 30 minutes at 100 Hz: lost packets, duplicates, a GAP
    record, the sensor rebooting (clock back to 0), compact packets after a reconnect; two
    sensors interleaved."""
    monkeypatch.setattr("sensors.longread.RELEASE_BYTES", 1 << 16)
    rng = np.random.default_rng(1)
    n = 100 * 60 * 30
    acc = rng.integers(-20000, 20000, (n, 3)).astype(np.int16)
    gyr = rng.integers(-20000, 20000, (n, 3)).astype(np.int16)
    a = _packets(acc[: n // 2], gyr[: n // 2], 2**32 - 60_000_000)  # wraps after a minute
    b = _packets(acc[n // 2 : n // 2 + 3000], gyr[n // 2 : n // 2 + 3000], 0)  # reboot
    c = _packets(acc[n // 2 + 3000 :], gyr[n // 2 + 3000 :], 30_500_000, compact=True)
    packets = (
        [(i, p) for k, (i, p) in enumerate(a) if k % 97 != 5]  # lost packets
        + [a[200]]  # a duplicate, late
        + [(n // 2 + 500 + i, p) for i, p in b]  # after the reboot, 5 s later on the host
        + [(n // 2 + 3500 + i, p) for i, p in c]
    )
    path = tmp_path / "long.poise"
    md = {
        "sensors": [
            {"id": "back", "placement": "lower-back", "config": CFG},
            {"id": "shank", "placement": "left-shank", "config": CFG},
        ]
    }
    with RecordingWriter(path, md) as w:
        for k, (i, p) in enumerate(packets):
            cnt = codec.peek_header(p).count
            w.write_packet(0, p, host_time_s=0.2 + (i + cnt - 1) * 0.01 + 0.003 * (k % 3))
            if k % 10 == 0:
                w.write_packet(1, p, host_time_s=0.2 + (i + cnt - 1) * 0.01 + 0.004)
            if k == 4000:
                w.write_gap(0, samples=19, reason="lost", start_s=40.0, end_s=40.19)
                w.write_event({"kind": "marker", "t_s": 41.0, "marker": "x"})
    assert path.stat().st_size > 1 << 20
    _assert_same(path, pieces=(360_000 // 60, 4321))
    lr = open_recording(path)
    assert lr.sensors[0].clock_resets >= 1 and lr.sensors[0].gaps


def test_a_long_recording_replays_through_the_player(tmp_path):
    """The player delivers the same samples from a recording read in pieces."""
    rng = np.random.default_rng(2)
    n = 6000
    acc = rng.integers(-2000, 2000, (n, 3)).astype(np.int16)
    gyr = rng.integers(-2000, 2000, (n, 3)).astype(np.int16)
    path = tmp_path / "r.poise"
    with RecordingWriter(
        path, {"sensors": [{"id": "b", "placement": "lower-back", "config": CFG}]}
    ) as w:
        for i, p in _packets(acc, gyr, 0):
            if i // 19 % 50 != 7:
                w.write_packet(0, p, host_time_s=0.1 + (i + 18) * 0.01)
        w.write_event({"kind": "marker", "t_s": 12.0, "marker": "m"})

    class Sink:
        def __init__(self):
            self.t, self.acc, self.events = [], [], []

        def add_sensor(self, *a, **k): ...
        def push_samples(self, sid, t, acc, gyr):
            self.t.append(np.asarray(t))
            self.acc.append(acc)

        def push_gap(self, *a, **k): ...
        def push_state(self, *a, **k): ...
        def push_record_event(self, e):
            self.events.append(e)

        def reset_data(self, p):
            self.t, self.acc = [], []

    out = []
    for rec in (load_recording(path), open_recording(path)):
        sink = Sink()
        p = Player(rec, speed=5.0)
        p.attach(sink)
        p.seek(20.0)
        for _ in range(40):
            p.advance(0.1)
        out.append((np.concatenate(sink.t), np.concatenate(sink.acc), sink.events))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1], equal_nan=True)
    assert out[0][2] == out[1][2]
    assert len(out[0][0]) > 1000


def test_the_lazy_times_are_never_made_into_one_array(tmp_path):
    path = tmp_path / "t.poise"
    acc = np.zeros((400, 3), dtype=np.int16)
    with RecordingWriter(path, {"sensors": [{"id": "b", "config": CFG}]}) as w:
        for i, p in _packets(acc, acc, 0):
            w.write_packet(0, p, host_time_s=(i + 18) * 0.01)
    t = open_recording(path).sensors[0].t_s
    with pytest.raises(TypeError, match="not made into one array"):
        np.asarray(t)
    assert len(t) == 400 and t[-1] == pytest.approx(t[0] + 3.99) and len(t[10:20]) == 10

"""The replay player: delivers a recording as a live stream (play, pause, seek, speed)."""

from __future__ import annotations

import time

import numpy as np
import pytest

from firmware_protocol.types import SensorConfig
from poise.player import Player
from sensors.recording import Recording
from sensors.timeline import Gap, SensorData


class ListSink:
    """Collects what a source delivers (the session's sink interface)."""

    def __init__(self) -> None:
        self.sensors: dict[str, dict] = {}
        self.samples: dict[str, list[np.ndarray]] = {}
        self.gaps: list[tuple] = []
        self.events: list[dict] = []
        self.states: list[tuple] = []
        self.resets: list[float] = []

    def add_sensor(self, sensor) -> None:
        self.sensors[sensor.sensor_id] = {
            "placement": sensor.placement,
            "rate": sensor.sampling_rate_hz,
        }
        self.samples.setdefault(sensor.sensor_id, [])

    def push_samples(self, sensor_id, t_s, acc_mps2, gyr_radps) -> None:
        self.samples[sensor_id].append(np.column_stack([t_s, acc_mps2, gyr_radps]))

    def push_gap(self, sensor_id, start_s, end_s, samples) -> None:
        self.gaps.append((sensor_id, start_s, end_s, samples))

    def push_state(self, sensor_id, state, **info) -> None:
        self.states.append((sensor_id, state))

    def push_record_event(self, event) -> None:
        self.events.append(event)

    def reset_data(self, position_s) -> None:
        self.resets.append(position_s)
        for v in self.samples.values():
            v.clear()

    def rows(self, sid: str) -> np.ndarray:
        return np.concatenate(self.samples[sid]) if self.samples[sid] else np.empty((0, 7))


def make_recording(duration_s: float = 20.0, rates=(100, 50)) -> Recording:
    rng = np.random.default_rng(3)
    sensors = []
    for i, fs in enumerate(rates):
        n = int(duration_s * fs)
        t = np.arange(n) / fs
        acc = rng.standard_normal((n, 3))
        gyr = rng.standard_normal((n, 3))
        gaps = []
        if i == 1:
            acc[200:250] = np.nan  # 1 s hole at 4 s
            gyr[200:250] = np.nan
            gaps = [Gap(4.0, 5.0, 50, "link")]
        sensors.append(
            SensorData(f"s{i}", "lower-back", SensorConfig(sampling_rate_hz=fs), t, acc, gyr, gaps)
        )
    events = [
        {"kind": "marker", "t_s": 3.0, "marker": "note"},
        {"kind": "marker", "t_s": 12.5, "marker": "assisted"},
    ]
    return Recording(metadata={}, sensors=sensors, events=events)


def test_stepping_delivers_every_sample_once_in_order_with_gaps_and_events() -> None:
    rec = make_recording()
    sink = ListSink()
    player = Player(rec)
    player.attach(sink)
    rng = np.random.default_rng(0)
    while not player.finished:
        player.advance(float(rng.uniform(0.001, 0.2)))
    for s in rec.sensors:
        rows = sink.rows(s.id)
        np.testing.assert_array_equal(rows[:, 0], s.t_s)
        np.testing.assert_array_equal(rows[:, 1:4], s.acc_mps2)
    assert sink.gaps == [("s1", 4.0, 5.0, 50)]
    assert [e["t_s"] for e in sink.events] == [3.0, 12.5]
    assert ("s0", "ended") in sink.states
    assert player.position_s == pytest.approx(player.duration_s)


def test_speed_scales_the_position_and_is_bounded() -> None:
    player = Player(make_recording(), speed=5.0)
    player.attach(ListSink())
    assert player.advance(1.0) == pytest.approx(5.0)
    player.set_speed(0.5)
    assert player.advance(1.0) == pytest.approx(5.5)
    for bad in (0.25, 11.0):
        with pytest.raises(ValueError, match="between 0.5 and 10"):
            player.set_speed(bad)


def test_seek_resets_the_sink_prefills_without_replaying_events() -> None:
    rec = make_recording()
    sink = ListSink()
    player = Player(rec, preroll_s=2.0)
    player.attach(sink)
    player.advance(4.0)
    assert len(sink.events) == 1
    player.seek(14.0)
    assert sink.resets == [14.0]
    rows = sink.rows("s0")
    assert rows[0, 0] == pytest.approx(12.0) and rows[-1, 0] <= 14.0
    assert len(sink.events) == 1  # the 12.5 s event lies in the preroll: not replayed
    player.advance(1.0)
    assert len(sink.events) == 1
    player.seek(10.0)
    player.advance(5.0)
    assert [e["t_s"] for e in sink.events] == [3.0, 12.5]
    player.seek(1e9)
    assert player.finished
    player.seek(3.0)
    assert not player.finished and sink.states[-1] == ("s1", "replay")


def test_background_thread_plays_in_real_time_times_speed() -> None:
    player = Player(make_recording(), speed=10.0, tick_s=0.005)
    sink = ListSink()
    player.start(sink)
    try:
        time.sleep(0.15)
        assert player.position_s == 0.0  # paused until play
        player.play()
        time.sleep(0.5)
        player.pause()
        pos = player.position_s
        assert 3.0 < pos < 7.5
        time.sleep(0.1)
        assert player.position_s == pos
    finally:
        player.stop()


def test_empty_recording_is_refused() -> None:
    with pytest.raises(ValueError, match="no sensor data"):
        Player(Recording(metadata={}, sensors=[]))


def test_samples_before_zero_and_untimed_events_are_handled():
    # a clock-fitted first sample may lie a few ms before the recording start; an event
    # appended after the session may have no time (append_event's default t_s=None)
    fs = 100
    n = 300
    t = (np.arange(n) - 3) / fs
    cfg = SensorConfig(sampling_rate_hz=fs, acc_range_g=8, gyro_range_dps=2000)
    acc = np.random.default_rng(0).standard_normal((n, 3))
    s = SensorData("a", "lower-back", cfg, t, acc, acc.copy())
    events = [{"kind": "note", "t_s": None}, {"kind": "marker", "t_s": 1.0}]
    rec = Recording(metadata={}, sensors=[s], events=events)
    p = Player(rec)
    sink = ListSink()
    p.attach(sink)
    p.run_to_end()
    assert sink.rows("a").shape[0] == n
    assert [e["kind"] for e in sink.events] == ["marker"]
    p.seek(0.0)
    assert sink.rows("a").shape[0] == 4  # the preroll to 0 holds the early samples and t = 0


def test_events_after_the_last_sample_are_delivered_at_the_end():
    # a test stopped together with the session is written just after the last sample
    rec = make_recording(duration_s=5.0)
    end = max(float(s.t_s[-1]) for s in rec.sensors)
    rec.events = [
        {"kind": "test_stop", "t_s": end + 0.05},
        {"kind": "test_result", "t_s": end + 0.3},
    ]
    p = Player(rec)
    sink = ListSink()
    p.attach(sink)
    p.run_to_end()
    assert [e["kind"] for e in sink.events] == ["test_stop", "test_result"]

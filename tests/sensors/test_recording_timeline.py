"""load_recording: packets -> uniform grid, NaN holes, duplicates, gaps, clock mapping."""

from __future__ import annotations

import io

import numpy as np
import pytest

from firmware_protocol import codec
from firmware_protocol.types import SensorConfig
from sensors.recording import RecordingWriter, load_recording

CFG = SensorConfig(100, 8, 2000)
PERIOD_US = CFG.sample_period_us


def _signal(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    acc = rng.integers(-20000, 20000, (n, 3)).astype(np.int16)
    gyr = rng.integers(-20000, 20000, (n, 3)).astype(np.int16)
    return acc, gyr


def _packets(acc, gyr, ts0_us, per=19, compact=False, cfg=CFG, period_us=PERIOD_US):
    """(first sample index, packet bytes) of consecutive packets."""
    out = []
    step = 1 if compact else per
    for p, i in enumerate(range(0, len(acc), step)):
        ts = (ts0_us + i * period_us) % 2**32
        out.append(
            (
                i,
                codec.encode_data(
                    p % 65536, ts, acc[i : i + step], gyr[i : i + step], compact=compact, config=cfg
                ),
            )
        )
    return out


def _write(packets, host_of_index, *, gaps=(), cfg=CFG, n_per=19):
    buf = io.BytesIO()
    w = RecordingWriter(buf, {"sensors": [{"id": "s", "placement": "lower-back", "config": cfg}]})
    for i, pk in packets:
        n = codec.peek_header(pk).count
        w.write_packet(0, pk, host_time_s=host_of_index(i + n - 1))
    for g in gaps:
        w.write_gap(0, **g)
    w.close()
    return buf.getvalue()


def test_wraparound_holes_duplicates_and_reordering():
    n = 950
    acc, gyr = _signal(n)
    ts0 = 2**32 - 2_500_000  # the sensor clock wraps after 2.5 s
    pk = _packets(acc, gyr, ts0)
    lost = {5, 6, 20}
    order = [p for k, p in enumerate(pk) if k not in lost]
    order.insert(12, pk[11])  # a duplicate
    order[30], order[31] = order[31], order[30]  # reordered pair

    def host(i):
        return 1.0 + i * 0.01 + 0.004

    rec = load_recording(_write(order, host))
    s = rec.sensors[0]
    assert s.acc_mps2.shape == (n, 3) and s.t_s.shape == (n,)
    missing = np.zeros(n, bool)
    for k in lost:
        missing[pk[k][0] : pk[k][0] + 19] = True
    assert np.array_equal(np.isnan(s.acc_mps2[:, 0]), missing)
    np.testing.assert_allclose(s.acc_mps2[~missing], acc[~missing] * CFG.acc_scale_mps2)
    np.testing.assert_allclose(s.gyr_radps[~missing], gyr[~missing] * CFG.gyro_scale_radps)
    assert s.duplicates == 19
    np.testing.assert_allclose(np.diff(s.t_s), 0.01, atol=1e-9)  # uniform grid
    np.testing.assert_allclose(s.t_s[0], 1.004, atol=1e-6)
    assert [(g.samples, round(g.start_s, 6)) for g in s.gaps] == [
        (38, round(s.t_s[5 * 19], 6)),
        (19, round(s.t_s[20 * 19], 6)),
    ]
    assert s.gaps[0].end_s == pytest.approx(s.t_s[7 * 19])
    assert rec.damage == [] and rec.closed_cleanly


def test_gap_records_merge_with_holes_and_extend_past_the_data():
    n = 19 * 40
    acc, gyr = _signal(n, 1)
    ts0 = 123_456
    pk = _packets(acc, gyr, ts0)
    kept = [p for k, p in enumerate(pk) if k != 10]
    gaps = [
        # the same loss as the hole: must not be counted twice
        {"samples": 19, "reason": "loss", "start_us": ts0 + 190 * PERIOD_US, "t_s": 2.0},
        # the link dropped at the end: 50 samples after the last one received
        {
            "samples": 50,
            "reason": "link",
            "start_us": ts0 + n * PERIOD_US,
            "end_us": ts0 + (n + 50) * PERIOD_US,
            "t_s": 8.0,
        },
        # host-time-only record for a stretch inside the data that was not lost
        {"samples": 0, "reason": "unsure", "start_s": 3.0, "end_s": 3.1},
    ]
    rec = load_recording(_write(kept, lambda i: i * 0.01, gaps=gaps))
    g = rec.sensors[0].gaps
    assert [x.samples for x in g] == [19, 10, 50]
    assert "loss" in g[0].reason and "missing samples" in g[0].reason
    assert g[2].reason == "link"
    assert g[2].start_s == pytest.approx(n * 0.01) and g[2].end_s == pytest.approx((n + 50) * 0.01)
    assert len(rec.gap_records) == 3


def test_clock_drift_and_latency_are_mapped_to_host_time():
    n = 19 * 600  # 114 s
    acc, gyr = _signal(n, 2)
    pk = _packets(acc, gyr, 4_000_000_000)
    rng = np.random.default_rng(3)
    drift = 80e-6
    latency = 0.015 + rng.exponential(0.02, len(pk))
    host = {i: 5.0 + i * 0.01 * (1 + drift) for i in range(n)}
    rec = load_recording(
        _write(pk, lambda i: host[i] + latency[i // 19]),
    )
    s = rec.sensors[0]
    true_t = 5.0 + np.arange(n) * 0.01 * (1 + drift)
    err = s.t_s - true_t
    assert s.clock.drift_ppm == pytest.approx(80, abs=10)
    assert np.ptp(err) < 1e-3  # drift removed
    assert 0.0 <= np.median(err) < 0.03  # offset is the minimal latency


def test_compact_packets_survive_a_gap_longer_than_the_24_bit_wrap():
    n = 300
    acc, gyr = _signal(n, 4)
    ts0 = 16_000_000
    pk = _packets(acc, gyr, ts0, compact=True)
    # a 20 s outage (2000 samples) between the first and second half
    first, second = pk[:150], [(i + 2000, p) for i, p in pk[150:]]
    second = [
        (
            i,
            codec.encode_data(
                k, (ts0 + i * PERIOD_US) % 2**32, acc[i - 2000], gyr[i - 2000], compact=True
            ),
        )
        for k, (i, _) in enumerate(second, start=150)
    ]
    rec = load_recording(_write(first + second, lambda i: 0.5 + i * 0.01, n_per=1))
    s = rec.sensors[0]
    assert s.acc_mps2.shape[0] == n + 2000
    assert s.n_samples == n
    assert [g.samples for g in s.gaps] == [2000]
    np.testing.assert_allclose(s.acc_mps2[2150:, 0], acc[150:, 0] * CFG.acc_scale_mps2)


def test_sensor_clock_reset_is_placed_by_host_time():
    acc, gyr = _signal(19 * 40, 5)
    a = _packets(acc[:380], gyr[:380], 50_000_000)
    b = _packets(acc[380:], gyr[380:], 0)  # rebooted: clock restarts at 0
    # after the reboot the sensor resumes 2 s (200 samples) later on the host clock
    packets = a + [(i + 380 + 200, p) for i, p in b]
    rec = load_recording(_write(packets, lambda i: 1.0 + i * 0.01))
    s = rec.sensors[0]
    assert s.clock_resets == 1
    assert s.n_samples == 760
    assert [g.samples for g in s.gaps] == [200]
    np.testing.assert_allclose(s.acc_mps2[580:, 1], acc[380:, 1] * CFG.acc_scale_mps2)


def test_bad_packets_are_damage_at_their_record_offset():
    acc, gyr = _signal(19 * 10, 6)
    pk = _packets(acc, gyr, 0)
    broken = bytearray(pk[4][1])
    broken[20] ^= 0xFF  # sample bytes: the codec's CRC-16 catches it
    pk[4] = (pk[4][0], bytes(broken))
    rec = load_recording(_write(pk, lambda i: i * 0.01))
    (dmg,) = rec.damage
    assert "CRC" in dmg.reason and "sensor s" in dmg.reason
    s = rec.sensors[0]
    assert s.n_samples == 19 * 9 and [g.samples for g in s.gaps] == [19]


def test_sensor_without_packets_and_multi_sensor_order():
    cfgs = [SensorConfig(200, 4, 500), SensorConfig(50, 2, 250)]
    buf = io.BytesIO()
    w = RecordingWriter(
        buf,
        {
            "sensors": [
                {"id": f"s{k}", "placement": p, "config": c}
                for k, (p, c) in enumerate(zip(["l", "r"], cfgs))
            ]
        },
    )
    acc, gyr = _signal(40, 7)
    for i, p in _packets(acc, gyr, 0, cfg=cfgs[0], period_us=cfgs[0].sample_period_us):
        w.write_packet(0, p, host_time_s=0.1 + i * 0.005)
    w.write_gap(1, samples=5, reason="never connected", start_s=0.0, end_s=0.1)
    w.close(t_s=3.0)
    rec = load_recording(buf.getvalue())
    s0, s1 = rec.sensors
    assert s0.id == "s0" and s0.sampling_rate_hz == 200 and s0.n_samples == 40
    np.testing.assert_allclose(np.diff(s0.t_s), 0.005, atol=1e-9)
    assert s1.t_s.size == 0 and s1.acc_mps2.shape == (0, 3)
    assert [(g.start_s, g.end_s, g.samples) for g in s1.gaps] == [(0.0, 0.1, 5)]
    assert rec.duration_s == pytest.approx(3.0)


def test_layout_change_between_connections_keeps_every_sample():
    # SPEC 3.4: the layout follows the MTU, i.e. it may change at a reconnect; a
    # recording then holds full packets and compact ones (24-bit timestamps) of one clock
    n = 600
    acc, gyr = _signal(n, seed=3)
    ts0 = 2**32 - 3_000_000  # the 32-bit clock wraps inside the full part
    full = _packets(acc[:300], gyr[:300], ts0)
    compact = [
        (300 + i, pk)
        for i, pk in _packets(acc[300:], gyr[300:], ts0 + 300 * PERIOD_US, compact=True)
    ]
    rec = load_recording(_write(full + compact, lambda i: 1.0 + i / 100 + 0.004))
    s = rec.sensors[0]
    assert not rec.damage
    assert s.n_samples == n and len(s.t_s) == n and not s.gaps
    np.testing.assert_allclose(s.acc_mps2, acc * CFG.acc_scale_mps2)
    np.testing.assert_allclose(np.diff(s.t_s), 0.01, atol=1e-6)


def test_a_delivery_stall_is_not_a_clock_restart():
    """The host got nothing for 8 s after the first packet, then the backlog in a burst (a
    busy machine: seen while ``poise record --lsl`` ran at load 7). The sensor clock kept
    counting, so this is late delivery, not a restart: one clock line for every sample,
    no duplicates, the times the on-time packets give (before: a new clock segment from
    the second packet, fitted on the burst, dropped a sample as a "duplicate" and shifted
    every later sample by a period)."""
    n = 19 * 1200  # 228 s
    acc, gyr = _signal(n, 7)
    pk = _packets(acc, gyr, 123_456_789)
    true_t = 1.0 + np.arange(n) * 0.01 * (1 + 40e-6)
    latency = 0.004 + np.random.default_rng(8).exponential(0.003, len(pk))

    def host(i):  # receive time of the packet whose last sample is i
        on_time = true_t[i] + latency[i // 19]
        return on_time if i < 19 else max(on_time, 9.0 + (i // 19) * 1e-4)

    rec = load_recording(_write(pk, host))
    s = rec.sensors[0]
    assert (s.clock_resets, s.duplicates, s.gaps) == (0, 0, [])
    assert s.n_samples == n
    np.testing.assert_array_equal(s.acc_mps2[:, 0], acc[:, 0] * CFG.acc_scale_mps2)
    err = s.t_s - true_t
    assert 0.0 <= err.min() and err.max() < 0.005 and np.ptp(err) < 1e-3


def test_a_restart_to_a_clock_just_ahead_is_still_a_restart():
    """A clock that restarted at a value just past the old one (a step forward of 0.1 s
    while the host waited 12 s) stays 12 s late for good: a restart, placed by host time."""
    acc, gyr = _signal(19 * 40, 9)
    a = _packets(acc[:380], gyr[:380], 1_000_000)
    b = _packets(acc[380:], gyr[380:], 1_000_000 + 380 * PERIOD_US + 100_000)
    packets = a + [(i + 380 + 1200, p) for i, p in b]  # resumes 12 s later on the host
    rec = load_recording(_write(packets, lambda i: 1.0 + i * 0.01))
    s = rec.sensors[0]
    assert s.clock_resets == 1 and s.n_samples == 760
    assert [g.samples for g in s.gaps] == [1200]
    np.testing.assert_allclose(s.acc_mps2[1580:, 1], acc[380:, 1] * CFG.acc_scale_mps2)

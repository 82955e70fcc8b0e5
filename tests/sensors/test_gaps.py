"""Gap accounting: lost samples become gaps, duplicates are dropped, totals add up.

The tracker works on the device's sample index (every driver places its samples there,
see sensors/devices); sequence numbers, where a protocol has them, count packets.
"""

from __future__ import annotations

import numpy as np
import pytest

from sensors.gaps import SEQ_MODULUS, Gap, GapTracker

RATE = 200.0


def packets(n_packets: int, spp: int, start: int = 1000, seq0: int = 0):
    """(seq, first index, n) of a sensor streaming n_packets of spp samples."""
    return [((seq0 + i) % SEQ_MODULUS, start + i * spp, spp) for i in range(n_packets)]


def test_complete_stream_has_no_gaps():
    t = GapTracker(RATE)
    for pk in packets(100, 10):
        assert t.accept(*pk).action == "accept"
    assert t.gaps == []
    assert t.samples_received == 1000 and t.samples_lost == 0 and t.loss_fraction == 0


@pytest.mark.parametrize("spp", [1, 7, 19])
def test_random_drops_are_reported_exactly(spp):
    rng = np.random.default_rng(spp)
    pks = packets(2000, spp, seq0=65_000)  # seq wraps inside the run
    keep = rng.random(len(pks)) > 0.05
    keep[0] = keep[-1] = True
    t = GapTracker(RATE)
    for pk, k in zip(pks, keep):
        if k:
            t.accept(*pk)
    dropped = int((~keep).sum())
    assert t.samples_lost == dropped * spp
    assert t.packets_lost == dropped
    assert t.samples_received + t.samples_lost == len(pks) * spp
    # each gap starts at a dropped packet's first sample and covers a run of drops
    starts = {pk[1] for pk, k in zip(pks, keep) if not k}
    assert all(g.start_index in starts for g in t.gaps)
    assert sum(g.samples for g in t.gaps) == dropped * spp
    assert all(g.end_index - g.start_index == g.samples for g in t.gaps)


def test_without_sequence_numbers_the_index_alone_counts_the_loss():
    """Protocols without a packet counter (PMD, MetaWear): samples exact, packets unknown."""
    pks = packets(50, 36)
    t = GapTracker(104.0, seq_modulus=None)
    for i, (_, first, n) in enumerate(pks):
        if i not in (10, 11, 30):
            t.accept(None, first, n)
    assert t.samples_lost == 3 * 36 and [g.samples for g in t.gaps] == [72, 36]
    assert all(g.packets == -1 for g in t.gaps) and t.packets_lost == 0


def test_duplicates_after_reconnect_are_dropped_not_counted():
    pks = packets(50, 10)
    t = GapTracker(RATE)
    for pk in pks[:30]:
        t.accept(*pk)
    t.mark_link_lost()
    # the sensor re-sends its last 3 packets, then continues after an outage of 5 packets
    for pk in pks[27:30]:
        assert t.accept(*pk).action == "duplicate"
    v = t.accept(*pks[35])
    assert v.action == "accept" and v.gap is not None
    assert v.gap.cause == "link" and v.gap.samples == 50 and v.gap.packets == 5
    for pk in pks[36:]:
        t.accept(*pk)
    assert t.duplicates == 3
    assert t.samples_received + t.samples_lost == 500
    # the next gap on a live link is a plain loss again
    v = t.accept(pks[-1][0] + 2, pks[-1][1] + 20, 10)
    assert v.gap.cause == "loss"


def test_partial_overlap_skips_known_samples():
    t = GapTracker(RATE)
    t.accept(0, 0, 10)
    v = t.accept(1, 6, 10)  # first 4 samples known
    assert v.action == "overlap" and v.skip == 4
    assert t.samples_received == 16 and t.samples_lost == 0


def test_clock_reset_is_flagged_and_restart_books_host_estimate():
    t = GapTracker(RATE, max_step_back_s=5)
    t.accept(0, 20_000, 10)
    assert t.check(1, 10, 10).action == "reset"  # 5 s = 1000 samples back is too far
    assert t.check(1, 20_010 + 2 * 3600 * 200, 10).action == "reset"  # > max_gap_s forward
    assert t.check(1, 20_010 - 500, 10).action == "duplicate"  # 2.5 s back: old samples
    gap = t.restart(0, 20_050, 10, lost_samples=40)
    assert isinstance(gap, Gap) and gap.cause == "reset" and gap.samples == 40
    assert gap.start_index == 20_010 and gap.end_index == 20_050
    assert t.accept(1, 20_060, 10).gap is None
    assert t.samples_lost == 40 and t.samples_received == 30


def test_gap_to_dict_is_json_ready():
    g = Gap(start_index=10, samples=3, packets=1, sampling_rate_hz=RATE)
    d = g.to_dict()
    assert d["end_index"] == 13 and d["cause"] == "loss"
    assert g.duration_s == pytest.approx(0.015)


def test_fresh_start_reports_packets_lost_before_the_first_one():
    pks = packets(20, 4, start=0)
    t = GapTracker(RATE)
    t.expect_fresh_start(("seq", 0))
    v = t.accept(*pks[2])  # seq 0 and 1 never arrived
    assert v.gap is not None and v.gap.samples == 8 and v.gap.packets == 2
    assert v.gap.start_index == pks[0][1]
    for pk in pks[3:]:
        t.accept(*pk)
    assert t.samples_received + t.samples_lost == 80
    # without the fresh-start hint the leading loss is invisible (a sensor already running)
    t2 = GapTracker(RATE)
    assert t2.accept(*pks[2]).gap is None
    # a counter that starts at a known index (MetaWear's accounter counts from 0)
    t3 = GapTracker(100.0, seq_modulus=None)
    t3.expect_fresh_start(("index", 0))
    v = t3.accept(None, 3, 1)
    assert v.gap is not None and (v.gap.start_index, v.gap.samples) == (0, 3)


def test_link_meter_rate_and_latency():
    from sensors.stats import LinkMeter, LinkStats

    m = LinkMeter(window_s=5.0)
    assert m.packets_per_s(0.0) == 0.0 and np.isnan(m.latency_ms()[0])
    for k in range(50):  # 50 packets/s for one second
        m.on_packet(100.0 + k / 50, 0.001 + 0.004 * (k % 2))
    assert m.packets_per_s(101.0) == pytest.approx(50.0, rel=0.05)
    m.min_latency_s = 0.002
    p50, p99 = m.latency_ms()
    assert 2.0 <= p50 <= 7.0 and p99 == pytest.approx(7.0, abs=0.1)
    d = LinkStats(0, "a", None, "streaming").to_dict()
    assert d["latency_ms"] is None

"""The Poise wearable's decoder: compact (24-bit) packets across a long silence."""

from __future__ import annotations

import numpy as np
import pytest

from firmware_protocol import codec
from sensors.devices.poise import DATA, PoiseDecoder
from sensors.gaps import GapTracker

CFG = codec.SensorConfig(200, 8, 2000)
PERIOD_US = 5000


def _packet(k: int, t0_us: int, seq0: int = 0) -> bytes:
    """Compact packet of sample ``k`` (one sample; seq and clock run on while silent)."""
    acc = np.full((1, 3), k % 1000, dtype=np.int16)
    gyr = np.zeros((1, 3), dtype=np.int16)
    ts = (t0_us + k * PERIOD_US) % 2**32
    return codec.encode_data((seq0 + k) % 2**16, ts, acc, gyr, compact=True, config=CFG)


def _indices(samples: list[int], t0_us: int = 123_456_789, seq0: int = 0):
    dec = PoiseDecoder(CFG)
    tracker = GapTracker(CFG.sampling_rate_hz, seq_modulus=dec.seq_modulus)
    out = []
    for k in samples:
        (frame,) = dec.feed(DATA, _packet(k, t0_us, seq0))
        verdict = tracker.accept(frame.seq, frame.first_index, frame.n_samples)
        out.append((frame.first_index, verdict.action))
    return out, tracker


@pytest.mark.parametrize("silence_s", [1.0, 8.0, 9.0, 12.0, 16.0, 17.5, 25.0, 200.0])
def test_compact_packets_after_a_silence_keep_their_place(silence_s):
    """A sensor out of range for ``silence_s`` (it keeps counting, SPEC.md 4.2): the
    packets after it stand where they were taken, none is a duplicate."""
    lost = int(silence_s * 200)
    before = list(range(400))
    after = list(range(400 + lost, 800 + lost))
    got, tracker = _indices(before + after, seq0=65_000)
    assert [i for i, _ in got] == before + after
    assert all(a == "accept" for _, a in got)
    assert tracker.samples_lost == lost and tracker.duplicates == 0


def test_a_restarted_sensor_is_still_a_restart():
    """New clock and seq from 0 (a reboot): the sequence rule does not apply."""
    dec = PoiseDecoder(CFG)
    for k in range(400):
        dec.feed(DATA, _packet(k, 123_456_789))
    (frame,) = dec.feed(DATA, _packet(0, 7_000_000))  # seq 0, an unrelated clock
    assert frame.first_index != 400 + 0  # not placed by the sequence step

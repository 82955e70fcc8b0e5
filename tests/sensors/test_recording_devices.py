"""Recordings of any device (format 2): NOTIFY records, the driver in the header, replay
through the device's driver; Poise-only recordings stay format 1 and old files open."""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
import pytest

from sensors.devices.polar import pmd
from sensors.recording import (
    MAGIC,
    RecordingError,
    RecordingReader,
    RecordingWriter,
    RecordType,
    load_recording,
)

ROOT = Path(__file__).resolve().parents[2]
POLAR = {
    "id": "shank",
    "placement": "left-shank",
    "driver": "polar-verity-sense",
    "config": {"sampling_rate_hz": 104, "acc_range_g": 8, "gyro_range_dps": 2000},
}
POISE = {
    "id": "back",
    "config": {"sampling_rate_hz": 100, "acc_range_g": 8, "gyro_range_dps": 2000},
}


def _version(data: bytes) -> int:
    assert data.startswith(MAGIC)
    return struct.unpack_from("<H", data, 8)[0]


def test_format_version_is_2_only_with_a_non_poise_sensor():
    buf = io.BytesIO()
    RecordingWriter(buf, {"sensors": [POISE]}).close()
    assert _version(buf.getvalue()) == 1  # readable by Poise versions before devices
    with pytest.raises(ValueError, match="NOTIFY records need format 2"):
        RecordingWriter(io.BytesIO(), {"sensors": [POISE]}).write_notification(0, 0, b"x")
    buf = io.BytesIO()
    w = RecordingWriter(buf, {"sensors": [POISE, POLAR]})
    w.write_notification(1, 3, b"\x01\x02", host_time_s=0.25)
    w.close()
    assert _version(buf.getvalue()) == 2
    (rec,) = [r for r in RecordingReader(buf.getvalue()).records() if r.type == RecordType.NOTIFY]
    assert (rec.sensor, rec.channel, rec.host_time_s, rec.packet) == (1, 3, 0.25, b"\x01\x02")
    with pytest.raises(ValueError, match="unknown sensor kind 'nope'"):
        RecordingWriter(io.BytesIO(), {"sensors": [{**POLAR, "driver": "nope"}]})


def _polar_recording(drop: set[int], factor: float | None) -> tuple[bytes, np.ndarray]:
    """20 paired ACC+GYRO frames of 36 samples at 104 Hz as a Verity Sense sends them."""
    rng = np.random.default_rng(7)
    k, period = 36, 1e9 / 104
    t0 = 800_000_000 * 10**9
    buf = io.BytesIO()
    w = RecordingWriter(buf, {"sensors": [POLAR]})
    if factor is not None:  # the GYRO start answer with its conversion factor (channel 1)
        params = pmd.encode_settings({pmd.Setting.FACTOR: factor})
        answer = pmd.encode_response(pmd.Response(2, pmd.MeasurementType.GYRO, 0, False, params))
        w.write_notification(0, 1, answer, host_time_s=0.0)
    gyr_counts = []
    for j in range(20):
        ts = t0 + round((j * k + k - 1) * period)
        acc = rng.integers(-100, 100, (k, 3)) + [0, 0, 1000]
        gyr = rng.integers(-300, 300, (k, 3))
        gyr_counts.append(gyr)
        t_host = 0.1 + (j + 1) * k / 104 + 0.004
        if j not in drop:
            w.write_notification(
                0, 0, pmd.encode_frame(2, ts, 1, True, pmd.encode_delta(acc)), t_host
            )
        w.write_notification(0, 0, pmd.encode_frame(5, ts, 0, True, pmd.encode_delta(gyr)), t_host)
    w.write_notification(0, 0, b"\x02\x00", 3.0)  # a broken frame: damage, not a crash
    if drop:  # what the stream wrote when it saw the hole (host times of the lost samples)
        a, b = min(drop) * k, (max(drop) + 1) * k
        w.write_gap(0, samples=b - a, reason="loss", start_s=0.1 + a / 104, end_s=0.1 + b / 104)
    w.close()
    return buf.getvalue(), np.concatenate(gyr_counts)


def test_a_polar_recording_replays_through_its_driver_with_the_recorded_factor():
    data, gyr_counts = _polar_recording(drop={5, 6}, factor=0.07)
    rec = load_recording(data)
    (sd,) = rec.sensors
    assert sd.kind == "polar-verity-sense" and sd.sampling_rate_hz == 104
    assert sd.device == {
        "kind": "polar-verity-sense",
        "model": "Polar Verity Sense",
        "firmware": None,
    }
    assert sd.n_samples == 18 * 36 and len(sd.t_s) == 20 * 36
    (gap,) = sd.gaps
    assert gap.samples == 72 and "missing samples" in gap.reason and "loss" in gap.reason
    assert np.diff(sd.t_s).std() < 1e-6  # a uniform grid
    assert np.median(np.diff(sd.t_s)) == pytest.approx(1 / 104, rel=1e-3)
    # the GYRO factor came from the recorded start answer: counts x 0.07 deg/s
    valid = sd.valid
    np.testing.assert_allclose(
        np.rad2deg(sd.gyr_radps[valid]), gyr_counts[valid] * np.float32(0.07), rtol=1e-6
    )
    assert len(rec.damage) == 1 and "rejected by the decoder" in rec.damage[0].reason


def test_without_the_answer_the_factor_is_one():
    data, gyr_counts = _polar_recording(drop=set(), factor=None)
    sd = load_recording(data).sensors[0]
    np.testing.assert_allclose(np.rad2deg(sd.gyr_radps), gyr_counts)


def test_format_1_recordings_still_open_as_poise_wearables():
    rec = load_recording(ROOT / "recordings" / "scenarios" / "tug.poise")
    assert RecordingReader(ROOT / "recordings" / "scenarios" / "tug.poise").format_version == 1
    assert all(s.kind == "poise" and s.device["kind"] == "poise" for s in rec.sensors)
    assert rec.sensors[0].n_samples > 1000


def test_a_header_naming_an_unknown_driver_is_a_clear_error():
    """A recording from a Poise that knows a device this one does not."""
    from sensors import recording

    md = {"format": "poise-recording", "sensors": [{**POLAR, "driver": "polar-verity-xxxxx"}]}
    header = recording._frame(RecordType.HEADER, recording._json_bytes(md))
    data = MAGIC + struct.pack("<HH", 2, 0) + header
    with pytest.raises(RecordingError, match="sensor 0: unknown sensor kind 'polar-verity-xxxxx'"):
        load_recording(data)

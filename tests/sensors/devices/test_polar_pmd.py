"""Polar Measurement Data: the decoder against Polar's own published frames and values.

Frames and expected values are facts from polarofficial/polar-ble-sdk (Android SDK unit
tests under ``sources/Android/android-communications/library/src/test/java/com/polar/
androidcommunications/api/ble/model/gatt/client/pmd/``: ``model/AccDataTest.kt``,
``model/GyrDataTest.kt``, ``PmdSettingTest.kt``,
``BlePmdClientControlPointResponseTest.kt``) and from a Verity Sense user's report on
the SDK's issue tracker (polar-ble-sdk issue #331). Each test names its source.
"""

from __future__ import annotations

import struct

import numpy as np
import pytest

from sensors.devices.polar import PolarDecoder, PolarVeritySenseDriver, pmd

# AccDataTest "process acc raw data frame type 1": header and the first samples
ACC_RAW_T1_HEADER = bytes.fromhex("02 00 94 35 77 00 00 00 00 01")
ACC_RAW_T1_CONTENT = bytes.fromhex(
    "F7FFFFFFE703 F8FFFEFFE503 F9FFFFFFE503 FAFFFFFFE603 FAFFFEFFE603 F9FFFFFFE503"
    "F8FFFFFFE603 F8FFFEFFE603 FAFFFFFFE503 FAFFFFFFE703 FAFFFFFFE503 F8FFFFFFE603"
    "F7FFFFFFE603 F8FFFEFFE603 F9FFFEFFE703 F9FF0000E603 F9FFFFFFE603 F7FFFEFFE503"
    "F9FFFFFFE503 F9FFFFFFE503 FAFF0000E603 F9FFFEFFE603 F8FFFFFFE603 F8FFFFFFE503"
    "F9FFFFFFE603 F9FFFFFFE503 FAFFFFFFE603 F9FFFFFFE503 F9FFFFFFE503 F8FFFEFFE603"
    "F9FFFFFFE603 F9FFFFFFE603 F9FF0000E503 F9FFFEFFE603 F8FFFEFFE603 F7FFFEFFE603".replace(" ", "")
)
# AccDataTest "process acc compressed data type 0" (factor 2.44E-4, range 8 g)
ACC_C0_CONTENT = bytes.fromhex(
    "7107F06A9E8D0A38BE5CBEBA2F96B3EE4BE5ADFB42B9EBBE4CFEBA2F92BFEE4BE4B1FB12B9ECBD3C3EBB"
    "2F8FD3DE4BE3B5F7D2B8EDBD307E7B2F8BE3CE8BE2BAF7A2B8EEBC20BE7B2F88F3CECBE1BDEF52F8EFBC"
    "18FE3B2F8403BFCBE0C2EF32B8F0BB044EBC2E8113AF0BE0C6EFF2F7F1B9FC7DBC2E7D279F4BDFCAEBC2"
    "F7F2B8ECCD7C2E7B378F4BDECEE392F7F3B8E00DFD2D774B7FCBDDD2DF6237F5B7D44DBD2D745B6FCBDC"
    "D7D73237F6B5C88D7D2D716B4F4BDCDCD3F236F7B4BCDDFD2C6F7B3F4BDBE0CFD236F8B2B02DBE2C6C8F"
    "1FCBDAE3C7A276F9"
)


def test_acc_raw_frame_type1_polar_accdatatest():
    """AccDataTest: raw 16-bit ACC in mG, the frame's timestamp is its last sample's."""
    f = pmd.decode_frame(ACC_RAW_T1_HEADER + ACC_RAW_T1_CONTENT)
    assert f.measurement == pmd.MeasurementType.ACC and not f.compressed and f.frame_type == 1
    assert f.timestamp_ns == 2_000_000_000
    mg = pmd.acc_mg(f)
    assert mg.shape == (len(ACC_RAW_T1_CONTENT) // 6, 3)
    np.testing.assert_array_equal(mg[0], [-9, -1, 999])
    np.testing.assert_array_equal(mg[1], [-8, -2, 997])


def test_acc_compressed_type0_with_factor_polar_accdatatest():
    """AccDataTest: delta frame type 0 (values in G x factor), 1 reference + 56 deltas;
    the SDK's expected mG is ``(factor * sample * 1000f).toInt()``."""
    f = pmd.decode_frame(bytes.fromhex("02 00 94 35 77 00 00 00 00 80") + ACC_C0_CONTENT)
    assert f.compressed and f.frame_type == 0
    factor = float(np.float32(2.44e-4))
    raw = pmd.decode_delta(f.content, 3, 16)
    assert raw.shape == (57, 3)
    np.testing.assert_array_equal(raw[0], [1905, 27376, -29282])
    np.testing.assert_array_equal(raw[1], [1905 + 190, 27376 - 105, -29282 - 85])
    mg = pmd.acc_mg(f, factor)
    expected = [int(factor * v * 1000) for v in (1905, 27376, -29282)]
    np.testing.assert_array_equal(np.trunc(mg[0]), expected)
    assert np.abs(mg).max() <= 8 * 1000  # within the 8 g range, as the SDK test checks


def test_acc_compressed_type1_polar_accdatatest():
    """AccDataTest: delta frame type 1 (mG): reference (-15, 20, 1008), one 6-bit delta."""
    frame = bytes.fromhex("02 65 00 00 00 00 00 00 00 81 F1FF 1400 F003 06 01 7B0F08")
    f = pmd.decode_frame(frame)
    assert f.timestamp_ns == 0x65
    np.testing.assert_array_equal(pmd.acc_mg(f), [[-15, 20, 1008], [-20, 17, 1008]])


def test_gyro_compressed_type0_polar_gyrdatatest():
    """GyrDataTest: 16-bit delta frame, 3-bit deltas (-1, +3, +3); timestamp 2^63 - 1."""
    frame = bytes.fromhex("05 FFFFFFFFFFFFFF7F 80 EAFF 0800 0D00 03 01 DF00")
    f = pmd.decode_frame(frame)
    assert f.measurement == pmd.MeasurementType.GYRO
    assert f.timestamp_ns == 9_223_372_036_854_775_807
    np.testing.assert_array_equal(pmd.gyro_dps(f), [[-22, 8, 13], [-23, 11, 16]])


@pytest.mark.parametrize("factor", [1.0, 0.5])
def test_gyro_compressed_type1_float_polar_gyrdatatest(factor):
    """GyrDataTest: float32 delta frame (28-bit deltas added to the bit patterns), with and
    without a factor: (1, 10, 20) deg/s, then the bits 0x41200000, 0x41A00000 and
    0x41A00000 + 0xFDECCCCD."""
    content = bytes.fromhex("0000803F 00002041 0000A041 1C 01 0000A001 000008CD CCEC0D")
    f = pmd.decode_frame(bytes.fromhex("05 0094357700000000 81") + content)
    third = struct.unpack("<f", struct.pack("<I", (0x41A00000 + 0xFDECCCCD) & 0xFFFFFFFF))[0]
    expected = np.array([[1.0, 10.0, 20.0], [10.0, 20.0, third]], dtype=np.float32) * np.float32(
        factor
    )
    np.testing.assert_array_equal(pmd.gyro_dps(f, factor).astype(np.float32), expected)


def test_settings_polar_pmdsettingtest():
    """PmdSettingTest: 52 Hz, 16 bit, ranges 245/500/1000/2000, 3 channels; milli-unit
    ranges are signed 32-bit."""
    data = bytes.fromhex("00 01 3400 01 01 1000 02 04 F500 F401 E803 D007 04 01 03")
    s = pmd.decode_settings(data)
    assert s[pmd.Setting.SAMPLE_RATE] == [52] and s[pmd.Setting.RESOLUTION] == [16]
    assert s[pmd.Setting.RANGE] == [245, 500, 1000, 2000] and s[pmd.Setting.CHANNELS] == [3]
    milli = pmd.decode_settings(bytes.fromhex("03 02 FFFFFFFF FF000000 01 01 0E00"))
    assert milli[pmd.Setting.RANGE_MILLIUNIT] == [-1, 0xFF]
    assert milli[pmd.Setting.RESOLUTION] == [14]


def test_control_point_responses_polar_blepmdclientcontrolpointresponsetest():
    """BlePmdClientControlPointResponseTest: success with parameters; an error without."""
    ok = pmd.decode_response(bytes.fromhex("F0 01 02 00 00 FFFFFF"))
    assert (ok.opcode, ok.measurement, ok.status, ok.more) == (1, 2, 0, False)
    assert ok.parameters == b"\xff\xff\xff"
    bad = pmd.decode_response(bytes.fromhex("F0 01 06 07 00"))
    assert bad.status == pmd.Status.INVALID_RESOLUTION and not bad.ok and bad.parameters == b""


def test_start_command_and_real_verity_sense_frame_polar_issue_331():
    """polar-ble-sdk issue #331 (a Verity Sense user): the ACC start request for 52 Hz,
    16 bit, 8 g, 3 channels is these bytes; the sensor answered ``f0 02 02 00 00`` (no
    factor) and sent ACC as delta-compressed type 1 (byte 9 = 0x81), reference sample
    (-6, 33, 1012) mG, then 59 samples of 6-bit deltas."""
    S = pmd.Setting
    cmd = pmd.encode_command(2, 2, {S.SAMPLE_RATE: 52, S.RESOLUTION: 16, S.RANGE: 8, S.CHANNELS: 3})
    assert cmd == bytes.fromhex("02 02 00 01 34 00 01 01 10 00 02 01 08 00 04 01 03")
    r = pmd.decode_response(bytes.fromhex("f0 02 02 00 00"))
    assert r.ok and r.parameters == b""
    head = bytes.fromhex("02 9c 58 29 13 84 57 73 07 81 fa ff 21 00 f4 03 06 3b")
    f = pmd.decode_frame(head)
    assert f.measurement == pmd.MeasurementType.ACC and f.compressed and f.frame_type == 1
    np.testing.assert_array_equal(pmd.decode_delta(f.content[:6], 3, 16), [[-6, 33, 1012]])
    assert (f.content[6], f.content[7]) == (6, 59)
    assert f.timestamp_ns == 0x07735784_1329589C  # u64 little endian, ns since 2000


def test_truncated_and_unknown_frames_are_clear_errors():
    with pytest.raises(pmd.PmdError, match="block of 1 x 6-bit deltas needs 3 bytes"):
        pmd.decode_delta(bytes.fromhex("F1FF 1400 F003 06 01 7B"), 3, 16)
    with pytest.raises(pmd.PmdError, match="shorter than header"):
        pmd.decode_frame(b"\x02\x00")
    with pytest.raises(pmd.PmdError, match="compressed frame type 5"):
        pmd.acc_mg(pmd.decode_frame(bytes.fromhex("02 0000000000000000 85 00")))


def test_delta_encoding_round_trips_any_width():
    rng = np.random.default_rng(3)
    for scale in (0, 1, 40, 3000, 30000):
        x = np.clip(np.cumsum(rng.integers(-scale - 1, scale + 1, (60, 3)), axis=0), -32768, 32767)
        np.testing.assert_array_equal(pmd.decode_delta(pmd.encode_delta(x), 3, 16), x)


def _frames(n_frames: int, k: int, rate: float, t0_ns: int, stream: int, seed: int):
    """Delta frames of a stream: acc in mG (type 1) or gyro counts (type 0)."""
    rng = np.random.default_rng(seed)
    period = 1e9 / rate
    out = []
    for j in range(n_frames):
        x = rng.integers(-500, 500, (k, 3))
        ts = t0_ns + round((j * k + k - 1) * period)
        ftype = 1 if stream == pmd.MeasurementType.ACC else 0
        out.append((pmd.encode_frame(stream, ts, ftype, True, pmd.encode_delta(x)), x))
    return out


def test_decoder_pairs_acc_and_gyro_and_counts_a_lost_frame_as_lost_samples():
    """Paired ACC+GYRO samples on one index; a frame lost in one stream loses its samples
    (the index jumps by exactly that many)."""
    cfg = PolarVeritySenseDriver.choose_config(100, 8, 2000)
    assert cfg.sampling_rate_hz == 104
    dec = PolarDecoder(cfg)
    t0 = 700_000_000 * 10**9
    acc = _frames(6, 36, 104, t0, pmd.MeasurementType.ACC, 1)
    gyr = _frames(6, 36, 104, t0 + 1_000_000, pmd.MeasurementType.GYRO, 2)  # 1 ms later
    frames = []
    for j in range(6):
        frames += dec.feed(0, acc[j][0])
        if j != 3:  # the 4th gyro frame never arrives
            frames += dec.feed(0, gyr[j][0])
    idx = np.concatenate([f.first_index + np.arange(f.n_samples) for f in frames])
    assert idx[0] == 0 and np.all(np.diff(idx) > 0)
    missing = sorted(set(range(idx[-1] + 1)) - set(idx.tolist()))
    assert missing == list(range(3 * 36, 4 * 36))
    acc_mps2 = np.concatenate([f.acc_mps2 for f in frames])
    np.testing.assert_allclose(acc_mps2[:36], acc[0][1] * 9.80665e-3)
    t = np.concatenate([f.sensor_time_s for f in frames])
    assert np.all(np.diff(t) > 0) and t[0] == pytest.approx(t0 * 1e-9)


def test_decoder_pairs_streams_whose_frames_differ_in_size_and_time():
    """ACC frames of 40 samples and GYRO frames of 25, GYRO stamped 2 ms later and
    arriving interleaved: every sample pairs once, in order, with its partner."""
    dec = PolarDecoder(PolarVeritySenseDriver.choose_config(104, 8, 2000))
    period, t0, n = 1e9 / 104, 7 * 10**17, 1000
    rng = np.random.default_rng(1)
    acc, gyr = rng.integers(-100, 100, (n, 3)), rng.integers(-100, 100, (n, 3))
    arrivals = []
    for s in range(0, n, 40):
        ts = t0 + round((s + 39) * period)
        arrivals.append((ts, pmd.encode_frame(2, ts, 1, True, pmd.encode_delta(acc[s : s + 40]))))
    for s in range(0, n, 25):
        ts = t0 + round((s + 24) * period) + 2_000_000
        frame = pmd.encode_frame(5, ts, 0, True, pmd.encode_delta(gyr[s : s + 25]))
        arrivals.append((ts + 3_000_000, frame))
    frames = [f for _, data in sorted(arrivals) for f in dec.feed(0, data)]
    idx = np.concatenate([f.first_index + np.arange(f.n_samples) for f in frames])
    np.testing.assert_array_equal(idx, np.arange(n))
    np.testing.assert_allclose(np.concatenate([f.acc_mps2 for f in frames]), acc * 9.80665e-3)
    np.testing.assert_allclose(np.rad2deg(np.concatenate([f.gyr_radps for f in frames])), gyr)

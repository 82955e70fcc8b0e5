"""Round trips of the wire protocol codec: data, compact, control point, status, Info."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol.codec import (
    COMPACT_PACKET_SIZE,
    MAX_SAMPLES_PER_PACKET,
    Command,
    DeviceInfo,
    Response,
    Status,
    choose_layout,
    config_from_id,
    config_id,
    decode,
    decode_command,
    decode_info,
    decode_many,
    decode_response,
    decode_samples,
    decode_status,
    encode_command,
    encode_data,
    encode_info,
    encode_packed,
    encode_response,
    encode_status,
    max_samples_per_packet,
    pack_samples,
    peek_header,
    to_counts,
    unwrap_timestamps,
)
from firmware_protocol.gatt import Opcode, ResultCode, StatusFlags, StreamState
from firmware_protocol.types import ACC_RANGES_G, GYRO_RANGES_DPS, SAMPLE_RATES_HZ, SensorConfig

configs = st.builds(
    SensorConfig,
    st.sampled_from(SAMPLE_RATES_HZ),
    st.sampled_from(ACC_RANGES_G),
    st.sampled_from(GYRO_RANGES_DPS),
)
int16 = st.integers(-32768, 32767)
seqs = st.integers(0, 0xFFFF)
times = st.integers(0, 2**32 - 1)


@st.composite
def counts(draw, max_n: int = MAX_SAMPLES_PER_PACKET) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, max_n))
    vals = draw(st.lists(int16, min_size=6 * n, max_size=6 * n))
    arr = np.array(vals, dtype=np.int64).reshape(n, 6)
    return arr[:, :3], arr[:, 3:]


@settings(deadline=None)
@given(cfg=configs, seq=seqs, t=times, ag=counts())
def test_full_packet_round_trip(cfg, seq, t, ag) -> None:
    acc, gyr = ag
    pkt = encode_data(seq, t, acc, gyr, config=cfg)
    n = acc.shape[0]
    assert len(pkt) == 11 + 12 * n
    assert pkt[0] == 0x11
    block = decode(pkt, cfg)
    assert block.seq == seq
    assert block.timestamp_bits == 32
    np.testing.assert_array_equal(
        block.timestamp_us, (t + np.arange(n) * cfg.sample_period_us) % 2**32
    )
    np.testing.assert_allclose(block.acc_mps2, acc * cfg.acc_scale_mps2, rtol=0, atol=1e-12)
    np.testing.assert_allclose(block.gyr_radps, gyr * cfg.gyro_scale_radps, rtol=0, atol=1e-12)
    hdr = peek_header(pkt, check_crc=True)
    assert (hdr.seq, hdr.timestamp_us, hdr.count, hdr.compact, hdr.config_id) == (
        seq,
        t,
        n,
        False,
        config_id(cfg),
    )
    # bytearray and memoryview decode the same
    for view in (bytearray(pkt), memoryview(pkt)):
        np.testing.assert_array_equal(decode(view, cfg).acc_mps2, block.acc_mps2)


@settings(deadline=None)
@given(cfg=configs, seq=seqs, t=times, ag=counts(max_n=1))
def test_compact_packet_round_trip(cfg, seq, t, ag) -> None:
    acc, gyr = ag
    pkt = encode_data(seq, t, acc, gyr, compact=True)
    assert len(pkt) == COMPACT_PACKET_SIZE == 20
    assert pkt[0] == 0x12
    block = decode(pkt, cfg)
    assert block.seq == seq
    assert block.timestamp_bits == 24
    assert block.timestamp_us.tolist() == [t % 2**24]
    np.testing.assert_allclose(block.acc_mps2, acc * cfg.acc_scale_mps2, atol=1e-12)
    np.testing.assert_allclose(block.gyr_radps, gyr * cfg.gyro_scale_radps, atol=1e-12)
    assert peek_header(pkt).compact


@settings(max_examples=50, deadline=None)
@given(
    cfg=configs,
    pkts=st.lists(st.tuples(seqs, times, counts(max_n=25)), min_size=1, max_size=12),
)
def test_decode_many_equals_concatenated_decode(cfg, pkts) -> None:
    packets = [encode_data(s, t, a, g, config=cfg) for s, t, (a, g) in pkts]
    many = decode_many(packets, cfg)
    singles = [decode(p, cfg) for p in packets]
    assert many.packet_count == len(packets)
    assert many.seq == pkts[0][0]
    np.testing.assert_array_equal(
        many.timestamp_us, np.concatenate([b.timestamp_us for b in singles])
    )
    np.testing.assert_array_equal(many.acc_mps2, np.concatenate([b.acc_mps2 for b in singles]))
    np.testing.assert_array_equal(many.gyr_radps, np.concatenate([b.gyr_radps for b in singles]))


def test_decode_many_compact_and_empty() -> None:
    cfg = SensorConfig(50, 4, 500)
    pk = [
        encode_data(i, 1000 + i * 20000, [[i, -i, 2 * i]], [[3, 2, 1]], compact=True)
        for i in range(30)
    ]
    block = decode_many(pk, cfg)
    assert block.timestamp_bits == 24
    assert block.n_samples == 30
    np.testing.assert_array_equal(block.timestamp_us, 1000 + np.arange(30) * 20000)
    empty = decode_many([], cfg)
    assert empty.n_samples == 0 and empty.acc_mps2.shape == (0, 3)


def test_timestamps_wrap_inside_a_packet() -> None:
    cfg = SensorConfig(200, 8, 2000)
    pkt = encode_data(1, 2**32 - 7500, np.zeros((4, 3), int), np.zeros((4, 3), int), config=cfg)
    ts = decode(pkt, cfg).timestamp_us
    assert ts.tolist() == [2**32 - 7500, 2**32 - 2500, 2500, 7500]
    assert np.all(np.diff(unwrap_timestamps(ts)) == 5000)


def test_unwrap_continues_across_calls_and_for_24_bits() -> None:
    raw = (np.arange(0, 40_000_000, 5000) % 2**24).astype(np.int64)
    whole = unwrap_timestamps(raw, bits=24)
    np.testing.assert_array_equal(whole, np.arange(0, 40_000_000, 5000))
    first = unwrap_timestamps(raw[:3000], bits=24)
    rest = unwrap_timestamps(raw[3000:], bits=24, last_unwrapped_us=int(first[-1]))
    np.testing.assert_array_equal(np.concatenate([first, rest]), whole)
    # a packet going backwards stays backwards (reordering is visible, not hidden)
    assert unwrap_timestamps([10_000, 5_000], bits=32).tolist() == [10_000, 5_000]


@settings(deadline=None)
@given(cfg=configs, ag=counts(max_n=5))
def test_to_counts_inverts_decode_scale(cfg, ag) -> None:
    acc, gyr = ag
    acc_si, gyr_si = acc * cfg.acc_scale_mps2, gyr * cfg.gyro_scale_radps
    a2, g2 = to_counts(acc_si, gyr_si, cfg)
    assert a2.dtype == np.int16 and g2.dtype == np.int16
    np.testing.assert_array_equal(a2, acc)
    np.testing.assert_array_equal(g2, gyr)


def test_to_counts_rounds_and_saturates() -> None:
    cfg = SensorConfig(100, 2, 250)
    s = cfg.acc_scale_mps2
    acc = np.array([[0.4 * s, 0.6 * s, -0.6 * s], [1e9, -1e9, np.inf]])
    a, g = to_counts(acc, np.zeros((2, 3)), cfg)
    assert a.tolist() == [[0, 1, -1], [32767, -32768, 32767]]
    with pytest.raises(ValueError, match="NaN"):
        to_counts([[np.nan, 0, 0]], [[0, 0, 0]], cfg)


def test_max_samples_per_packet_and_layout() -> None:
    assert max_samples_per_packet(247) == 19
    assert max_samples_per_packet(23) == 0
    assert max_samples_per_packet(26) == 1
    assert max_samples_per_packet(517) == 41
    assert choose_layout(23) == (True, 1)
    assert choose_layout(247) == (False, 19)
    # every count the function allows fits the notification payload
    for mtu in range(23, 518):
        n = max_samples_per_packet(mtu)
        assert 11 + 12 * n <= min(mtu - 3, 512)
        assert n == 41 or 11 + 12 * (n + 1) > mtu - 3
    with pytest.raises(ValueError):
        max_samples_per_packet(22)


@settings(deadline=None)
@given(cfg=configs)
def test_config_id_round_trip(cfg) -> None:
    cid = config_id(cfg)
    assert cid & 0xC0 == 0
    assert config_from_id(cid) == cfg


commands = st.one_of(
    st.sampled_from([Opcode.START_STREAM, Opcode.STOP_STREAM, Opcode.GET_INFO]).map(Command),
    configs.map(lambda c: Command(Opcode.SET_CONFIG, config=c)),
    st.integers(0, 2**64 - 1).map(lambda t: Command(Opcode.TIME_SYNC, host_time_us=t)),
    st.integers(0, 255).map(lambda s: Command(Opcode.IDENTIFY, duration_s=s)),
)


@settings(deadline=None)
@given(cmd=commands, tail=st.binary(max_size=4))
def test_command_round_trip_and_trailing_bytes_ignored(cmd, tail) -> None:
    b = encode_command(cmd)
    assert b[0] == cmd.opcode
    assert decode_command(b) == cmd
    assert decode_command(b + tail) == cmd  # additive: newer clients may append parameters


serials = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=10)
infos = st.builds(
    DeviceInfo,
    protocol_version=st.just(1),
    firmware_version=st.tuples(*[st.integers(0, 255)] * 3).map(lambda t: ".".join(map(str, t))),
    config=configs,
    battery_percent=st.one_of(st.none(), st.integers(0, 100)),
    max_samples_per_packet=st.integers(0, 41),
    serial=serials,
)
responses = st.one_of(
    st.builds(
        Response,
        st.sampled_from(list(Opcode)),
        st.sampled_from([r for r in ResultCode if r != ResultCode.SUCCESS]),
    ),
    st.sampled_from(
        [Opcode.START_STREAM, Opcode.STOP_STREAM, Opcode.SET_CONFIG, Opcode.IDENTIFY]
    ).map(Response),
    st.builds(
        lambda h, s: Response(Opcode.TIME_SYNC, host_time_us=h, sensor_time_us=s),
        st.integers(0, 2**64 - 1),
        times,
    ),
    infos.map(lambda i: Response(Opcode.GET_INFO, info=i)),
)


@settings(deadline=None)
@given(resp=responses)
def test_response_round_trip(resp) -> None:
    b = encode_response(resp)
    assert b[:3] == bytes([0x80, resp.opcode, resp.result])
    assert len(b) <= 20, "every response fits an indication at MTU 23"
    got = decode_response(b)
    assert got == resp
    assert got.ok == (resp.result == ResultCode.SUCCESS)


statuses = st.builds(
    Status,
    st.sampled_from(list(StreamState)),
    st.one_of(st.none(), st.integers(0, 100)),
    st.integers(0, 15).map(StatusFlags),
    st.integers(0, 2**32 - 1),
    configs,
)


@settings(deadline=None)
@given(status=statuses, tail=st.binary(max_size=4))
def test_status_round_trip(status, tail) -> None:
    b = encode_status(status)
    assert len(b) == 8
    assert decode_status(b) == status
    assert decode_status(b + tail) == status  # additive: later fields are appended


@settings(deadline=None)
@given(info=infos)
def test_info_json_round_trip(info) -> None:
    doc = decode_info(encode_info(info, model="Poise IMU v1"))
    assert doc["protocol_version"] == 1
    assert doc["serial"] == info.serial
    assert SensorConfig.from_dict(doc["config"]) == info.config
    assert doc["packet_types"] == [1, 2]
    assert doc["model"] == "Poise IMU v1"


@settings(deadline=None)
@given(cfg=configs, seq=seqs, t=times, ag=counts(max_n=3 * 8), k=st.integers(1, 8))
def test_packed_once_for_a_burst_encodes_what_encode_data_does(cfg, seq, t, ag, k) -> None:
    """An emulator packs a burst's samples once and slices them per packet: the same
    bytes as encoding each packet on its own (int16 counts, as to_counts gives them)."""
    acc, gyr = (x.astype(np.int16) for x in ag)
    packed = pack_samples(acc, gyr)
    assert len(packed) == 12 * len(acc)
    for i in range(0, len(acc), k):
        j = min(i + k, len(acc))
        got = encode_packed(seq, t, packed[12 * i : 12 * j], config=cfg)
        assert got == encode_data(seq, t, acc[i:j], gyr[i:j], config=cfg)
        assert got == encode_data(seq, t, ag[0][i:j], ag[1][i:j], config=cfg)  # int64 in


@settings(deadline=None)
@given(cfg=configs, seq=seqs, t=times, ag=counts(), compact=st.booleans())
def test_decode_samples_is_decode_without_the_timestamp_array(cfg, seq, t, ag, compact) -> None:
    acc, gyr = ag
    if compact:
        acc, gyr = acc[:1], gyr[:1]
    pkt = encode_data(seq, t, acc, gyr, compact=compact, config=cfg)
    hdr, si = decode_samples(pkt, cfg)
    block = decode(pkt, cfg)
    assert (hdr.seq, hdr.count, hdr.timestamp_bits) == (block.seq, len(acc), block.timestamp_bits)
    assert hdr.timestamp_us == block.timestamp_us[0]
    assert np.array_equal(si[:, :3], block.acc_mps2) and np.array_equal(si[:, 3:], block.gyr_radps)


def test_encode_packed_rejects_partial_samples() -> None:
    packed = pack_samples(np.zeros((2, 3), np.int16), np.zeros((2, 3), np.int16))
    with pytest.raises(ValueError, match="whole 12-byte samples"):
        encode_packed(0, 0, packed[:-1])
    with pytest.raises(ValueError, match="exactly 1 sample"):
        encode_packed(0, 0, packed, compact=True)


def test_encode_rejects_out_of_range_fields() -> None:
    z = np.zeros((1, 3), int)
    with pytest.raises(ValueError, match="seq"):
        encode_data(70000, 0, z, z)
    with pytest.raises(ValueError, match="timestamp_us"):
        encode_data(0, -1, z, z)
    with pytest.raises(ValueError, match="int16"):
        encode_data(0, 0, [[40000, 0, 0]], z)
    with pytest.raises(ValueError, match="integer counts"):
        encode_data(0, 0, [[0.5, 0, 0]], z)
    with pytest.raises(ValueError, match="exactly 1 sample"):
        encode_data(0, 0, np.zeros((2, 3), int), np.zeros((2, 3), int), compact=True)
    with pytest.raises(ValueError, match="1..41"):
        encode_data(0, 0, np.zeros((42, 3), int), np.zeros((42, 3), int))
    with pytest.raises(ValueError, match="shape"):
        encode_data(0, 0, np.zeros((2, 3), int), np.zeros((3, 3), int))

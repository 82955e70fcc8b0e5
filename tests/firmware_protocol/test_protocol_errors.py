"""Malformed input: only ProtocolError, with messages that say what and where; fuzzing."""

from __future__ import annotations

import binascii
import random
import struct
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_protocol.codec import (
    CommandError,
    ProtocolError,
    UnknownPacketType,
    UnsupportedVersion,
    decode,
    decode_command,
    decode_info,
    decode_many,
    decode_response,
    decode_status,
    encode_data,
    peek_header,
)
from firmware_protocol.gatt import ResultCode
from firmware_protocol.types import SensorConfig

CFG = SensorConfig(100, 8, 2000)


def _packet(n: int = 3, seq: int = 5, t: int = 1_000_000, cfg: SensorConfig = CFG) -> bytes:
    rng = np.random.default_rng(n * 1000 + seq)
    return encode_data(
        seq, t, rng.integers(-32768, 32768, (n, 3)), rng.integers(-32768, 32768, (n, 3)), config=cfg
    )


def _recrc(body: bytes | bytearray) -> bytes:
    """Give mutated bytes a valid CRC so that checks behind the CRC are reached."""
    body = bytes(body)
    return body[:-2] + struct.pack("<H", binascii.crc_hqx(body[:-2], 0xFFFF))


def _err(packet, cfg: SensorConfig = CFG) -> ProtocolError:
    with pytest.raises(ProtocolError) as info:
        decode(packet, cfg)
    return info.value


def test_length_error_names_length_count_and_expectation() -> None:
    p = _packet(3)
    msg = str(_err(p[:-2]))
    assert msg == "packet 45 bytes: length does not match count 3 (expected 47)"
    assert "too short" in str(_err(p[:4]))
    assert "empty" in str(_err(b""))


def test_crc_corruption_is_detected_for_every_single_bit_flip() -> None:
    p = _packet(19)
    for bit in range(8 * len(p)):
        bad = bytearray(p)
        bad[bit // 8] ^= 1 << (bit % 8)
        with pytest.raises(ProtocolError):
            decode(bytes(bad), CFG)
    msg = str(_err(p[:-1] + bytes([p[-1] ^ 0x10])))
    assert "CRC mismatch" in msg and "seq 5" in msg and "stored 0x" in msg


def test_config_mismatch_names_both_configurations() -> None:
    p = _packet(2, cfg=SensorConfig(200, 16, 1000))
    msg = str(_err(p, SensorConfig(100, 8, 2000)))
    assert "200 Hz, 16 g, 1000 dps" in msg and "100 Hz, 8 g, 2000 dps" in msg
    assert "does not match the session configuration" in msg
    # invalid config ids behind a valid CRC
    bad = bytearray(p)
    bad[1] = 0xC0
    assert "reserved bits" in str(_err(_recrc(bad)))
    bad[1] = 0x03  # rate code 3 is not defined
    assert "rate code 3" in str(_err(_recrc(bad)))


def test_versions_and_types_have_their_own_error_classes() -> None:
    p = _packet(1)
    e = _err(bytes([0x21]) + p[1:])
    assert isinstance(e, UnsupportedVersion) and "unsupported protocol version 2" in str(e)
    e = _err(bytes([0x15]) + p[1:])
    assert isinstance(e, UnknownPacketType) and "unknown packet type 5" in str(e)
    assert issubclass(ProtocolError, ValueError)


def test_count_zero_and_non_bytes() -> None:
    assert "count (byte 8) is 0" in str(_err(_recrc(_packet(1)[:8] + b"\x00\x00\x00")))
    for thing in ("abc", 5, None, [1, 2], np.zeros(3)):
        assert "expected bytes" in str(_err(thing))


def test_decode_many_reports_index_and_keeps_good_packets() -> None:
    good = [_packet(4, seq=i, t=1_000_000 + 40_000 * i) for i in range(6)]
    batch = list(good)
    batch[2] = batch[2][:-1]  # truncated
    batch.insert(4, b"\x99garbage")
    with pytest.raises(ProtocolError) as info:
        decode_many(batch, CFG)
    assert info.value.packet_index == 2
    assert str(info.value).startswith("packet #2: packet 58 bytes: length does not match count 4")
    errors: list = []
    block = decode_many(batch, CFG, errors=errors)
    assert [i for i, _ in errors] == [2, 4]
    assert block.packet_count == 5 and block.n_samples == 20
    kept = [good[i] for i in (0, 1, 3, 4, 5)]
    np.testing.assert_array_equal(block.acc_mps2, decode_many(kept, CFG).acc_mps2)


def test_command_errors_carry_the_result_code_to_answer() -> None:
    with pytest.raises(CommandError) as info:
        decode_command(b"\x7f")
    assert info.value.result == ResultCode.UNSUPPORTED_OPCODE and info.value.opcode == 0x7F
    with pytest.raises(CommandError) as info:
        decode_command(b"\x03\x00\x00")
    assert info.value.result == ResultCode.INVALID_PARAMETER and "SET_CONFIG" in str(info.value)
    with pytest.raises(CommandError) as info:
        decode_command(b"\x03\x03\x00\x00")
    assert info.value.result == ResultCode.INVALID_PARAMETER and "rate code 3" in str(info.value)
    with pytest.raises(CommandError) as info:
        decode_command(b"\x04\x01\x02")
    assert "TIME_SYNC" in str(info.value) and "8 parameter byte" in str(info.value)
    with pytest.raises(CommandError):
        decode_command(b"")


def test_response_status_info_errors() -> None:
    assert "needs at least 3" in str(
        pytest.raises(ProtocolError, decode_response, b"\x80\x01").value
    )
    assert "not the response code" in str(
        pytest.raises(ProtocolError, decode_response, b"\x01\x01\x01").value
    )
    assert "needs 15" in str(
        pytest.raises(ProtocolError, decode_response, b"\x80\x04\x01\x00").value
    )
    assert "needs at least 8" in str(pytest.raises(ProtocolError, decode_status, b"\x00" * 7).value)
    assert "battery 150%" in str(
        pytest.raises(ProtocolError, decode_status, bytes([1, 150, 0, 0, 0, 0, 0, 0])).value
    )
    assert "not UTF-8 JSON" in str(pytest.raises(ProtocolError, decode_info, b"\xff{").value)
    assert "protocol_version" in str(pytest.raises(ProtocolError, decode_info, b'{"a": 1}').value)


ALL_DECODERS = (
    lambda b: decode(b, CFG),
    lambda b: decode_many([b, b], CFG),
    lambda b: decode_many([b], CFG, errors=[]),
    lambda b: peek_header(b, check_crc=True),
    decode_command,
    decode_response,
    decode_status,
    decode_info,
)


def _only_protocol_errors(data) -> None:
    for fn in ALL_DECODERS:
        try:
            fn(data)
        except ProtocolError:
            pass


@settings(deadline=None)
@given(data=st.binary(max_size=600))
def test_random_bytes_raise_only_protocol_error(data) -> None:
    _only_protocol_errors(data)
    _only_protocol_errors(bytearray(data))
    _only_protocol_errors(memoryview(data))


@st.composite
def mutated(draw) -> bytes:
    n = draw(st.integers(1, 41))
    compact = draw(st.booleans())
    if compact:
        base = bytearray(encode_data(n, n, [[1, 2, 3]], [[4, 5, 6]], compact=True))
    else:
        base = bytearray(_packet(n))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["set", "flip", "cut", "extend", "insert", "delete"]))
        if op in ("set", "flip") and base:
            i = draw(st.integers(0, len(base) - 1))
            base[i] = (
                draw(st.integers(0, 255))
                if op == "set"
                else base[i] ^ (1 << draw(st.integers(0, 7)))
            )
        elif op == "cut":
            del base[draw(st.integers(0, len(base))) :]
        elif op == "extend":
            base += draw(st.binary(min_size=1, max_size=30))
        elif op == "insert":
            i = draw(st.integers(0, len(base)))
            base[i:i] = draw(st.binary(min_size=1, max_size=3))
        elif op == "delete" and base:
            i = draw(st.integers(0, len(base) - 1))
            del base[i]
    if draw(st.booleans()) and len(base) >= 2:
        return _recrc(base)  # reach the checks behind the CRC
    return bytes(base)


@settings(max_examples=300, deadline=None)
@given(data=mutated())
def test_mutated_packets_raise_only_protocol_error(data) -> None:
    _only_protocol_errors(data)
    try:
        block = decode(data, CFG)
    except ProtocolError:
        return
    # Whatever decodes is self-consistent with its header.
    hdr = peek_header(data)
    assert block.n_samples == hdr.count == len(block.timestamp_us)


def _fuzz_case(rng: random.Random, bases: list[bytes]) -> bytes:
    kind = rng.random()
    if kind < 0.15:
        return rng.randbytes(rng.randrange(0, 300))
    b = bytearray(rng.choice(bases))
    for _ in range(rng.randrange(1, 4)):
        r = rng.random()
        if r < 0.35 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif r < 0.55 and b:
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        elif r < 0.75:
            del b[rng.randrange(len(b) + 1) :]
        elif r < 0.9:
            b += rng.randbytes(rng.randrange(1, 24))
        elif b:
            del b[rng.randrange(len(b))]
    if rng.random() < 0.4 and len(b) >= 2:
        return _recrc(b)
    return bytes(b)


def test_deterministic_fuzz_1e5_packets_raise_only_protocol_error() -> None:
    """10^5 mutated, truncated, extended and random packets (issue 2 'done when')."""
    rng = random.Random(20261127)
    bases = [_packet(n, seq=n) for n in (1, 2, 3, 10, 19, 41)]
    bases += [encode_data(7, 2**32 - 1, [[1, -1, 2]], [[3, -3, 4]], compact=True)]
    outcomes = {"ok": 0, "error": 0}
    kinds: set[str] = set()
    t0 = time.perf_counter()
    batch: list[bytes] = []
    for _ in range(100_000):
        data = _fuzz_case(rng, bases)
        batch.append(data)
        try:
            block = decode(data, CFG)
        except ProtocolError as exc:
            outcomes["error"] += 1
            kinds.add(str(exc).split(":")[0].split(" (")[0][:20])
        else:
            outcomes["ok"] += 1
            assert block.n_samples >= 1
        if len(batch) == 1000:  # the vectorised path must agree and raise nothing else
            errors: list = []
            many = decode_many(batch, SensorConfig(100, 8, 2000), errors=errors)
            bad = {i for i, _ in errors}
            assert all(isinstance(e, ProtocolError) for _, e in errors)
            assert many.packet_count + len(bad) == len(batch)
            batch = []
    elapsed = time.perf_counter() - t0
    assert outcomes["ok"] + outcomes["error"] == 100_000
    # The fuzz must reach both outcomes and many different checks, or it tests nothing.
    assert outcomes["error"] > 50_000 and outcomes["ok"] > 1_000, outcomes
    assert len(kinds) >= 5, kinds
    print(f"fuzz: {outcomes} in {elapsed:.1f} s")


def _oversized(count: int) -> bytes:
    """A full data packet claiming ``count`` samples, with a matching length and a valid CRC."""
    body = struct.pack("<BBHIB", 0x11, 0x00, 7, 1_000, count)
    body = bytearray(_packet(1)[:2]) + body[2:]  # the session's config id
    body += bytes(12 * count)
    return bytes(body) + struct.pack("<H", binascii.crc_hqx(bytes(body), 0xFFFF))


@pytest.mark.parametrize("count", [42, 100, 255])
def test_sample_count_beyond_41_is_refused_even_with_a_valid_crc(count) -> None:
    """SPEC.md 3.2: count is 1..41 (the ATT attribute limit); more is malformed."""
    p = _oversized(count)
    msg = str(_err(p))
    assert f"count (byte 8) is {count}" in msg and "1..41" in msg
    with pytest.raises(ProtocolError):
        peek_header(p)
    errors: list = []
    block = decode_many([_packet(3), p, _packet(2, seq=6)], CFG, errors=errors)
    assert [i for i, _ in errors] == [1] and "1..41" in str(errors[0][1])
    assert block.packet_count == 2
    assert decode(_oversized(41), CFG).n_samples == 41  # the largest allowed


@pytest.mark.parametrize("thing", [None, 5, "abc"])
def test_decode_many_of_a_non_iterable_raises_protocol_error(thing) -> None:
    with pytest.raises(ProtocolError, match="packets"):
        decode_many(thing, CFG)

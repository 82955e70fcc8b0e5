"""Codec for Poise wire protocol v1 (see SPEC.md in this package).

Data packets (Data characteristic notifications), control point commands and
responses, status notifications and the Info characteristic. Decoding is strict:
any malformed input raises :class:`ProtocolError` (a ``ValueError``) whose message
says what is wrong and where (byte offset, packet index). Nothing else is raised for
any bytes-like input, so a stream can catch one exception type, count the packet
and go on.

Decoding of samples is vectorised: :func:`decode` converts one packet with a single
``np.frombuffer``; :func:`decode_many` groups packets of equal layout, joins them and
converts each group with one ``np.frombuffer`` (no per-sample Python loop).

All multi-byte fields are little-endian. The app-level CRC is CRC-16/CCITT-FALSE
(polynomial 0x1021, initial value 0xFFFF, no reflection, no final XOR), the same as
``binascii.crc_hqx(data, 0xFFFF)``, stored little-endian in the last two bytes.
"""

from __future__ import annotations

import binascii
import functools
import json
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from firmware_protocol.gatt import (
    ATT_NOTIFICATION_OVERHEAD,
    BATTERY_UNKNOWN,
    PROTOCOL_VERSION,
    RESPONSE_CODE,
    Opcode,
    PacketType,
    ResultCode,
    StatusFlags,
    StreamState,
)
from firmware_protocol.types import (
    ACC_RANGES_G,
    GYRO_RANGES_DPS,
    SAMPLE_RATES_HZ,
    SampleBlock,
    SensorConfig,
)

__all__ = [
    "COMPACT_PACKET_SIZE",
    "FULL_HEADER_SIZE",
    "FULL_OVERHEAD",
    "MAX_ATTRIBUTE_SIZE",
    "MAX_SAMPLES_PER_PACKET",
    "SAMPLE_SIZE",
    "STATUS_SIZE",
    "Command",
    "CommandError",
    "DataHeader",
    "DeviceInfo",
    "ProtocolError",
    "Response",
    "Status",
    "UnknownPacketType",
    "UnsupportedVersion",
    "choose_layout",
    "config_from_codes",
    "config_from_id",
    "config_id",
    "config_codes",
    "crc16",
    "decode",
    "decode_command",
    "decode_info",
    "decode_many",
    "decode_response",
    "decode_samples",
    "decode_status",
    "encode_command",
    "encode_data",
    "encode_info",
    "encode_packed",
    "encode_response",
    "encode_status",
    "max_samples_per_packet",
    "pack_samples",
    "peek_header",
    "to_counts",
    "unwrap_timestamps",
]


# ---------------------------------------------------------------------------- errors


class ProtocolError(ValueError):
    """Malformed or unexpected bytes on the wire; the message says what and where.

    Attributes
    ----------
    packet_index
        Position of the offending packet in a :func:`decode_many` batch, else ``None``.
    """

    def __init__(self, message: str, *, packet_index: int | None = None) -> None:
        super().__init__(message)
        self.packet_index = packet_index


class UnsupportedVersion(ProtocolError):
    """The packet's protocol version (high nibble of byte 0) is not 1."""


class UnknownPacketType(ProtocolError):
    """A packet type this client does not know; SPEC says: ignore it (count, don't fail)."""


class CommandError(ProtocolError):
    """A control point request the sensor must refuse.

    Attributes
    ----------
    opcode
        The request opcode (int; may be an unknown one), or ``None`` for an empty write.
    result
        The :class:`ResultCode` the sensor answers with.
    """

    def __init__(self, message: str, *, opcode: int | None, result: ResultCode) -> None:
        super().__init__(message)
        self.opcode = opcode
        self.result = result


# ------------------------------------------------------------------------- constants

#: Full data packet header: ver/type u8, config id u8, seq u16, t_first_us u32, count u8.
_FULL_HEADER = struct.Struct("<BBHIB")
FULL_HEADER_SIZE = _FULL_HEADER.size  # 9
#: Bytes of one 6-axis sample (6 x int16).
SAMPLE_SIZE = 12
_CRC_SIZE = 2
#: Header + CRC bytes of a full packet.
FULL_OVERHEAD = FULL_HEADER_SIZE + _CRC_SIZE  # 11
#: Compact packet: ver/type u8, seq u16, t_first low 16 bits u16, t_first bits 16-23 u8,
#: one sample 6 x int16, CRC u16.
_COMPACT = struct.Struct("<BHHB6hH")
COMPACT_PACKET_SIZE = _COMPACT.size  # 20
#: Largest attribute value ATT allows (Core spec Vol 3 Part F 3.2.9).
MAX_ATTRIBUTE_SIZE = 512
#: Largest sample count of a full packet (attribute limit): (512 - 11) // 12.
MAX_SAMPLES_PER_PACKET = (MAX_ATTRIBUTE_SIZE - FULL_OVERHEAD) // SAMPLE_SIZE  # 41

_BYTE0_DATA = (PROTOCOL_VERSION << 4) | PacketType.DATA  # 0x11
_BYTE0_COMPACT = (PROTOCOL_VERSION << 4) | PacketType.COMPACT  # 0x12
_TS_MASK32 = 0xFFFFFFFF
_TS_MASK24 = 0xFFFFFF


def crc16(data: bytes | bytearray | memoryview) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (poly 0x1021, init 0xFFFF); check value of b"123456789" is 0x29B1."""
    return binascii.crc_hqx(data, 0xFFFF)


# --------------------------------------------------------------------- configuration


def config_codes(config: SensorConfig) -> tuple[int, int, int]:
    """Control point codes (rate, acc range, gyro range) of a configuration.

    Codes are indices into ``SAMPLE_RATES_HZ`` (50, 100, 200), ``ACC_RANGES_G``
    (2, 4, 8, 16) and ``GYRO_RANGES_DPS`` (250, 500, 1000, 2000).
    """
    return (
        SAMPLE_RATES_HZ.index(config.sampling_rate_hz),
        ACC_RANGES_G.index(config.acc_range_g),
        GYRO_RANGES_DPS.index(config.gyro_range_dps),
    )


def config_from_codes(rate_code: int, acc_code: int, gyro_code: int) -> SensorConfig:
    """Inverse of :func:`config_codes`; raises :class:`ProtocolError` for unknown codes."""
    if not 0 <= rate_code < len(SAMPLE_RATES_HZ):
        raise ProtocolError(f"rate code {rate_code} unknown (valid 0..{len(SAMPLE_RATES_HZ) - 1})")
    if not 0 <= acc_code < len(ACC_RANGES_G):
        raise ProtocolError(
            f"accelerometer range code {acc_code} unknown (valid 0..{len(ACC_RANGES_G) - 1})"
        )
    if not 0 <= gyro_code < len(GYRO_RANGES_DPS):
        raise ProtocolError(
            f"gyroscope range code {gyro_code} unknown (valid 0..{len(GYRO_RANGES_DPS) - 1})"
        )
    return SensorConfig(
        sampling_rate_hz=SAMPLE_RATES_HZ[rate_code],
        acc_range_g=ACC_RANGES_G[acc_code],
        gyro_range_dps=GYRO_RANGES_DPS[gyro_code],
    )


@functools.lru_cache(maxsize=64)
def config_id(config: SensorConfig) -> int:
    """Packed config id byte: bits 0-1 rate code, 2-3 acc code, 4-5 gyro code, 6-7 zero."""
    r, a, g = config_codes(config)
    return r | (a << 2) | (g << 4)


def config_from_id(cid: int) -> SensorConfig:
    """Inverse of :func:`config_id`; raises :class:`ProtocolError` for invalid ids."""
    if not 0 <= cid <= 0xFF:
        raise ProtocolError(f"config id {cid} is not a byte")
    if cid & 0xC0:
        raise ProtocolError(f"config id 0x{cid:02X} has reserved bits 6-7 set")
    try:
        return config_from_codes(cid & 3, (cid >> 2) & 3, (cid >> 4) & 3)
    except ProtocolError as exc:
        raise ProtocolError(f"config id 0x{cid:02X}: {exc}") from None


def _describe(config: SensorConfig) -> str:
    return f"{config.sampling_rate_hz} Hz, {config.acc_range_g} g, {config.gyro_range_dps} dps"


# ------------------------------------------------------------------------ data packets


@dataclass(frozen=True)
class DataHeader:
    """Header fields of a data packet, read without converting samples.

    Attributes
    ----------
    version, packet_type
        Byte 0 nibbles (always 1 and 1/2 here, others raise).
    seq
        Packet sequence number, 0..65535.
    timestamp_us
        Sensor time of the first sample as sent: 32 bits (full) or 24 bits (compact).
    count
        Samples in the packet (1 for compact).
    compact
        True for the 20-byte compact layout.
    config_id
        Packed configuration byte (full packets), ``None`` for compact packets.
    length
        Packet length in bytes.
    """

    version: int
    packet_type: int
    seq: int
    timestamp_us: int
    count: int
    compact: bool
    config_id: int | None
    length: int

    @property
    def timestamp_bits(self) -> int:
        """Width of the timestamp field: 24 (compact) or 32 (full)."""
        return 24 if self.compact else 32


def _as_bytes(packet: Any, where: str = "packet") -> bytes:
    if isinstance(packet, bytes):
        return packet
    if isinstance(packet, bytearray):
        return bytes(packet)
    if isinstance(packet, memoryview):
        try:
            return packet.tobytes()
        except Exception as exc:  # released view, exotic formats
            raise ProtocolError(f"{where}: unreadable memoryview ({exc})") from None
    raise ProtocolError(
        f"{where}: expected bytes, bytearray or memoryview, got {type(packet).__name__}"
    )


def _check_byte0(data: bytes) -> int:
    """Validate version/type nibbles of byte 0; return the packet type."""
    if not data:
        raise ProtocolError("packet 0 bytes: empty")
    b0 = data[0]
    version, ptype = b0 >> 4, b0 & 0x0F
    if version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"unsupported protocol version {version} (byte 0 = 0x{b0:02X}; "
            f"this client speaks version {PROTOCOL_VERSION})"
        )
    if ptype not in (PacketType.DATA, PacketType.COMPACT):
        raise UnknownPacketType(
            f"unknown packet type {ptype} (byte 0 = 0x{b0:02X}); "
            f"version {PROTOCOL_VERSION} knows 1 (data) and 2 (compact)"
        )
    return ptype


def _header(data: bytes) -> DataHeader:
    ptype = _check_byte0(data)
    n = len(data)
    if ptype == PacketType.COMPACT:
        if n != COMPACT_PACKET_SIZE:
            raise ProtocolError(f"compact packet {n} bytes: length must be {COMPACT_PACKET_SIZE}")
        seq, lo, hi = struct.unpack_from("<HHB", data, 1)
        return DataHeader(1, ptype, seq, lo | (hi << 16), 1, True, None, n)
    if n < FULL_HEADER_SIZE:
        raise ProtocolError(
            f"packet {n} bytes: too short for a data header ({FULL_HEADER_SIZE} bytes + samples + CRC)"
        )
    _, cid, seq, t_first, count = _FULL_HEADER.unpack_from(data)
    if count == 0:
        raise ProtocolError(
            f"packet {n} bytes: count (byte 8) is 0; a data packet holds >= 1 sample"
        )
    if count > MAX_SAMPLES_PER_PACKET:
        raise ProtocolError(
            f"packet {n} bytes: count (byte 8) is {count}; a data packet holds "
            f"1..{MAX_SAMPLES_PER_PACKET} samples"
        )
    expected = FULL_OVERHEAD + SAMPLE_SIZE * count
    if n != expected:
        raise ProtocolError(
            f"packet {n} bytes: length does not match count {count} (expected {expected})"
        )
    return DataHeader(1, ptype, seq, t_first, count, False, cid, n)


def _check_crc(data: bytes, hdr: DataHeader) -> None:
    stored = data[-2] | (data[-1] << 8)
    computed = binascii.crc_hqx(data[:-2], 0xFFFF)
    if stored != computed:
        raise ProtocolError(
            f"packet {len(data)} bytes (seq {hdr.seq}): CRC mismatch at bytes {len(data) - 2}-"
            f"{len(data) - 1}: stored 0x{stored:04X}, computed 0x{computed:04X}"
        )


def _check_config(cid: int, config: SensorConfig, seq: int) -> None:
    if cid == config_id(config):
        return
    try:
        got = _describe(config_from_id(cid))
    except ProtocolError as exc:
        raise ProtocolError(f"packet seq {seq}: byte 1: {exc}") from None
    raise ProtocolError(
        f"packet seq {seq}: config id 0x{cid:02X} ({got}) does not match the session "
        f"configuration 0x{config_id(config):02X} ({_describe(config)})"
    )


def peek_header(packet: bytes | bytearray | memoryview, *, check_crc: bool = False) -> DataHeader:
    """Read a data packet's header without converting its samples.

    Checks byte 0 (version and type) and the length against the count; the CRC only
    when ``check_crc`` is true.

    Raises
    ------
    ProtocolError
        For anything malformed (``UnsupportedVersion``, ``UnknownPacketType`` included).
    """
    data = _as_bytes(packet)
    hdr = _header(data)
    if check_crc:
        _check_crc(data, hdr)
    return hdr


def _int16_matrix(x: ArrayLike, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {np.shape(x)}")
    if arr.dtype.kind not in "iub":
        if arr.dtype.kind != "f" or not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer counts (use to_counts for SI values)")
    if arr.dtype == np.int16:  # in range by its type (to_counts' output): no scan
        return arr
    if arr.size and (arr.min() < -32768 or arr.max() > 32767):
        raise ValueError(f"{name} out of int16 range: min {arr.min()}, max {arr.max()}")
    return arr.astype("<i2")


def pack_samples(acc_counts: ArrayLike, gyr_counts: ArrayLike) -> bytes:
    """The samples of data packets as sent: per sample acc x, y, z then gyr x, y, z,
    int16 little-endian (:data:`SAMPLE_SIZE` bytes a sample).

    Checks the counts once for many packets; :func:`encode_packed` then takes a slice
    ``[i * SAMPLE_SIZE:(i + k) * SAMPLE_SIZE]`` per packet (what an emulator sending a
    stream does; :func:`encode_data` is both steps for one packet).

    Parameters
    ----------
    acc_counts, gyr_counts
        int16 counts, shape (n, 3) (or (3,) for one sample).

    Raises
    ------
    ValueError
        If the arrays are not int16 counts of the same shape (n, 3).
    """
    acc = _int16_matrix(acc_counts, "acc_counts")
    gyr = _int16_matrix(gyr_counts, "gyr_counts")
    if acc.shape != gyr.shape:
        raise ValueError(f"acc_counts {acc.shape} and gyr_counts {gyr.shape} differ in shape")
    samples = np.empty((acc.shape[0], 6), dtype="<i2")
    samples[:, :3] = acc
    samples[:, 3:] = gyr
    return samples.tobytes()


def encode_packed(
    seq: int,
    timestamp_us: int,
    samples: bytes,
    *,
    compact: bool = False,
    config: SensorConfig | None = None,
) -> bytes:
    """Encode one data packet from samples packed by :func:`pack_samples`.

    Parameters are those of :func:`encode_data`, except ``samples``: the packet's
    samples as bytes (a whole number of :data:`SAMPLE_SIZE`-byte samples).

    Raises
    ------
    ValueError
        If a field is out of range or ``samples`` is not whole samples.
    """
    if not 0 <= seq <= 0xFFFF:
        raise ValueError(f"seq must be 0..65535, got {seq}")
    if not 0 <= timestamp_us <= _TS_MASK32:
        raise ValueError(
            f"timestamp_us must be 0..2**32-1 (the sensor wraps it), got {timestamp_us}"
        )
    n, rest = divmod(len(samples), SAMPLE_SIZE)
    if rest:
        raise ValueError(
            f"samples of {len(samples)} bytes are not whole {SAMPLE_SIZE}-byte samples"
        )
    if compact:
        if n != 1:
            raise ValueError(f"a compact packet holds exactly 1 sample, got {n}")
        t24 = timestamp_us & _TS_MASK24
        body = struct.pack("<BHHB", _BYTE0_COMPACT, seq, t24 & 0xFFFF, t24 >> 16) + samples
    else:
        if not 1 <= n <= MAX_SAMPLES_PER_PACKET:
            raise ValueError(f"a data packet holds 1..{MAX_SAMPLES_PER_PACKET} samples, got {n}")
        cid = config_id(config if config is not None else SensorConfig())
        body = _FULL_HEADER.pack(_BYTE0_DATA, cid, seq, timestamp_us, n) + samples
    return body + struct.pack("<H", binascii.crc_hqx(body, 0xFFFF))


def encode_data(
    seq: int,
    timestamp_us: int,
    acc_counts: ArrayLike,
    gyr_counts: ArrayLike,
    *,
    compact: bool = False,
    config: SensorConfig | None = None,
) -> bytes:
    """Encode one data packet (what the firmware and the emulator send).

    Parameters
    ----------
    seq
        Packet sequence number 0..65535 (the sender wraps it).
    timestamp_us
        Sensor clock at the first sample, 0..2**32-1 (the sender wraps it). A compact
        packet sends its low 24 bits.
    acc_counts, gyr_counts
        int16 counts, shape (n, 3) (or (3,) for one sample).
    compact
        Use the 20-byte one-sample layout (MTU 23).
    config
        Configuration whose id goes into byte 1 of a full packet; ``None`` means the
        default ``SensorConfig()``. Unused (config is per session) for compact packets.

    Returns
    -------
    bytes
        The packet, CRC included.

    Raises
    ------
    ValueError
        If a field is out of range or the arrays are not int16 counts of shape (n, 3).
    """
    return encode_packed(
        seq, timestamp_us, pack_samples(acc_counts, gyr_counts), compact=compact, config=config
    )


def decode_samples(
    packet: bytes | bytearray | memoryview, config: SensorConfig
) -> tuple[DataHeader, np.ndarray]:
    """Decode one data packet into its header and its samples in SI units, checked as
    :func:`decode` checks them (the stream's per-notification path: no per-sample
    timestamp array, the header's ``timestamp_us`` is the first sample's).

    Returns
    -------
    (DataHeader, samples)
        ``samples`` is float64 (count, 6): acc x, y, z in m/s^2, then gyro x, y, z in
        rad/s.

    Raises
    ------
    ProtocolError
        For any malformed packet (the only exception raised for bytes-like input).
    """
    data = _as_bytes(packet)
    hdr = _header(data)
    _check_crc(data, hdr)
    if not hdr.compact:
        _check_config(hdr.config_id, config, hdr.seq)  # type: ignore[arg-type]
        off = FULL_HEADER_SIZE
    else:
        off = 6
    scale, _ = _per_count(config, hdr.count)
    raw = np.frombuffer(data, dtype="<i2", count=6 * hdr.count, offset=off).reshape(hdr.count, 6)
    return hdr, raw * scale  # one float64 (n, 6) array; acc and gyr are views of it


def decode(packet: bytes | bytearray | memoryview, config: SensorConfig) -> SampleBlock:
    """Decode one data packet into SI units.

    Parameters
    ----------
    packet
        The notification value.
    config
        The session configuration (scale factors, rate). A full packet's config id
        must match it.

    Returns
    -------
    SampleBlock
        ``timestamp_us[i] = (t_first + i * period_us) mod 2**bits`` with bits = 32 (full)
        or 24 (compact) (``timestamp_bits``), acc in m/s^2, gyro in rad/s.

    Raises
    ------
    ProtocolError
        For any malformed packet (the only exception raised for bytes-like input).
    """
    hdr, si = decode_samples(packet, config)
    _, offsets = _per_count(config, hdr.count)
    ts = offsets + hdr.timestamp_us
    ts &= (1 << hdr.timestamp_bits) - 1
    return SampleBlock(
        seq=hdr.seq,
        timestamp_us=ts,
        acc_mps2=si[:, :3],
        gyr_radps=si[:, 3:],
        sampling_rate_hz=config.sampling_rate_hz,
        packet_count=1,
        timestamp_bits=hdr.timestamp_bits,
    )


@functools.lru_cache(maxsize=512)
def _per_count(config: SensorConfig, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Scale row (6,) and sample time offsets (count,) for a configuration (cached)."""
    a, g = config.acc_scale_mps2, config.gyro_scale_radps
    scale = np.array([a, a, a, g, g, g])
    offsets = np.arange(count, dtype=np.int64) * config.sample_period_us
    scale.flags.writeable = False
    offsets.flags.writeable = False
    return scale, offsets


def _full_dtype(count: int) -> np.dtype:
    return np.dtype(
        [
            ("b0", "u1"),
            ("cid", "u1"),
            ("seq", "<u2"),
            ("t", "<u4"),
            ("n", "u1"),
            ("s", "<i2", (count * 6,)),
            ("crc", "<u2"),
        ]
    )


_COMPACT_DTYPE = np.dtype(
    [
        ("b0", "u1"),
        ("seq", "<u2"),
        ("tlo", "<u2"),
        ("thi", "u1"),
        ("s", "<i2", (6,)),
        ("crc", "<u2"),
    ]
)


def _empty_block(config: SensorConfig) -> SampleBlock:
    return SampleBlock(
        seq=0,
        timestamp_us=np.zeros(0, dtype=np.int64),
        acc_mps2=np.zeros((0, 3)),
        gyr_radps=np.zeros((0, 3)),
        sampling_rate_hz=config.sampling_rate_hz,
        packet_count=0,
    )


def decode_many(
    packets: Iterable[bytes | bytearray | memoryview],
    config: SensorConfig,
    *,
    errors: list[tuple[int, ProtocolError]] | None = None,
) -> SampleBlock:
    """Decode many data packets of one sensor into one concatenated block, vectorised.

    Packets of equal length are joined and converted with one ``np.frombuffer``; the
    CRC is checked per packet with ``binascii.crc_hqx``. Sample order follows packet
    order. No reordering, deduplication or gap filling happens here (SPEC.md,
    "Loss, duplicates, reordering" is the stream's job).

    Parameters
    ----------
    packets
        Notification values in arrival order. Full and compact packets must not be
        mixed in one call (their timestamps have different widths).
    config
        Session configuration (see :func:`decode`).
    errors
        If ``None`` (default) the first bad packet raises a :class:`ProtocolError`
        naming its index. If a list, bad packets are skipped and ``(index, error)``
        pairs are appended to it, so nothing good is lost.

    Returns
    -------
    SampleBlock
        ``seq`` of the first good packet, ``packet_count`` good packets.
    """
    pkts, bad = _packets_as_bytes(packets)
    n_pk = len(pkts)
    if n_pk == 0:
        return _empty_block(config)
    lengths = np.fromiter(map(len, pkts), dtype=np.int64, count=n_pk)
    compact, structurally_ok = _batch_layout(pkts, lengths, bad)
    groups, counts = _decode_groups(pkts, lengths, structurally_ok, compact, config)
    good = counts > 0
    _explain_bad(pkts, good, bad, config)
    if bad:
        if errors is None:
            i = min(bad)
            raise type(bad[i])(f"packet #{i}: {bad[i]}", packet_index=i)
        for i in sorted(bad):
            bad[i].packet_index = i
            errors.append((i, bad[i]))
    n_good = int(good.sum())
    if n_good == 0:
        return _empty_block(config)
    bits = 24 if compact else 32
    ts, acc, gyr = _join_groups(groups, counts, config, bits)
    seq = struct.unpack_from("<H", pkts[int(np.argmax(good))], 1 if compact else 2)[0]
    return SampleBlock(
        seq=int(seq),
        timestamp_us=ts,
        acc_mps2=acc,
        gyr_radps=gyr,
        sampling_rate_hz=config.sampling_rate_hz,
        packet_count=n_good,
        timestamp_bits=bits,
    )


def _packets_as_bytes(
    packets: Iterable[bytes | bytearray | memoryview],
) -> tuple[list[bytes], dict[int, ProtocolError]]:
    """The packets as bytes (``b""`` for one that is not bytes-like) and their errors."""
    if isinstance(packets, str | bytes | bytearray | memoryview):
        raise ProtocolError(
            f"decode_many expects a sequence of packets, got one {type(packets).__name__} "
            "(decode a single packet with decode)"
        )
    try:
        packets = list(packets)
    except TypeError:
        raise ProtocolError(
            f"decode_many expects a sequence of packets, got {type(packets).__name__}"
        ) from None
    pkts: list[bytes] = []
    bad: dict[int, ProtocolError] = {}
    for i, p in enumerate(packets):
        try:
            pkts.append(_as_bytes(p, f"packet #{i}"))
        except ProtocolError as exc:
            bad[i] = exc
            pkts.append(b"")
    return pkts, bad


def _batch_layout(
    pkts: list[bytes], lengths: np.ndarray, bad: dict[int, ProtocolError]
) -> tuple[bool, np.ndarray]:
    """``(compact, structurally valid packets of that layout)``.

    One layout per batch (timestamps of 32 and 24 bits do not mix): the layout of the
    first structurally valid packet wins, packets of the other layout go to ``bad``.
    """
    n_pk = len(pkts)
    b0 = np.fromiter((p[0] if p else 0 for p in pkts), dtype=np.int64, count=n_pk)
    full_ok = (b0 == _BYTE0_DATA) & (lengths >= FULL_OVERHEAD + SAMPLE_SIZE)
    full_ok &= (lengths - FULL_OVERHEAD) % SAMPLE_SIZE == 0
    full_ok &= lengths <= FULL_OVERHEAD + SAMPLE_SIZE * MAX_SAMPLES_PER_PACKET
    compact_ok = (b0 == _BYTE0_COMPACT) & (lengths == COMPACT_PACKET_SIZE)
    either = full_ok | compact_ok
    compact = bool(either.any() and compact_ok[int(np.argmax(either))])
    other = full_ok if compact else compact_ok
    for i in np.flatnonzero(other).tolist():
        kinds = ("full", "compact") if compact else ("compact", "full")
        bad[i] = ProtocolError(
            f"{kinds[0]} packet in a batch of {kinds[1]} packets (from #{int(np.argmax(either))}); "
            "decode each layout separately (their timestamps have 32 and 24 bits)"
        )
    return compact, compact_ok if compact else full_ok


#: One group of good packets of equal length: packet indices, timestamps, raw samples,
#: samples per packet.
_Group = tuple[np.ndarray, np.ndarray, np.ndarray, int]


def _decode_groups(
    pkts: list[bytes],
    lengths: np.ndarray,
    structurally_ok: np.ndarray,
    compact: bool,
    config: SensorConfig,
) -> tuple[list[_Group], np.ndarray]:
    """Per group of equal length: header and CRC checks, vectorised field extraction.

    Returns the groups of good packets and the sample count of every packet (0: bad).
    """
    counts = np.zeros(len(pkts), dtype=np.int64)
    cid_expected = config_id(config)
    groups: list[_Group] = []
    for length in np.unique(lengths[structurally_ok]):
        idx = np.flatnonzero(structurally_ok & (lengths == length))
        joined = b"".join([pkts[i] for i in idx])
        if compact:
            rec = np.frombuffer(joined, dtype=_COMPACT_DTYPE)
            count = 1
            ok = np.ones(len(idx), dtype=bool)
            t = rec["tlo"].astype(np.int64) | (rec["thi"].astype(np.int64) << 16)
        else:
            count = (int(length) - FULL_OVERHEAD) // SAMPLE_SIZE
            rec = np.frombuffer(joined, dtype=_full_dtype(count))
            ok = (rec["n"] == count) & (rec["cid"] == cid_expected)
            t = rec["t"]
        crc = np.fromiter(
            (binascii.crc_hqx(pkts[i][:-2], 0xFFFF) for i in idx), dtype=np.int64, count=len(idx)
        )
        ok &= crc == rec["crc"]
        counts[idx[ok]] = count
        if ok.all():
            groups.append((idx, t, rec["s"], count))
        else:
            groups.append((idx[ok], t[ok], rec["s"][ok], count))
    return groups, counts


def _explain_bad(
    pkts: list[bytes], good: np.ndarray, bad: dict[int, ProtocolError], config: SensorConfig
) -> None:
    """Every bad packet not explained yet gets the single-packet decoder's message."""
    for i in np.flatnonzero(~good).tolist():
        if i in bad:
            continue
        try:
            decode(pkts[i], config)
        except ProtocolError as exc:
            bad[i] = exc
        else:  # pragma: no cover - vectorised and scalar checks disagree
            raise AssertionError(f"decode_many rejected packet #{i} that decode accepts")


def _join_groups(
    groups: list[_Group], counts: np.ndarray, config: SensorConfig, bits: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(timestamp_us, acc_mps2, gyr_radps)`` of the good packets' samples, in packet
    order (timestamps wrapped to ``bits``)."""
    period = config.sample_period_us
    mask = (1 << bits) - 1
    if len(groups) == 1:
        idx, t, s, count = groups[0]
        raw = s.reshape(-1, 6)
        ts = (t.astype(np.int64)[:, None] + np.arange(count, dtype=np.int64) * period).ravel()
        ts &= mask
        return ts, raw[:, :3] * config.acc_scale_mps2, raw[:, 3:] * config.gyro_scale_radps
    offsets = np.cumsum(counts) - counts  # first output row of every packet
    total = int(counts.sum())
    acc = np.empty((total, 3))
    gyr = np.empty((total, 3))
    ts = np.empty(total, dtype=np.int64)
    for idx, t, s, count in groups:
        if len(idx) == 0:
            continue
        rows = (offsets[idx][:, None] + np.arange(count)).ravel()
        raw = s.reshape(-1, 6)
        acc[rows] = raw[:, :3] * config.acc_scale_mps2
        gyr[rows] = raw[:, 3:] * config.gyro_scale_radps
        ts[rows] = (
            t.astype(np.int64)[:, None] + np.arange(count, dtype=np.int64) * period
        ).ravel() & mask
    return ts, acc, gyr


def to_counts(
    acc_mps2: ArrayLike, gyr_radps: ArrayLike, config: SensorConfig
) -> tuple[np.ndarray, np.ndarray]:
    """SI values to int16 counts for ``config``: round to nearest, saturate at int16.

    Parameters
    ----------
    acc_mps2, gyr_radps
        Arrays of shape (n, 3) (or (3,)) in m/s^2 and rad/s. +/-inf saturate.

    Returns
    -------
    (acc_counts, gyr_counts)
        int16 arrays of shape (n, 3).

    Raises
    ------
    ValueError
        If an input holds NaN (there is no count for "missing").
    """
    out = []
    for x, scale, name in (
        (acc_mps2, config.acc_scale_mps2, "acc_mps2"),
        (gyr_radps, config.gyro_scale_radps, "gyr_radps"),
    ):
        arr = np.asarray(x, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.ndim != 2 or arr.shape[1] != 3:
            raise ValueError(f"{name} must have shape (n, 3), got {np.shape(x)}")
        nan = np.isnan(arr)
        if nan.any():
            row = int(np.argwhere(nan)[0][0])
            raise ValueError(f"{name} holds NaN (first at row {row}); counts cannot be missing")
        with np.errstate(over="ignore"):  # saturating is the documented result (1e308 too)
            out.append(np.clip(np.rint(arr / scale), -32768, 32767).astype(np.int16))
    return out[0], out[1]


def max_samples_per_packet(att_mtu: int) -> int:
    """Samples per full data packet that fit a notification at ``att_mtu``.

    ``(att_mtu - 3 - 11) // 12``, capped at :data:`MAX_SAMPLES_PER_PACKET` (41, the
    512-byte attribute limit): 19 at MTU 247, 0 at MTU 23 (then use the compact
    layout, see :func:`choose_layout`).
    """
    if att_mtu < 23:
        raise ValueError(f"ATT MTU must be >= 23, got {att_mtu}")
    n = (att_mtu - ATT_NOTIFICATION_OVERHEAD - FULL_OVERHEAD) // SAMPLE_SIZE
    return min(n, MAX_SAMPLES_PER_PACKET)


def choose_layout(att_mtu: int) -> tuple[bool, int]:
    """Layout a sensor uses at ``att_mtu``: ``(compact, max samples per packet)``.

    Full packets when at least one sample fits (MTU >= 26), else compact with 1 sample.
    """
    n = max_samples_per_packet(att_mtu)
    return (False, n) if n >= 1 else (True, 1)


def unwrap_timestamps(
    raw_us: ArrayLike, *, bits: int = 32, last_unwrapped_us: int | None = None
) -> np.ndarray:
    """Unwrap wrapped sensor timestamps into a monotonic-ish int64 microsecond axis.

    Each step between consecutive values is taken modulo ``2**bits`` into
    ``[-2**(bits-1), 2**(bits-1))``: valid as long as consecutive timestamps are less
    than ``2**(bits-1)`` us apart (2147 s for 32 bits, 8.39 s for 24 bits). Backward
    steps (reordered packets) stay negative.

    Parameters
    ----------
    raw_us
        Timestamps as sent (``SampleBlock.timestamp_us``).
    bits
        Field width, ``SampleBlock.timestamp_bits`` (32 or 24).
    last_unwrapped_us
        Unwrapped value of the previous timestamp of the stream, to continue it; if
        ``None`` the first value is taken as is.
    """
    raw = np.asarray(raw_us, dtype=np.int64)
    if raw.size == 0:
        return raw.copy()
    mod = np.int64(1) << np.int64(bits)
    half = mod >> np.int64(1)
    if last_unwrapped_us is None:
        base = int(raw[0])
        steps = np.diff(raw, prepend=raw[:1])
    else:
        base = int(last_unwrapped_us)
        steps = np.diff(raw, prepend=np.int64(base % int(mod)))
    steps = (steps + half) % mod - half
    return base + np.cumsum(steps)


# ---------------------------------------------------------------------- control point


@dataclass(frozen=True)
class Command:
    """A control point request.

    Attributes
    ----------
    opcode
        What to do.
    config
        SET_CONFIG: the configuration to apply.
    host_time_us
        TIME_SYNC: host clock in microseconds (uint64).
    duration_s
        IDENTIFY: blink/beep duration in seconds 0..255 (0 stops).
    """

    opcode: Opcode
    config: SensorConfig | None = None
    host_time_us: int | None = None
    duration_s: int | None = None


_CMD_PAYLOAD = {  # opcode -> payload length
    Opcode.START_STREAM: 0,
    Opcode.STOP_STREAM: 0,
    Opcode.SET_CONFIG: 3,
    Opcode.TIME_SYNC: 8,
    Opcode.IDENTIFY: 1,
    Opcode.GET_INFO: 0,
}


def encode_command(command: Command) -> bytes:
    """Bytes a client writes to the control point for ``command``.

    Raises
    ------
    ValueError
        If a parameter the opcode needs is missing or out of range.
    """
    op = Opcode(command.opcode)
    if op == Opcode.SET_CONFIG:
        if command.config is None:
            raise ValueError("SET_CONFIG needs config")
        return bytes([op, *config_codes(command.config)])
    if op == Opcode.TIME_SYNC:
        if command.host_time_us is None or not 0 <= command.host_time_us < 1 << 64:
            raise ValueError(f"TIME_SYNC needs host_time_us 0..2**64-1, got {command.host_time_us}")
        return struct.pack("<BQ", op, command.host_time_us)
    if op == Opcode.IDENTIFY:
        if command.duration_s is None or not 0 <= command.duration_s <= 255:
            raise ValueError(f"IDENTIFY needs duration_s 0..255, got {command.duration_s}")
        return bytes([op, command.duration_s])
    return bytes([op])


def decode_command(data: bytes | bytearray | memoryview) -> Command:
    """Parse a control point write (what the sensor/emulator does).

    Trailing bytes beyond a known opcode's parameters are ignored (additive evolution).

    Raises
    ------
    CommandError
        With ``result`` UNSUPPORTED_OPCODE or INVALID_PARAMETER for the response.
    ProtocolError
        For non-bytes input.
    """
    b = _as_bytes(data, "control point write")
    if not b:
        raise CommandError(
            "control point write 0 bytes: empty (expected an opcode)",
            opcode=None,
            result=ResultCode.INVALID_PARAMETER,
        )
    raw_op = b[0]
    try:
        op = Opcode(raw_op)
    except ValueError:
        raise CommandError(
            f"control point byte 0: unsupported opcode 0x{raw_op:02X}",
            opcode=raw_op,
            result=ResultCode.UNSUPPORTED_OPCODE,
        ) from None
    need = _CMD_PAYLOAD[op]
    if len(b) - 1 < need:
        raise CommandError(
            f"{op.name} {len(b)} bytes: needs {need} parameter byte(s) after the opcode",
            opcode=raw_op,
            result=ResultCode.INVALID_PARAMETER,
        )
    if op == Opcode.SET_CONFIG:
        try:
            cfg = config_from_codes(b[1], b[2], b[3])
        except ProtocolError as exc:
            raise CommandError(
                f"SET_CONFIG bytes 1-3: {exc}", opcode=raw_op, result=ResultCode.INVALID_PARAMETER
            ) from None
        return Command(op, config=cfg)
    if op == Opcode.TIME_SYNC:
        return Command(op, host_time_us=struct.unpack_from("<Q", b, 1)[0])
    if op == Opcode.IDENTIFY:
        return Command(op, duration_s=b[1])
    return Command(op)


@dataclass(frozen=True)
class DeviceInfo:
    """What GET_INFO answers (packed) and the Info characteristic holds (JSON).

    Attributes
    ----------
    protocol_version
        Major wire protocol version (1).
    firmware_version
        "major.minor.patch", each 0..255.
    config
        Current configuration.
    battery_percent
        0..100, or ``None`` if unknown.
    max_samples_per_packet
        Samples per full data packet at the current MTU (0 = compact layout in use).
    serial
        Sensor serial number, printable ASCII; at most 10 characters fit a GET_INFO
        response at MTU 23.
    """

    protocol_version: int = PROTOCOL_VERSION
    firmware_version: str = "1.0.0"
    config: SensorConfig = field(default_factory=SensorConfig)
    battery_percent: int | None = None
    max_samples_per_packet: int = 0
    serial: str = ""


def _fw_tuple(version: str) -> tuple[int, int, int]:
    parts = version.split(".")
    if len(parts) != 3 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise ValueError(
            f"firmware_version must be 'major.minor.patch' (0..255 each), got {version!r}"
        )
    return int(parts[0]), int(parts[1]), int(parts[2])


def _battery_byte(pct: int | None) -> int:
    if pct is None:
        return BATTERY_UNKNOWN
    if not 0 <= pct <= 100:
        raise ValueError(f"battery_percent must be 0..100 or None, got {pct}")
    return pct


def _battery_value(b: int, where: str) -> int | None:
    if b == BATTERY_UNKNOWN:
        return None
    if b > 100:
        raise ProtocolError(f"{where}: battery {b}% out of range (0..100, 255 = unknown)")
    return b


@dataclass(frozen=True)
class Response:
    """A control point response (indication).

    Attributes
    ----------
    opcode
        The request opcode answered (int if unknown to this client).
    result
        :class:`ResultCode` (int if unknown; anything but SUCCESS is a failure).
    host_time_us, sensor_time_us
        TIME_SYNC success: the echoed host time and the sensor clock (32-bit) when
        the request was handled.
    info
        GET_INFO success: the device info.
    """

    opcode: int
    result: int = ResultCode.SUCCESS
    host_time_us: int | None = None
    sensor_time_us: int | None = None
    info: DeviceInfo | None = None

    @property
    def ok(self) -> bool:
        """True if ``result`` is SUCCESS."""
        return self.result == ResultCode.SUCCESS


def encode_response(response: Response) -> bytes:
    """Bytes the sensor indicates on the control point for ``response``.

    Layout: 0x80, request opcode, result code, then (SUCCESS only) the opcode's payload.
    """
    op, res = int(response.opcode), int(response.result)
    if not (0 <= op <= 255 and 0 <= res <= 255):
        raise ValueError(f"opcode and result must be bytes, got {op}, {res}")
    head = bytes([RESPONSE_CODE, op, res])
    if res != ResultCode.SUCCESS:
        return head
    if op == Opcode.TIME_SYNC:
        if response.host_time_us is None or response.sensor_time_us is None:
            raise ValueError("TIME_SYNC response needs host_time_us and sensor_time_us")
        if not 0 <= response.sensor_time_us <= _TS_MASK32:
            raise ValueError(f"sensor_time_us must be 0..2**32-1, got {response.sensor_time_us}")
        return head + struct.pack("<QI", response.host_time_us, response.sensor_time_us)
    if op == Opcode.GET_INFO:
        info = response.info
        if info is None:
            raise ValueError("GET_INFO response needs info")
        serial = info.serial.encode("ascii")
        if not serial.isascii() or any(c < 0x20 or c > 0x7E for c in serial):
            raise ValueError(f"serial must be printable ASCII, got {info.serial!r}")
        return (
            head
            + bytes(
                [
                    info.protocol_version,
                    *_fw_tuple(info.firmware_version),
                    config_id(info.config),
                    _battery_byte(info.battery_percent),
                    info.max_samples_per_packet,
                ]
            )
            + serial
        )
    return head


def decode_response(data: bytes | bytearray | memoryview) -> Response:
    """Parse a control point indication (what the client does).

    Raises
    ------
    ProtocolError
        If it is not a response or its payload is malformed.
    """
    b = _as_bytes(data, "control point response")
    if len(b) < 3:
        raise ProtocolError(f"control point response {len(b)} bytes: needs at least 3")
    if b[0] != RESPONSE_CODE:
        raise ProtocolError(
            f"control point response byte 0: 0x{b[0]:02X} is not the response code 0x{RESPONSE_CODE:02X}"
        )
    op: int = b[1]
    res: int = b[2]
    try:
        op = Opcode(op)
    except ValueError:
        pass
    try:
        res = ResultCode(res)
    except ValueError:
        pass
    if res != ResultCode.SUCCESS:
        return Response(op, res)
    if op == Opcode.TIME_SYNC:
        if len(b) < 15:
            raise ProtocolError(
                f"TIME_SYNC response {len(b)} bytes: needs 15 (u64 host, u32 sensor)"
            )
        host, sensor = struct.unpack_from("<QI", b, 3)
        return Response(op, res, host_time_us=host, sensor_time_us=sensor)
    if op == Opcode.GET_INFO:
        if len(b) < 10:
            raise ProtocolError(f"GET_INFO response {len(b)} bytes: needs at least 10")
        pv, fa, fb, fc, cid, batt, maxs = b[3:10]
        try:
            cfg = config_from_id(cid)
        except ProtocolError as exc:
            raise ProtocolError(f"GET_INFO response byte 7: {exc}") from None
        serial_b = b[10:]
        if any(c < 0x20 or c > 0x7E for c in serial_b):
            raise ProtocolError("GET_INFO response bytes 10..: serial is not printable ASCII")
        info = DeviceInfo(
            protocol_version=pv,
            firmware_version=f"{fa}.{fb}.{fc}",
            config=cfg,
            battery_percent=_battery_value(batt, "GET_INFO response byte 8"),
            max_samples_per_packet=maxs,
            serial=serial_b.decode("ascii"),
        )
        return Response(op, res, info=info)
    return Response(op, res)


# ---------------------------------------------------------------------------- status

_STATUS = struct.Struct("<BBBIB")
STATUS_SIZE = _STATUS.size  # 8


@dataclass(frozen=True)
class Status:
    """A status notification (also the Status characteristic's read value).

    Attributes
    ----------
    state
        :class:`StreamState` (int if unknown to this client).
    battery_percent
        0..100 or ``None`` if unknown.
    flags
        :class:`StatusFlags` (unknown bits are kept).
    dropped_samples
        Samples the sensor could not send since the last START_STREAM (uint32, wraps).
    config
        Current configuration.
    """

    state: int = StreamState.IDLE
    battery_percent: int | None = None
    flags: StatusFlags = StatusFlags.NONE
    dropped_samples: int = 0
    config: SensorConfig = field(default_factory=SensorConfig)


def encode_status(status: Status) -> bytes:
    """Bytes of a status notification: state, battery, flags, dropped u32, config id."""
    if not 0 <= status.dropped_samples <= _TS_MASK32:
        raise ValueError(f"dropped_samples must be 0..2**32-1, got {status.dropped_samples}")
    if not 0 <= int(status.state) <= 255 or not 0 <= int(status.flags) <= 255:
        raise ValueError("state and flags must fit a byte")
    return _STATUS.pack(
        int(status.state),
        _battery_byte(status.battery_percent),
        int(status.flags),
        status.dropped_samples,
        config_id(status.config),
    )


def decode_status(data: bytes | bytearray | memoryview) -> Status:
    """Parse a status notification; trailing bytes (later additions) are ignored.

    Raises
    ------
    ProtocolError
        If shorter than 8 bytes or a field is out of range.
    """
    b = _as_bytes(data, "status")
    if len(b) < STATUS_SIZE:
        raise ProtocolError(f"status {len(b)} bytes: needs at least {STATUS_SIZE}")
    state, batt, flags, dropped, cid = _STATUS.unpack_from(b)
    try:
        state = StreamState(state)
    except ValueError:
        pass
    try:
        cfg = config_from_id(cid)
    except ProtocolError as exc:
        raise ProtocolError(f"status byte 7: {exc}") from None
    return Status(
        state=state,
        battery_percent=_battery_value(batt, "status byte 1"),
        flags=StatusFlags(flags),
        dropped_samples=dropped,
        config=cfg,
    )


# ------------------------------------------------------------------ Info characteristic


def encode_info(info: DeviceInfo, **extra: Any) -> bytes:
    """UTF-8 JSON value of the Info characteristic (read; long read if > MTU - 1).

    Keys: ``protocol_version``, ``firmware_version``, ``serial``, ``config`` (as
    ``SensorConfig.to_dict``), ``battery_percent`` (or null), ``max_samples_per_packet``,
    ``packet_types`` ([1, 2]), ``sample_rates_hz``, ``acc_ranges_g``,
    ``gyro_ranges_dps``; ``extra`` keys (e.g. ``model``) are added.
    """
    doc = {
        "protocol_version": info.protocol_version,
        "firmware_version": info.firmware_version,
        "serial": info.serial,
        "config": info.config.to_dict(),
        "battery_percent": info.battery_percent,
        "max_samples_per_packet": info.max_samples_per_packet,
        "packet_types": [int(PacketType.DATA), int(PacketType.COMPACT)],
        "sample_rates_hz": list(SAMPLE_RATES_HZ),
        "acc_ranges_g": list(ACC_RANGES_G),
        "gyro_ranges_dps": list(GYRO_RANGES_DPS),
        **extra,
    }
    out = json.dumps(doc, separators=(",", ":")).encode()
    if len(out) > MAX_ATTRIBUTE_SIZE:
        raise ValueError(
            f"Info JSON {len(out)} bytes exceeds the {MAX_ATTRIBUTE_SIZE}-byte attribute limit"
        )
    return out


def decode_info(data: bytes | bytearray | memoryview) -> dict[str, Any]:
    """Parse the Info characteristic; returns the JSON object (unknown keys kept).

    Raises
    ------
    ProtocolError
        If not UTF-8 JSON, not an object, or ``protocol_version`` is missing or not an int.
    """
    b = _as_bytes(data, "Info")
    try:
        doc = json.loads(b.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolError(f"Info {len(b)} bytes: not UTF-8 JSON ({exc})") from None
    except RecursionError:
        raise ProtocolError(f"Info {len(b)} bytes: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise ProtocolError(f"Info: expected a JSON object, got {type(doc).__name__}")
    pv = doc.get("protocol_version")
    if not isinstance(pv, int) or isinstance(pv, bool):
        raise ProtocolError(f"Info: protocol_version missing or not an integer ({pv!r})")
    return doc

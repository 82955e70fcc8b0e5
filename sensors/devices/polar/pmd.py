"""Polar Measurement Data (PMD): the wire format of Polar's sensors, written from Polar's
public material (facts only; no code carried over).

Sources (polarofficial/polar-ble-sdk): ``technical_documentation/online_measurement.pdf``
("Polar Measurement Data, online measurement", version 1.0, August 2024: UUIDs, control
point commands, settings, frame layout, delta compression), ``documentation/
SdkModeExplained.md``, ``documentation/TimeSystemExplained.md``,
``documentation/products/PolarVeritySense.md`` (SDK-mode rates and ranges), and the
Android SDK's unit tests (``AccDataTest``, ``GyrDataTest``, ``PmdSettingTest``,
``BlePmdClientControlPointResponseTest``) whose frames are this package's test vectors.

Layout:

* Control point (``fb005c81-...``, write with response, indications): a command is
  ``[opcode, measurement type (bit 7: offline), settings...]``; a response is
  ``[0xF0, opcode, measurement type, status, more, parameters...]``. Reading the control
  point gives the features: ``[0x0F, bits...]`` (byte 1 bit 2 ACC, bit 5 GYRO; byte 2
  bit 1 SDK mode).
* Settings are ``[type, count, value x count]`` with value sizes: sample rate, resolution,
  range u16; range in milli-units u32; channels u8; conversion factor float32 (IEEE 754).
* A data notification (``fb005c82-...``) is one frame: ``[measurement type, timestamp
  u64 (ns since 2000-01-01T00:00:00Z on the sensor clock, the time of the frame's last
  sample), frame type (bit 7: delta compressed), content...]``.
* Delta compression: a reference sample (each channel ``ceil(resolution/8)`` bytes, little
  endian, signed), then blocks ``[delta width in bits, sample count, deltas]``: deltas are
  packed least significant bit first, sample after sample, channel after channel, each
  ``width`` bits, two's complement; every sample is the previous one plus its deltas. For
  float data (gyroscope frame type 1) the deltas are added to the 32-bit patterns.
* Units: accelerometer in mG (frame types 1 and 2, and compressed type 1, times the
  factor), Verity Sense type 0 in G (compressed type 0: times the factor, in G);
  gyroscope in deg/s (16-bit types times the factor; float types as they are, times the
  factor).

All multi-byte fields are little endian. Decoding is vectorised with numpy (one
``unpackbits`` per delta block, one ``cumsum`` per frame).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np

PMD_SERVICE_UUID = "fb005c80-02e7-f387-1cad-8acd2d8df0c8"
PMD_CONTROL_POINT_UUID = "fb005c81-02e7-f387-1cad-8acd2d8df0c8"
PMD_DATA_UUID = "fb005c82-02e7-f387-1cad-8acd2d8df0c8"
#: Bluetooth SIG company identifier of Polar Electro Oy (manufacturer data).
POLAR_MANUFACTURER_ID = 0x006B
#: First byte of a control point response.
RESPONSE_CODE = 0xF0
#: First byte of the features read from the control point.
FEATURES_CODE = 0x0F
#: 2000-01-01T00:00:00Z in Unix nanoseconds (TimeSystemExplained.md).
EPOCH_2000_UNIX_NS = 946_684_800_000_000_000


class MeasurementType(IntEnum):
    """Measurement types (byte 0 of frames, bits 0-5)."""

    ECG = 0
    PPG = 1
    ACC = 2
    PPI = 3
    GYRO = 5
    MAG = 6
    SKIN_TEMP = 7
    SDK_MODE = 9


class Opcode(IntEnum):
    """Control point commands (client to sensor)."""

    GET_SETTINGS = 1
    START = 2
    STOP = 3
    GET_SDK_MODE_SETTINGS = 4
    GET_STATUS = 5
    GET_SDK_MODE_STATUS = 6


class Status(IntEnum):
    """Byte 3 of a control point response."""

    SUCCESS = 0
    INVALID_OP_CODE = 1
    INVALID_MEASUREMENT_TYPE = 2
    NOT_SUPPORTED = 3
    INVALID_LENGTH = 4
    INVALID_PARAMETER = 5
    ALREADY_IN_STATE = 6
    INVALID_RESOLUTION = 7
    INVALID_SAMPLE_RATE = 8
    INVALID_RANGE = 9
    INVALID_MTU = 10
    INVALID_NUMBER_OF_CHANNELS = 11
    INVALID_STATE = 12
    DEVICE_IN_CHARGER = 13
    DISK_FULL = 14


class Setting(IntEnum):
    """Setting types of settings responses and start commands."""

    SAMPLE_RATE = 0
    RESOLUTION = 1
    RANGE = 2
    RANGE_MILLIUNIT = 3
    CHANNELS = 4
    FACTOR = 5
    SECURITY = 6


SETTING_SIZE = {
    Setting.SAMPLE_RATE: 2,
    Setting.RESOLUTION: 2,
    Setting.RANGE: 2,
    Setting.RANGE_MILLIUNIT: 4,
    Setting.CHANNELS: 1,
    Setting.FACTOR: 4,
    Setting.SECURITY: 16,
}

#: Feature bits of the control point read: (byte, mask) per measurement type.
FEATURE_BITS = {
    MeasurementType.ECG: (1, 0x01),
    MeasurementType.PPG: (1, 0x02),
    MeasurementType.ACC: (1, 0x04),
    MeasurementType.PPI: (1, 0x08),
    MeasurementType.GYRO: (1, 0x20),
    MeasurementType.MAG: (1, 0x40),
    MeasurementType.SKIN_TEMP: (1, 0x80),
    MeasurementType.SDK_MODE: (2, 0x02),
}


class PmdError(ValueError):
    """Malformed PMD bytes (the message says what and where)."""


# ------------------------------------------------------------------------------ settings


def encode_settings(settings: Mapping[int, int | float | list]) -> bytes:
    """``{setting type: value or values}`` -> ``[type, count, values...]`` bytes."""
    out = bytearray()
    for key, value in settings.items():
        st = Setting(key)
        values = value if isinstance(value, list | tuple) else [value]
        out += bytes([st, len(values)])
        for v in values:
            if st == Setting.FACTOR:
                out += struct.pack("<f", float(v))
            else:
                size = SETTING_SIZE[st]
                v = int(v)
                if not 0 <= v < 1 << (8 * size):
                    raise ValueError(f"PMD setting {st.name}={v} does not fit {size} bytes")
                out += v.to_bytes(size, "little")
    return bytes(out)


def decode_settings(data: bytes) -> dict[Setting, list[int | float]]:
    """Settings bytes -> ``{Setting: [values]}`` (FACTOR as float).

    Raises
    ------
    PmdError
        Unknown setting type or truncated values, with the byte offset.
    """
    out: dict[Setting, list[int | float]] = {}
    pos = 0
    b = bytes(data)
    while pos < len(b):
        try:
            st = Setting(b[pos])
        except ValueError:
            raise PmdError(f"PMD settings byte {pos}: unknown setting type {b[pos]}") from None
        if pos + 1 >= len(b):
            raise PmdError(f"PMD settings byte {pos}: {st.name} without a count")
        count = b[pos + 1]
        size = SETTING_SIZE[st]
        pos += 2
        end = pos + count * size
        if end > len(b):
            raise PmdError(
                f"PMD settings: {st.name} needs {count * size} bytes at {pos}, {len(b) - pos} left"
            )
        vals: list[int | float] = []
        for k in range(count):
            chunk = b[pos + k * size : pos + (k + 1) * size]
            if st == Setting.FACTOR:
                vals.append(struct.unpack("<f", chunk)[0])
            elif st == Setting.RANGE_MILLIUNIT:
                vals.append(int.from_bytes(chunk, "little", signed=True))
            else:
                vals.append(int.from_bytes(chunk, "little"))
        out[st] = vals
        pos = end
    return out


# -------------------------------------------------------------------------- control point


def encode_command(
    opcode: int, measurement: int | None = None, settings: dict | None = None
) -> bytes:
    """A control point write: opcode, measurement type (online), settings."""
    out = bytes([int(opcode)])
    if measurement is not None:
        out += bytes([int(measurement) & 0x7F])
    if settings:
        out += encode_settings(settings)
    return out


@dataclass(frozen=True)
class Command:
    """A decoded control point write (what the sensor does with it)."""

    opcode: int
    measurement: int | None
    offline: bool
    settings: dict[Setting, list[int | float]] = field(default_factory=dict)


def decode_command(data: bytes) -> Command:
    """Parse a control point write (the virtual twin)."""
    b = bytes(data)
    if not b:
        raise PmdError("PMD command: empty")
    meas = b[1] & 0x3F if len(b) > 1 else None
    offline = bool(b[1] & 0x80) if len(b) > 1 else False
    settings = decode_settings(b[2:]) if len(b) > 2 else {}
    return Command(b[0], meas, offline, settings)


@dataclass(frozen=True)
class Response:
    """A control point response ``[0xF0, opcode, type, status, more, parameters]``."""

    opcode: int
    measurement: int
    status: int
    more: bool = False
    parameters: bytes = b""

    @property
    def ok(self) -> bool:
        """Whether the status is SUCCESS."""
        return self.status == Status.SUCCESS

    @property
    def status_name(self) -> str:
        """``ERROR_...`` name of the status (or its number)."""
        try:
            return Status(self.status).name
        except ValueError:
            return str(self.status)


def encode_response(r: Response) -> bytes:
    """Bytes of a control point response (the virtual twin)."""
    head = bytes([RESPONSE_CODE, r.opcode & 0xFF, r.measurement & 0xFF, r.status & 0xFF])
    if r.status != Status.SUCCESS:
        return head
    return head + bytes([1 if r.more else 0]) + bytes(r.parameters)


def decode_response(data: bytes) -> Response:
    """Parse a control point response (parameters only on success, as the SDK does)."""
    b = bytes(data)
    if len(b) < 4 or b[0] != RESPONSE_CODE:
        raise PmdError(f"PMD response: expected 0xF0 and at least 4 bytes, got {b.hex()}")
    more = b[3] == Status.SUCCESS and len(b) > 4 and b[4] != 0
    params = b[5:] if b[3] == Status.SUCCESS and len(b) > 5 else b""
    return Response(b[1], b[2], b[3], more, params)


def encode_features(types: list[int]) -> bytes:
    """The control point read value listing these measurement types."""
    out = bytearray([FEATURES_CODE, 0, 0])
    for t in types:
        byte, mask = FEATURE_BITS[MeasurementType(t)]
        out[byte] |= mask
    return bytes(out)


def decode_features(data: bytes | bytearray) -> set[MeasurementType]:
    """Measurement types in a control point read."""
    b = bytes(data)
    if len(b) < 3:
        raise PmdError(f"PMD features: {len(b)} bytes, expected at least 3")
    return {t for t, (byte, mask) in FEATURE_BITS.items() if b[byte] & mask}


# --------------------------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame:
    """A PMD data frame (one notification)."""

    measurement: int
    timestamp_ns: int
    frame_type: int
    compressed: bool
    content: bytes


HEADER_SIZE = 10


def decode_frame(data: bytes) -> Frame:
    """Split a data notification into its header fields and content."""
    b = bytes(data)
    if len(b) < HEADER_SIZE + 1:
        raise PmdError(f"PMD frame: {len(b)} bytes, shorter than header + 1")
    ts = int.from_bytes(b[1:9], "little")
    return Frame(b[0] & 0x3F, ts, b[9] & 0x7F, bool(b[9] & 0x80), b[HEADER_SIZE:])


def encode_frame(
    measurement: int, timestamp_ns: int, frame_type: int, compressed: bool, content: bytes
) -> bytes:
    """A data notification."""
    return (
        bytes([int(measurement) & 0x3F])
        + int(timestamp_ns).to_bytes(8, "little")
        + bytes([(int(frame_type) & 0x7F) | (0x80 if compressed else 0)])
        + bytes(content)
    )


def _bits_to_signed(bits: np.ndarray, width: int) -> np.ndarray:
    """(m, width) 0/1 bits, least significant first -> signed int64 values."""
    weights = np.left_shift(np.int64(1), np.arange(width, dtype=np.int64))
    v = bits.astype(np.int64) @ weights
    if width > 0:
        v = np.where(v >= (1 << (width - 1)), v - (1 << width), v)
    return v


def decode_delta(content: bytes, channels: int, resolution_bits: int) -> np.ndarray:
    """Delta-compressed content -> (n, channels) int64 raw values (before any factor).

    Raises
    ------
    PmdError
        Truncated reference sample or delta block (with the byte offset).
    """
    b = bytes(content)
    rb = math.ceil(resolution_bits / 8)
    ref_len = channels * rb
    if len(b) < ref_len:
        raise PmdError(f"PMD delta frame: {len(b)} bytes, reference sample needs {ref_len}")
    ref = np.array(
        [int.from_bytes(b[c * rb : (c + 1) * rb], "little", signed=True) for c in range(channels)],
        dtype=np.int64,
    )
    parts = [ref[None, :]]
    pos = ref_len
    while pos < len(b):
        if pos + 2 > len(b):
            raise PmdError(f"PMD delta frame byte {pos}: block header cut off")
        width, count = b[pos], b[pos + 1]
        pos += 2
        nbits = width * count * channels
        nbytes = math.ceil(nbits / 8)
        if pos + nbytes > len(b):
            raise PmdError(
                f"PMD delta frame byte {pos}: block of {count} x {width}-bit deltas needs "
                f"{nbytes} bytes, {len(b) - pos} left"
            )
        if count and width:
            raw = np.frombuffer(b, dtype=np.uint8, count=nbytes, offset=pos)
            bits = np.unpackbits(raw, bitorder="little")[:nbits].reshape(count * channels, width)
            parts.append(_bits_to_signed(bits, width).reshape(count, channels))
        elif count:
            parts.append(np.zeros((count, channels), dtype=np.int64))
        pos += nbytes
    return np.cumsum(np.concatenate(parts), axis=0)


def _signed_width(values: np.ndarray) -> int:
    """Bits a two's complement field needs for every value (at least 1)."""
    if values.size == 0:
        return 1
    hi = int(values.max())
    lo = int(values.min())
    w = 1
    while not (-(1 << (w - 1)) <= lo and hi <= (1 << (w - 1)) - 1):
        w += 1
    return w


def encode_delta(samples: np.ndarray, resolution_bits: int = 16) -> bytes:
    """(n, channels) integer samples -> delta-compressed content (the virtual twin).

    One block per up to 255 samples, each with the smallest width that holds its deltas.
    """
    x = np.asarray(samples, dtype=np.int64)
    n, channels = x.shape
    rb = math.ceil(resolution_bits / 8)
    out = bytearray()
    for c in range(channels):
        out += int(x[0, c]).to_bytes(rb, "little", signed=True)
    d = np.diff(x, axis=0)
    for s in range(0, len(d), 255):
        block = d[s : s + 255]
        width = _signed_width(block)
        vals = (block.reshape(-1) & ((1 << width) - 1)).astype(np.int64)
        bits = ((vals[:, None] >> np.arange(width, dtype=np.int64)) & 1).astype(np.uint8)
        out += bytes([width, len(block)])
        out += np.packbits(bits.reshape(-1), bitorder="little").tobytes()
    return bytes(out)


#: Raw (uncompressed) sample layouts: frame type -> (bytes per value, kind).
_ACC_RAW = {0: 1, 1: 2, 2: 3}


def acc_mg(frame: Frame, factor: float = 1.0, *, type0_in_g: bool = True) -> np.ndarray:
    """Accelerometer frame -> (n, 3) float64 in mG.

    Raw types 0/1/2 hold 8/16/24-bit values (type 0 in G on a Verity Sense, mG on other
    devices); compressed type 0 holds 16-bit values that the factor turns into G,
    compressed type 1 16-bit values that the factor turns into mG.
    """
    if frame.compressed:
        if frame.frame_type == 0:
            return decode_delta(frame.content, 3, 16) * (float(factor) * 1000.0)
        if frame.frame_type == 1:
            return decode_delta(frame.content, 3, 16) * float(factor)
        raise PmdError(f"PMD ACC: compressed frame type {frame.frame_type} not supported")
    size = _ACC_RAW.get(frame.frame_type)
    if size is None:
        raise PmdError(f"PMD ACC: raw frame type {frame.frame_type} not supported")
    c = frame.content
    if len(c) % (3 * size):
        raise PmdError(f"PMD ACC type {frame.frame_type}: {len(c)} bytes, not whole samples")
    raw = np.frombuffer(c, dtype=np.uint8).reshape(-1, size).astype(np.int64)
    v = raw @ (np.int64(1) << (8 * np.arange(size, dtype=np.int64)))
    v = np.where(v >= 1 << (8 * size - 1), v - (1 << (8 * size)), v).reshape(-1, 3)
    v = v.astype(np.float64)
    if frame.frame_type == 0 and type0_in_g:
        v *= 1000.0
    return v


def gyro_dps(frame: Frame, factor: float = 1.0) -> np.ndarray:
    """Gyroscope frame -> (n, 3) float64 in deg/s (16-bit types times the factor; float
    types as IEEE 754 single precision, times the factor)."""
    c = frame.content
    if frame.compressed:
        if frame.frame_type == 0:
            return decode_delta(c, 3, 16) * float(factor)
        if frame.frame_type == 1:
            bits32 = (decode_delta(c, 3, 32) & 0xFFFFFFFF).astype(np.uint32)
            return bits32.view(np.float32).astype(np.float64) * float(factor)
        raise PmdError(f"PMD GYRO: compressed frame type {frame.frame_type} not supported")
    if frame.frame_type == 0:
        if len(c) % 6:
            raise PmdError(f"PMD GYRO type 0: {len(c)} bytes, not whole samples")
        return np.frombuffer(c, dtype="<i2").reshape(-1, 3).astype(np.float64) * float(factor)
    if frame.frame_type == 1:
        if len(c) % 12:
            raise PmdError(f"PMD GYRO type 1: {len(c)} bytes, not whole samples")
        return np.frombuffer(c, dtype="<f4").reshape(-1, 3).astype(np.float64) * float(factor)
    raise PmdError(f"PMD GYRO: raw frame type {frame.frame_type} not supported")

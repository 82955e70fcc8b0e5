"""The MetaWear protocol (MbientLab MetaMotion S / R / RL), written from MbientLab's public
material (facts only; no code carried over).

Sources (mbientlab/MetaWear-SDK-Cpp): ``src/metawear/impl/cpp/metawearboard.cpp`` (GATT
UUIDs, model numbers), ``src/metawear/sensor/cpp/accelerometer_bosch*.{h,cpp}`` and
``gyro_bosch*`` (registers, configuration bytes, scales), ``src/metawear/processor/cpp/
dataprocessor*`` (data processor registers and the accounter), ``src/metawear/core/cpp/
settings*`` (battery, connection parameters), and the SDK's Python tests
(``test/test_accelerometer_bmi270.py``, ``test_accelerometer_bmi160.py``,
``test_gyro_bmi160.py``, ``test_dataprocessor.py``, ``test_settings.py``, ``common.py``)
whose packets are this package's test vectors.

Every command (written without response to ``326a9001-...``) and every notification (on
``326a9006-...``) is ``[module, register, (id), payload...]``; a read sets bit 7 of the
register. Modules: accelerometer 0x03, data processor 0x09, settings 0x11, gyroscope 0x13.
Reading ``[module, 0x80]`` answers ``[module, 0x80, implementation, revision, ...]``
(accelerometer implementation 1 = BMI160, 4 = BMI270; gyroscope 0 = BMI160, 1 = BMI270;
two bytes only: the module is absent).

Streaming with loss accounting: a *fuser* data processor (type 0x1B) joins each
accelerometer sample with the latest gyroscope sample (held by a *buffer* processor, type
0x0F); an *accounter* processor (type 0x11, count mode, 4 bytes) prefixes every output
with a counter. One notification then is ``[0x09, 0x03, id, count u32, acc x/y/z int16,
gyro x/y/z int16]`` (19 bytes, vendor test ``TestFuserAccounter``). The plain and packed
data registers carry neither a counter nor a time.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

import numpy as np

SERVICE_UUID = "326a9000-85cb-9195-d9dd-464cfbbae75a"
COMMAND_UUID = "326a9001-85cb-9195-d9dd-464cfbbae75a"
NOTIFY_UUID = "326a9006-85cb-9195-d9dd-464cfbbae75a"

ACC, DATA_PROCESSOR, SETTINGS, GYRO, AMBIENT_LIGHT = 0x03, 0x09, 0x11, 0x13, 0x14
READ = 0x80
MODULE_INFO = 0x80  # register 0 read

#: Module implementations.
ACC_BMI160, ACC_BMI270 = 1, 4
GYRO_BMI160, GYRO_BMI270 = 0, 1

#: Accelerometer registers (both chips).
ACC_POWER_MODE, ACC_DATA_INTERRUPT_ENABLE, ACC_DATA_CONFIG, ACC_DATA = 0x01, 0x02, 0x03, 0x04
ACC_PACKED = {ACC_BMI160: 0x1C, ACC_BMI270: 0x05}
#: Gyroscope registers.
GYRO_POWER_MODE, GYRO_DATA_INTERRUPT_ENABLE, GYRO_CONFIG = 0x01, 0x02, 0x03
GYRO_DATA = {GYRO_BMI160: 0x05, GYRO_BMI270: 0x04}
GYRO_PACKED = {GYRO_BMI160: 0x07, GYRO_BMI270: 0x05}
#: Data processor registers.
DP_ADD, DP_NOTIFY, DP_REMOVE, DP_NOTIFY_ENABLE, DP_REMOVE_ALL = 0x02, 0x03, 0x06, 0x07, 0x08
#: Data processor types.
DP_BUFFER, DP_ACCOUNTER, DP_FUSER = 0x0F, 0x11, 0x1B
#: Settings registers.
SETTINGS_CONNECTION_PARAMS, SETTINGS_BATTERY = 0x09, 0x0C

#: Output data rates both chips offer in the driver (Hz) and their ODR codes
#: (``100 Hz * 2 ** (code - 8)``, the BMI160/BMI270 ODR field).
ODR_CODE = {25.0: 6, 50.0: 7, 100.0: 8, 200.0: 9}
#: Accelerometer range codes per chip, and counts per g (32768 / range).
ACC_RANGE_CODE = {
    ACC_BMI160: {2.0: 0x03, 4.0: 0x05, 8.0: 0x08, 16.0: 0x0C},
    ACC_BMI270: {2.0: 0x00, 4.0: 0x01, 8.0: 0x02, 16.0: 0x03},
}
#: Gyroscope range codes and counts per deg/s (both chips).
GYRO_RANGE_CODE = {2000.0: 0, 1000.0: 1, 500.0: 2, 250.0: 3, 125.0: 4}
GYRO_COUNTS_PER_DPS = {2000.0: 16.4, 1000.0: 32.8, 500.0: 65.6, 250.0: 131.2, 125.0: 262.4}

#: DIS model numbers (``metawearboard.cpp``).
MODEL_NUMBERS = {"5": "MetaMotion R/RL", "6": "MetaMotion C", "8": "MetaMotion S"}

#: Size of a fused + counted notification.
COUNTED_SIZE = 19


class MetaWearError(ValueError):
    """Malformed MetaWear bytes (the message says what and where)."""


def acc_counts_per_g(range_g: float) -> float:
    """Accelerometer counts per g at a range (16384 at 2 g ... 2048 at 16 g)."""
    return 32768.0 / float(range_g)


# ----------------------------------------------------------------------------- commands


def read_module_info(module: int) -> bytes:
    """``[module, 0x80]``."""
    return bytes([module, MODULE_INFO])


def acc_config(chip: int, rate_hz: float, range_g: float) -> bytes:
    """Accelerometer output rate and range (``[0x03, 0x03, odr, range]``).

    BMI270: ``0xA0 | odr`` (filter performance mode, normal bandwidth: the SDK's
    default, e.g. ``A8`` = 100 Hz); BMI160: ``0x20 | odr`` (``28`` = 100 Hz).
    """
    odr = ODR_CODE[float(rate_hz)]
    first = (0xA0 if chip == ACC_BMI270 else 0x20) | odr
    return bytes([ACC, ACC_DATA_CONFIG, first, ACC_RANGE_CODE[chip][float(range_g)]])


def gyro_config(rate_hz: float, range_dps: float) -> bytes:
    """Gyroscope output rate and range (``[0x13, 0x03, 0x20 | odr, range]``)."""
    return bytes(
        [GYRO, GYRO_CONFIG, 0x20 | ODR_CODE[float(rate_hz)], GYRO_RANGE_CODE[float(range_dps)]]
    )


def power(module: int, on: bool) -> bytes:
    """Start (1) or stop (0) a sensor (``[module, 0x01, x]``)."""
    return bytes([module, 0x01, 1 if on else 0])


def sampling(module: int, on: bool) -> bytes:
    """Enable (``[m, 0x02, 1, 0]``) or disable (``[m, 0x02, 0, 1]``) its data interrupt."""
    return bytes([module, 0x02, 1, 0] if on else [module, 0x02, 0, 1])


def source_attributes(length: int, offset: int = 0) -> int:
    """Data attribute byte of a processor's source: ``((length - 1) << 5) | offset``,
    truncated to 8 bits (a 12-byte fused output gives 0x60)."""
    return (((length - 1) << 5) | offset) & 0xFF


def add_processor(
    source_module: int, source_register: int, source_id: int, length: int, ptype: int, config: bytes
) -> bytes:
    """``[0x09, 0x02, module, register, id (0xFF: none), attributes, type, config...]``."""
    return bytes(
        [DATA_PROCESSOR, DP_ADD, source_module, source_register, source_id & 0xFF]
        + [source_attributes(length), ptype]
    ) + bytes(config)


def buffer_processor(gyro_chip: int) -> bytes:
    """A buffer holding the latest gyroscope sample (6 bytes)."""
    return add_processor(GYRO, GYRO_DATA[gyro_chip], 0xFF, 6, DP_BUFFER, bytes([6 - 1]))


def fuser_processor(buffer_id: int) -> bytes:
    """Fuse each accelerometer sample with the buffered gyroscope one (padded to 20
    bytes, as the SDK writes it)."""
    cmd = add_processor(ACC, ACC_DATA, 0xFF, 6, DP_FUSER, bytes([1, buffer_id]))
    return cmd + bytes(20 - len(cmd))


def accounter_count_processor(source_id: int, source_length: int = 12) -> bytes:
    """Prefix a processor's output with a 4-byte counter (mode 0 = count, prescale 3)."""
    return add_processor(
        DATA_PROCESSOR, DP_NOTIFY, source_id, source_length, DP_ACCOUNTER, bytes([0x30, 0x03])
    )


def processor_notify(pid: int, on: bool) -> bytes:
    """``[0x09, 0x07, id, 1|0]``."""
    return bytes([DATA_PROCESSOR, DP_NOTIFY_ENABLE, pid, 1 if on else 0])


def notify_subscribe(on: bool = True) -> bytes:
    """``[0x09, 0x03, 1|0]``: data processor notifications on."""
    return bytes([DATA_PROCESSOR, DP_NOTIFY, 1 if on else 0])


def remove_all_processors() -> bytes:
    """``[0x09, 0x08]``."""
    return bytes([DATA_PROCESSOR, DP_REMOVE_ALL])


def read_battery() -> bytes:
    """``[0x11, 0xCC]`` (the SDK's read of the battery state)."""
    return bytes([SETTINGS, SETTINGS_BATTERY | READ | 0x40])


def connection_parameters(
    min_interval_ms: float, max_interval_ms: float, latency: int, timeout_ms: float
) -> bytes:
    """``[0x11, 0x09, min, max, latency, timeout]``: u16 each, intervals in 1.25 ms and the
    supervision timeout in 10 ms."""
    return bytes([SETTINGS, SETTINGS_CONNECTION_PARAMS]) + struct.pack(
        "<HHHH",
        int(min_interval_ms / 1.25),
        int(max_interval_ms / 1.25),
        int(latency),
        int(timeout_ms / 10),
    )


# ---------------------------------------------------------------------------- responses


@dataclass(frozen=True)
class ModuleInfo:
    """``[module, 0x80, implementation, revision, extra...]``; absent if only 2 bytes."""

    module: int
    present: bool
    implementation: int = -1
    revision: int = -1


def decode_module_info(data: bytes) -> ModuleInfo:
    """Parse a module info response."""
    b = bytes(data)
    if len(b) < 2 or b[1] != MODULE_INFO:
        raise MetaWearError(f"MetaWear module info: expected [module, 0x80, ...], got {b.hex()}")
    if len(b) < 4:
        return ModuleInfo(b[0], False)
    return ModuleInfo(b[0], True, b[2], b[3])


def decode_battery(data: bytes) -> tuple[int, int]:
    """``[0x11, 0x8C, charge %, voltage mV u16]`` -> (percent, millivolts)."""
    b = bytes(data)
    if len(b) < 5 or b[0] != SETTINGS or (b[1] & 0x3F) != SETTINGS_BATTERY:
        raise MetaWearError(f"MetaWear battery state: unexpected {b.hex()}")
    return b[2], int.from_bytes(b[3:5], "little")


def decode_counted(data: bytes) -> tuple[int, int, np.ndarray, np.ndarray]:
    """A fused + counted notification -> (processor id, count, acc counts, gyro counts).

    Raises
    ------
    MetaWearError
        Not ``[0x09, 0x03, id, ...]`` of 19 bytes.
    """
    b = bytes(data)
    if len(b) != COUNTED_SIZE or b[0] != DATA_PROCESSOR or b[1] != DP_NOTIFY:
        raise MetaWearError(
            f"MetaWear counted sample: expected 19 bytes [09 03 id count acc gyro], "
            f"got {len(b)}: {b[:4].hex()}..."
        )
    count = int.from_bytes(b[3:7], "little")
    v = np.frombuffer(b, dtype="<i2", count=6, offset=7).astype(np.float64)
    return b[2], count, v[:3], v[3:]


def encode_counted(pid: int, counts: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> list[bytes]:
    """Fused + counted notifications for consecutive samples (the virtual twin), vectorised."""
    n = len(counts)
    rec = np.zeros(
        n,
        dtype=[("h", "u1", 3), ("count", "<u4"), ("acc", "<i2", 3), ("gyr", "<i2", 3)],
    )
    rec["h"] = (DATA_PROCESSOR, DP_NOTIFY, pid)
    rec["count"] = np.asarray(counts, dtype=np.int64) & 0xFFFFFFFF
    rec["acc"] = acc
    rec["gyr"] = gyr
    raw = rec.tobytes()
    return [raw[i * COUNTED_SIZE : (i + 1) * COUNTED_SIZE] for i in range(n)]


def decode_data(data: bytes, scale: float) -> np.ndarray:
    """A plain or packed x/y/z data notification (``[module, register, int16 x 3 x k]``)
    -> (k, 3) values in the sensor's unit (counts / ``scale``: g or deg/s)."""
    b = bytes(data)
    if len(b) < 8 or (len(b) - 2) % 6:
        raise MetaWearError(f"MetaWear data: {len(b)} bytes is not a header + x/y/z samples")
    return np.frombuffer(b, dtype="<i2", offset=2).reshape(-1, 3).astype(np.float64) / scale

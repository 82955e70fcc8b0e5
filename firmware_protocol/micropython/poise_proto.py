# Poise wire protocol v1 for MicroPython: packets, control point, status, Info.
#
# The firmware's side of firmware_protocol/SPEC.md (the Python codec in
# firmware_protocol/codec.py is the client's side; the test vectors in
# firmware_protocol/vectors/ bind both). Pure: no machine, bluetooth or time import, so
# the MicroPython unix port and CPython run it unchanged.
#
# Memory rule of the streaming path (Packer.finish, crc16): no heap allocation. Packet
# buffers are allocated once per connection layout; fields are written with
# struct.pack_into; every integer stays below 2**30 so it is a MicroPython small int
# on the ESP32 (31-bit small ints; a larger int would be a heap-allocated long). The
# 32-bit sensor timestamp is therefore carried as two 16-bit halves (hi, lo).

import struct
from array import array

from micropython import const

PROTOCOL_VERSION = const(1)
FIRMWARE_VERSION = (1, 0, 0)

# SPEC 1.1 (the same strings as firmware_protocol/gatt.py)
SERVICE_UUID = "7a9e0001-5f0b-4c3e-9c5d-506f69736531"
DATA_UUID = "7a9e0002-5f0b-4c3e-9c5d-506f69736531"
CONTROL_POINT_UUID = "7a9e0003-5f0b-4c3e-9c5d-506f69736531"
STATUS_UUID = "7a9e0004-5f0b-4c3e-9c5d-506f69736531"
INFO_UUID = "7a9e0005-5f0b-4c3e-9c5d-506f69736531"
NAME_PREFIX = "Poise-"
DEVICE_INFORMATION_UUID16 = const(0x180A)
BATTERY_SERVICE_UUID16 = const(0x180F)
BATTERY_LEVEL_UUID16 = const(0x2A19)
MANUFACTURER_UUID16 = const(0x2A29)
MODEL_UUID16 = const(0x2A24)
SERIAL_UUID16 = const(0x2A25)
HARDWARE_REV_UUID16 = const(0x2A27)
FIRMWARE_REV_UUID16 = const(0x2A26)

# SPEC 3 and 4
BYTE0_DATA = const(0x11)
BYTE0_COMPACT = const(0x12)
FULL_OVERHEAD = const(11)
SAMPLE_SIZE = const(12)
COMPACT_SIZE = const(20)
MAX_SAMPLES = const(41)
ATT_OVERHEAD = const(3)
RESPONSE_CODE = const(0x80)

OP_START = const(0x01)
OP_STOP = const(0x02)
OP_SET_CONFIG = const(0x03)
OP_TIME_SYNC = const(0x04)
OP_IDENTIFY = const(0x05)
OP_GET_INFO = const(0x06)

SUCCESS = const(0x01)
UNSUPPORTED_OPCODE = const(0x02)
INVALID_PARAMETER = const(0x03)
INVALID_STATE = const(0x04)
BUSY = const(0x05)
OPERATION_FAILED = const(0x06)

STATE_IDLE = const(0)
STATE_STREAMING = const(1)
STATE_ERROR = const(2)

FLAG_LOW_BATTERY = const(0x01)
FLAG_SENSOR_ERROR = const(0x02)
FLAG_BUFFER_OVERFLOW = const(0x04)
FLAG_CHARGING = const(0x08)
BATTERY_UNKNOWN = const(0xFF)

# SPEC 2: code -> value
RATES_HZ = (50, 100, 200)
PERIODS_US = (20000, 10000, 5000)
ACC_RANGES_G = (2, 4, 8, 16)
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
DEFAULT_CONFIG_ID = const(0x39)  # 100 Hz, +-8 g, +-2000 dps

# parameter bytes after the opcode (SPEC 4.2)
_PARAMS = (0, 0, 0, 3, 8, 1, 0)

# Longest packet interval aimed at (SPEC 3.4: oldest unsent sample at most 20 ms old).
TARGET_PACKET_INTERVAL_US = const(20000)


def config_id(rate_code, acc_code, gyro_code):
    """Packed config id byte (SPEC 2)."""
    return rate_code | (acc_code << 2) | (gyro_code << 4)


def config_codes(cid):
    """(rate code, acc code, gyro code) of a config id."""
    return cid & 3, (cid >> 2) & 3, (cid >> 4) & 3


# --------------------------------------------------------------------------- CRC


def _crc_table():
    t = array("H", bytes(512))
    for i in range(256):
        c = i << 8
        for _ in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
            c &= 0xFFFF
        t[i] = c
    return t


_CRC_TABLE = _crc_table()


def crc16(buf, n):
    """CRC-16/CCITT-FALSE of buf[0:n] (SPEC 3.6); table-driven, allocation-free."""
    crc = 0xFFFF
    t = _CRC_TABLE
    for i in range(n):
        crc = ((crc << 8) & 0xFFFF) ^ t[((crc >> 8) ^ buf[i]) & 0xFF]
    return crc


# ------------------------------------------------------------------------ layout


def max_samples_per_packet(att_mtu):
    """SPEC 3.4: samples of a full packet at this ATT MTU (0: use compact packets)."""
    n = (att_mtu - ATT_OVERHEAD - FULL_OVERHEAD) // SAMPLE_SIZE
    if n < 0:
        return 0
    return MAX_SAMPLES if n > MAX_SAMPLES else n


def samples_per_packet(att_mtu, rate_code):
    """Samples the firmware puts in one packet: as many as arrive in 20 ms (1 at 50 Hz,
    2 at 100 Hz, 4 at 200 Hz, as the virtual wearable does), at most what fits the MTU;
    1 (compact) when no full packet fits."""
    n = max_samples_per_packet(att_mtu)
    if n == 0:
        return 1
    k = TARGET_PACKET_INTERVAL_US // PERIODS_US[rate_code]
    if k < 1:
        k = 1
    return n if k > n else k


class Packer:
    """One preallocated data packet (full or compact) and the code to finish it.

    The IMU driver writes the samples (little-endian int16, 12 bytes each) straight
    into ``buf`` at ``sample_offset(i)``; :meth:`finish` writes header and CRC. The
    buffer has exactly the packet's length, so it is handed to gatts_notify as is.
    """

    def __init__(self, count, compact):
        self.count = count
        self.compact = compact
        if compact:
            self.buf = bytearray(COMPACT_SIZE)
            self.first = 6
        else:
            self.buf = bytearray(FULL_OVERHEAD + SAMPLE_SIZE * count)
            self.first = 9

    def finish(self, cid, seq, t_hi, t_lo):
        """Write header and CRC for packet ``seq`` whose first sample is at sensor time
        (t_hi << 16) | t_lo. Allocation-free."""
        b = self.buf
        if self.compact:
            struct.pack_into("<BHHB", b, 0, BYTE0_COMPACT, seq, t_lo, t_hi & 0xFF)
            struct.pack_into("<H", b, 18, crc16(b, 18))
        else:
            n = FULL_OVERHEAD - 2 + SAMPLE_SIZE * self.count
            struct.pack_into("<BBHHHB", b, 0, BYTE0_DATA, cid, seq, t_lo, t_hi, self.count)
            struct.pack_into("<H", b, n, crc16(b, n))
        return b


def encode_data(seq, t_us, samples, cid=DEFAULT_CONFIG_ID, compact=False):
    """A whole data packet from a list of 6-tuples of int16 counts (tests, not the
    streaming path): the same Packer the firmware streams with."""
    p = Packer(len(samples), compact)
    for i in range(len(samples)):
        struct.pack_into("<6h", p.buf, p.first + SAMPLE_SIZE * i, *samples[i])
    return bytes(p.finish(cid, seq, (t_us >> 16) & 0xFFFF, t_us & 0xFFFF))


# --------------------------------------------------------------------- status


def encode_status_into(buf, state, battery, flags, dropped, cid):
    """SPEC 5: 8 bytes into ``buf``; dropped is the u32 counter (wrapped here)."""
    struct.pack_into(
        "<BBBHHB", buf, 0, state, battery, flags, dropped & 0xFFFF, (dropped >> 16) & 0xFFFF, cid
    )
    return buf


# --------------------------------------------------------------- control point


def parse_command(data):
    """Check a control point write (SPEC 4).

    Returns (opcode, result): result SUCCESS means the parameters are complete and
    valid; otherwise the code to answer with (opcode 0 for an empty write).
    """
    if len(data) == 0:
        return 0, INVALID_PARAMETER
    op = data[0]
    if op < OP_START or op > OP_GET_INFO:
        return op, UNSUPPORTED_OPCODE
    if len(data) - 1 < _PARAMS[op]:
        return op, INVALID_PARAMETER
    if op == OP_SET_CONFIG and (data[1] > 2 or data[2] > 3 or data[3] > 3):
        return op, INVALID_PARAMETER
    return op, SUCCESS


def response(op, result):
    """A response without payload: 0x80, opcode, result."""
    return bytes((RESPONSE_CODE, op, result))


def time_sync_response(request, s_hi, s_lo):
    """TIME_SYNC success: the host time's 8 bytes echoed as received, then the
    sensor clock (s_hi << 16) | s_lo as u32 (no int above 2**30 is built)."""
    out = bytearray(15)
    out[0] = RESPONSE_CODE
    out[1] = OP_TIME_SYNC
    out[2] = SUCCESS
    out[3:11] = request[1:9]
    struct.pack_into("<HH", out, 11, s_lo, s_hi)
    return bytes(out)


def get_info_response(cid, battery, max_samples, serial):
    """GET_INFO success (SPEC 4.2): protocol, firmware x3, config id, battery, max
    samples per packet (0 = compact), serial (printable ASCII, at most 10 characters)."""
    head = bytes(
        (
            RESPONSE_CODE,
            OP_GET_INFO,
            SUCCESS,
            PROTOCOL_VERSION,
            FIRMWARE_VERSION[0],
            FIRMWARE_VERSION[1],
            FIRMWARE_VERSION[2],
            cid,
            battery,
            max_samples,
        )
    )
    return head + serial.encode()[:10]


def info_json(cid, battery, max_samples, serial, model):
    """SPEC 6: the Info characteristic (UTF-8 JSON, keys in the codec's order)."""
    r, a, g = config_codes(cid)
    batt = "null" if battery == BATTERY_UNKNOWN else str(battery)
    return (
        '{"protocol_version":1,"firmware_version":"%d.%d.%d","serial":"%s",'
        '"config":{"sampling_rate_hz":%d,"acc_range_g":%d,"gyro_range_dps":%d},'
        '"battery_percent":%s,"max_samples_per_packet":%d,"packet_types":[1,2],'
        '"sample_rates_hz":[50,100,200],"acc_ranges_g":[2,4,8,16],'
        '"gyro_ranges_dps":[250,500,1000,2000],"model":"%s"}'
        % (
            FIRMWARE_VERSION[0],
            FIRMWARE_VERSION[1],
            FIRMWARE_VERSION[2],
            serial,
            RATES_HZ[r],
            ACC_RANGES_G[a],
            GYRO_RANGES_DPS[g],
            batt,
            max_samples,
            model,
        )
    ).encode()


# ----------------------------------------------------------------- advertising


def _ad(ad_type, payload):
    return bytes((len(payload) + 1, ad_type)) + payload


def uuid128_le(uuid):
    """Little-endian bytes of a 128-bit UUID string (as it goes on air)."""
    h = uuid.replace("-", "")
    b = bytearray(16)
    for i in range(16):
        b[15 - i] = int(h[2 * i : 2 * i + 2], 16)
    return bytes(b)


def advertising_data():
    """SPEC 1.2: Flags (LE General Discoverable, no BR/EDR) and the complete list of
    128-bit service UUIDs with the Poise service: 3 + 18 = 21 bytes."""
    return _ad(0x01, b"\x06") + _ad(0x07, uuid128_le(SERVICE_UUID))


def scan_response_data(name, battery):
    """SPEC 1.2: complete local name, then Battery Service data (0x180F, percent)."""
    return _ad(0x09, name.encode()) + _ad(0x16, bytes((0x0F, 0x18, battery)))

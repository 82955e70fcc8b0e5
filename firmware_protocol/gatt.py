"""GATT profile constants of a Poise wearable (wire protocol v1, see SPEC.md).

Everything a client or the emulator needs to find a wearable and talk to it: UUIDs of
the Poise service and its characteristics, the advertised name prefix, the standard
Device Information and Battery services, the control point opcodes, result codes,
status flags and the packet-type nibbles of data packets.

UUID strings are lower-case 128-bit strings, the form bleak and Bumble print.
"""

from __future__ import annotations

from enum import IntEnum, IntFlag

#: Major protocol version carried in the high nibble of every data packet.
PROTOCOL_VERSION = 1

# --- Poise service -------------------------------------------------------------------
# Base "7a9e0000-5f0b-4c3e-9c5d-506f69736531" (the tail spells "Poise1" in ASCII).
#: Primary service, advertised in the advertising data (complete list of 128-bit UUIDs).
SERVICE_UUID = "7a9e0001-5f0b-4c3e-9c5d-506f69736531"
#: Data characteristic: notify only; carries data packets (codec.encode_data).
DATA_CHAR_UUID = "7a9e0002-5f0b-4c3e-9c5d-506f69736531"
#: Control point: write with response; responses come back as indications.
CONTROL_POINT_CHAR_UUID = "7a9e0003-5f0b-4c3e-9c5d-506f69736531"
#: Status: read + notify; codec.encode_status.
STATUS_CHAR_UUID = "7a9e0004-5f0b-4c3e-9c5d-506f69736531"
#: Info: read; UTF-8 JSON object (codec.encode_info).
INFO_CHAR_UUID = "7a9e0005-5f0b-4c3e-9c5d-506f69736531"

#: Advertised (complete) local name starts with this; the rest is free (e.g. serial tail).
NAME_PREFIX = "Poise-"


def _sig_uuid(short: int) -> str:
    """128-bit form of a Bluetooth SIG 16-bit UUID."""
    return f"0000{short:04x}-0000-1000-8000-00805f9b34fb"


# --- Standard services -----------------------------------------------------------------
DEVICE_INFORMATION_SERVICE_UUID16 = 0x180A
BATTERY_SERVICE_UUID16 = 0x180F
DEVICE_INFORMATION_SERVICE_UUID = _sig_uuid(DEVICE_INFORMATION_SERVICE_UUID16)
BATTERY_SERVICE_UUID = _sig_uuid(BATTERY_SERVICE_UUID16)
#: Device Information characteristics (UTF-8 strings).
MANUFACTURER_NAME_CHAR_UUID = _sig_uuid(0x2A29)
MODEL_NUMBER_CHAR_UUID = _sig_uuid(0x2A24)
SERIAL_NUMBER_CHAR_UUID = _sig_uuid(0x2A25)
HARDWARE_REVISION_CHAR_UUID = _sig_uuid(0x2A27)
FIRMWARE_REVISION_CHAR_UUID = _sig_uuid(0x2A26)
#: Battery Level (uint8 percent, read + notify).
BATTERY_LEVEL_CHAR_UUID = _sig_uuid(0x2A19)

# --- ATT sizes -------------------------------------------------------------------------
#: Default ATT MTU before an exchange; notifications carry at most MTU - 3 = 20 bytes.
DEFAULT_ATT_MTU = 23
#: MTU a Poise client requests (fits 19 samples per full data packet).
PREFERRED_ATT_MTU = 247
#: ATT header of a notification (opcode + handle) subtracted from the MTU.
ATT_NOTIFICATION_OVERHEAD = 3


class PacketType(IntEnum):
    """Low nibble of byte 0 of a data-characteristic notification."""

    DATA = 1
    """Full data packet: config id, seq, 32-bit timestamp, count, samples, CRC."""
    COMPACT = 2
    """Compact 20-byte packet for MTU 23: seq, 24-bit timestamp, one sample, CRC."""


class Opcode(IntEnum):
    """Control point request opcodes (byte 0 of a write)."""

    START_STREAM = 0x01
    STOP_STREAM = 0x02
    SET_CONFIG = 0x03
    TIME_SYNC = 0x04
    IDENTIFY = 0x05
    GET_INFO = 0x06


#: Byte 0 of every control point response (indication), followed by the request opcode.
RESPONSE_CODE = 0x80


class ResultCode(IntEnum):
    """Byte 2 of a control point response."""

    SUCCESS = 0x01
    UNSUPPORTED_OPCODE = 0x02
    INVALID_PARAMETER = 0x03
    INVALID_STATE = 0x04
    BUSY = 0x05
    OPERATION_FAILED = 0x06


class StreamState(IntEnum):
    """Byte 0 of a status notification."""

    IDLE = 0
    STREAMING = 1
    ERROR = 2


class StatusFlags(IntFlag):
    """Byte 2 of a status notification (bit set = condition present)."""

    NONE = 0
    LOW_BATTERY = 0x01
    SENSOR_ERROR = 0x02
    BUFFER_OVERFLOW = 0x04
    CHARGING = 0x08


#: Battery percent value meaning "unknown".
BATTERY_UNKNOWN = 0xFF

__all__ = [
    "ATT_NOTIFICATION_OVERHEAD",
    "BATTERY_LEVEL_CHAR_UUID",
    "BATTERY_SERVICE_UUID",
    "BATTERY_SERVICE_UUID16",
    "BATTERY_UNKNOWN",
    "CONTROL_POINT_CHAR_UUID",
    "DATA_CHAR_UUID",
    "DEFAULT_ATT_MTU",
    "DEVICE_INFORMATION_SERVICE_UUID",
    "DEVICE_INFORMATION_SERVICE_UUID16",
    "FIRMWARE_REVISION_CHAR_UUID",
    "HARDWARE_REVISION_CHAR_UUID",
    "INFO_CHAR_UUID",
    "MANUFACTURER_NAME_CHAR_UUID",
    "MODEL_NUMBER_CHAR_UUID",
    "NAME_PREFIX",
    "Opcode",
    "PREFERRED_ATT_MTU",
    "PROTOCOL_VERSION",
    "PacketType",
    "RESPONSE_CODE",
    "ResultCode",
    "SERIAL_NUMBER_CHAR_UUID",
    "SERVICE_UUID",
    "STATUS_CHAR_UUID",
    "StatusFlags",
    "StreamState",
]

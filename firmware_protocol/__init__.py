"""Poise wire protocol v1: GATT layout, packet codec, versioning (see SPEC.md).

Submodules: :mod:`firmware_protocol.types` (SensorConfig, SampleBlock),
:mod:`firmware_protocol.codec` (encode/decode), :mod:`firmware_protocol.gatt` (UUIDs,
opcodes, result codes). The C header and reference encoder for firmware authors are
in ``c/``, the test vectors in ``vectors/``.
"""

from firmware_protocol.codec import ProtocolError, decode, decode_many, encode_data
from firmware_protocol.gatt import PROTOCOL_VERSION
from firmware_protocol.types import SampleBlock, SensorConfig

__all__ = [
    "PROTOCOL_VERSION",
    "ProtocolError",
    "SampleBlock",
    "SensorConfig",
    "decode",
    "decode_many",
    "encode_data",
]

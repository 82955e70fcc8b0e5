"""Regenerate the test vectors in ``vectors/*.json`` from the Python codec.

Run ``python -m firmware_protocol.make_vectors`` (writes the files) or with ``--check``
(exits 1 if the files on disk differ). Inputs are fixed here (no randomness beyond a
seeded generator), so the output is reproducible. ``c/poise_encoder.c`` re-encodes the
same inputs (given as text lines, see :func:`c_input_lines`) and must produce the same
bytes; ``tests/firmware_protocol`` checks both.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from firmware_protocol.codec import (
    Command,
    DeviceInfo,
    ProtocolError,
    Response,
    Status,
    config_id,
    decode,
    decode_command,
    decode_response,
    decode_status,
    encode_command,
    encode_data,
    encode_response,
    encode_status,
    max_samples_per_packet,
)
from firmware_protocol.gatt import Opcode, ResultCode, StatusFlags, StreamState
from firmware_protocol.types import SensorConfig

_M = TypeVar("_M", Command, Response, Status)

VECTOR_DIR = Path(__file__).parent / "vectors"
_HEADER = {
    "protocol_version": 1,
    "generator": "python -m firmware_protocol.make_vectors",
    "note": "hex = exact bytes on the wire; see firmware_protocol/SPEC.md",
}


def _data_vector(
    name: str,
    config: SensorConfig,
    seq: int,
    t_us: int,
    acc: np.ndarray,
    gyr: np.ndarray,
    compact: bool = False,
) -> dict[str, Any]:
    pkt = encode_data(seq, t_us, acc, gyr, compact=compact, config=config)
    block = decode(pkt, config)
    v: dict[str, Any] = {
        "name": name,
        "kind": "compact" if compact else "data",
        "hex": pkt.hex(),
        "config": config.to_dict(),
        "fields": {
            "seq": seq,
            "timestamp_us": t_us,
            "count": int(acc.shape[0]),
            "acc_counts": acc.tolist(),
            "gyr_counts": gyr.tolist(),
        },
        "decoded": {
            "seq": block.seq,
            "timestamp_bits": block.timestamp_bits,
            "timestamp_us": block.timestamp_us.tolist(),
            "acc_mps2": block.acc_mps2.tolist(),
            "gyr_radps": block.gyr_radps.tolist(),
        },
    }
    if not compact:
        v["fields"]["config_id"] = config_id(config)
    return v


def data_vectors() -> list[dict[str, Any]]:
    """Full data packets: 1, several and max samples, edge values, timestamp wrap."""
    rng = np.random.default_rng(20261127)
    out = []
    cfg100 = SensorConfig(100, 8, 2000)
    cfg200 = SensorConfig(200, 16, 2000)
    cfg50 = SensorConfig(50, 2, 250)
    out.append(
        _data_vector(
            "one_sample_at_rest",
            cfg100,
            0,
            1_000_000,
            np.array([[4096, 0, 0]]),  # +1 g on x (8 g range: 4096 counts/g)
            np.array([[0, 0, 0]]),
        )
    )
    out.append(
        _data_vector(
            "three_samples",
            cfg100,
            1,
            1_030_000,
            np.array([[4100, -12, 35], [4090, -10, 40], [4088, -8, 41]]),
            np.array([[10, -20, 30], [12, -22, 28], [15, -25, 27]]),
        )
    )
    n = max_samples_per_packet(247)
    out.append(
        _data_vector(
            "max_samples_mtu247_200hz",
            cfg200,
            1234,
            987_654_321,
            rng.integers(-3000, 3000, (n, 3)),
            rng.integers(-2000, 2000, (n, 3)),
        )
    )
    out.append(
        _data_vector(
            "int16_extremes",
            cfg50,
            65535,
            0,
            np.array([[-32768, 32767, 0], [32767, -32768, -1]]),
            np.array([[32767, -32768, 1], [-32768, 32767, -1]]),
        )
    )
    out.append(
        _data_vector(
            "timestamp_wraps_inside_packet",
            cfg200,
            40000,
            2**32 - 2 * 5000,  # samples at 2^32-10000, 2^32-5000, then 0, 5000
            rng.integers(-500, 500, (4, 3)),
            rng.integers(-500, 500, (4, 3)),
        )
    )
    out.append(
        _data_vector(
            "max_attribute_41_samples",
            SensorConfig(100, 4, 500),
            7,
            4_000_000_000,
            rng.integers(-32768, 32768, (41, 3)),
            rng.integers(-32768, 32768, (41, 3)),
        )
    )
    return out


def compact_vectors() -> list[dict[str, Any]]:
    """20-byte compact packets (MTU 23)."""
    cfg = SensorConfig(100, 8, 2000)
    one = np.array([[4096, -1, 2]])
    return [
        _data_vector("compact_rest", cfg, 0, 123_456, one, np.array([[0, 0, 0]]), True),
        _data_vector(
            "compact_extremes",
            SensorConfig(200, 16, 1000),
            65535,
            2**24 - 1,
            np.array([[-32768, 32767, -32768]]),
            np.array([[32767, -32768, 32767]]),
            True,
        ),
        _data_vector(
            "compact_32bit_clock_sends_low_24",
            cfg,
            513,
            0x89ABCDEF,  # the packet carries 0xABCDEF
            np.array([[100, 200, 300]]),
            np.array([[-100, -200, -300]]),
            True,
        ),
    ]


def _fields(obj: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in vars(obj).items():
        if v is None:
            continue
        if isinstance(v, SensorConfig):
            out[k] = v.to_dict()
        elif isinstance(v, DeviceInfo):
            out[k] = _fields(v)
        elif isinstance(v, StatusFlags):
            out[k] = int(v)
        elif isinstance(v, (Opcode, ResultCode, StreamState)):
            out[k] = v.name
        else:
            out[k] = v
    return out


def _message_vectors(
    kind: str,
    named: Sequence[tuple[str, _M]],
    encode: Callable[[_M], bytes],
    decode: Callable[[bytes], _M],
) -> list[dict[str, Any]]:
    """One vector per named message: its bytes and fields; each decodes back to itself."""
    out = []
    for name, message in named:
        b = encode(message)
        assert decode(b) == message
        out.append({"name": name, "kind": kind, "hex": b.hex(), "fields": _fields(message)})
    return out


def encode_data_fields(vector: dict[str, Any]) -> bytes:
    """Encode a data or compact vector's ``fields`` again with the codec (the bytes its
    ``hex`` must equal)."""
    f = vector["fields"]
    return encode_data(
        f["seq"],
        f["timestamp_us"],
        f["acc_counts"],
        f["gyr_counts"],
        compact=vector["kind"] == "compact",
        config=SensorConfig.from_dict(vector["config"]),
    )


def control_vectors() -> list[dict[str, Any]]:
    """Control point requests and responses."""
    cmds = [
        ("start_stream", Command(Opcode.START_STREAM)),
        ("stop_stream", Command(Opcode.STOP_STREAM)),
        (
            "set_config_200hz_16g_2000dps",
            Command(Opcode.SET_CONFIG, config=SensorConfig(200, 16, 2000)),
        ),
        ("set_config_50hz_2g_250dps", Command(Opcode.SET_CONFIG, config=SensorConfig(50, 2, 250))),
        ("time_sync", Command(Opcode.TIME_SYNC, host_time_us=1_764_236_400_123_456)),
        ("identify_5s", Command(Opcode.IDENTIFY, duration_s=5)),
        ("get_info", Command(Opcode.GET_INFO)),
    ]
    out = _message_vectors("command", cmds, encode_command, decode_command)
    info = DeviceInfo(1, "1.4.2", SensorConfig(100, 8, 2000), 87, 19, "PS0001A7")
    resps = [
        ("ok_start_stream", Response(Opcode.START_STREAM)),
        ("busy_start_stream", Response(Opcode.START_STREAM, ResultCode.BUSY)),
        (
            "invalid_state_set_config_while_streaming",
            Response(Opcode.SET_CONFIG, ResultCode.INVALID_STATE),
        ),
        ("invalid_parameter_set_config", Response(Opcode.SET_CONFIG, ResultCode.INVALID_PARAMETER)),
        ("unsupported_opcode_0x7f", Response(0x7F, ResultCode.UNSUPPORTED_OPCODE)),
        (
            "ok_time_sync",
            Response(
                Opcode.TIME_SYNC,
                host_time_us=1_764_236_400_123_456,
                sensor_time_us=3_000_000_123,
            ),
        ),
        ("ok_get_info", Response(Opcode.GET_INFO, info=info)),
        (
            "ok_get_info_battery_unknown_mtu23",
            Response(
                Opcode.GET_INFO,
                info=DeviceInfo(1, "0.9.0", SensorConfig(50, 2, 250), None, 0, "ABCDEFGHIJ"),
            ),
        ),
    ]
    return out + _message_vectors("response", resps, encode_response, decode_response)


def status_vectors() -> list[dict[str, Any]]:
    """Status notifications."""
    sts = [
        ("idle_full_battery", Status(StreamState.IDLE, 100, StatusFlags.NONE, 0, SensorConfig())),
        (
            "streaming_overflow",
            Status(
                StreamState.STREAMING,
                14,
                StatusFlags.LOW_BATTERY | StatusFlags.BUFFER_OVERFLOW,
                123_456,
                SensorConfig(200, 16, 2000),
            ),
        ),
        (
            "error_battery_unknown",
            Status(
                StreamState.ERROR,
                None,
                StatusFlags.SENSOR_ERROR | StatusFlags.CHARGING,
                2**32 - 1,
                SensorConfig(50, 2, 250),
            ),
        ),
    ]
    return _message_vectors("status", sts, encode_status, decode_status)


def invalid_vectors() -> list[dict[str, Any]]:
    """Bytes a decoder must reject, with a substring of the Python error message."""
    cfg = SensorConfig(100, 8, 2000)
    good = encode_data(
        9,
        5_000_000,
        np.array([[1, 2, 3], [4, 5, 6]]),
        np.array([[7, 8, 9], [10, 11, 12]]),
        config=cfg,
    )
    comp = encode_data(9, 5_000_000, np.array([[1, 2, 3]]), np.array([[4, 5, 6]]), compact=True)
    bad_crc = bytearray(good)
    bad_crc[12] ^= 0x01
    cases = [
        ("empty", b"", "empty"),
        ("version_2", bytes([0x21]) + good[1:], "unsupported protocol version 2"),
        ("version_0", bytes([0x01]) + good[1:], "unsupported protocol version 0"),
        ("unknown_type_3", bytes([0x13]) + good[1:], "unknown packet type 3"),
        ("truncated_header", good[:5], "too short"),
        ("truncated_payload", good[:-3], "length does not match count 2"),
        ("extra_byte", good + b"\x00", "length does not match count 2"),
        ("count_zero", good[:8] + b"\x00" + good[9:11], "count (byte 8) is 0"),
        ("bit_flip_in_sample", bytes(bad_crc), "CRC mismatch"),
        ("crc_swapped", good[:-2] + good[-1:] + good[-2:-1], "CRC mismatch"),
        (
            "config_mismatch_200hz",
            encode_data(9, 5_000_000, [[1, 2, 3]], [[4, 5, 6]], config=SensorConfig(200, 8, 2000)),
            "does not match the session configuration",
        ),
        ("compact_truncated", comp[:19], "compact packet 19 bytes"),
        ("compact_bad_crc", comp[:-1] + bytes([comp[-1] ^ 0xFF]), "CRC mismatch"),
    ]
    out = []
    for name, b, msg in cases:
        try:
            decode(b, cfg)
        except ProtocolError as exc:
            assert msg in str(exc), (name, str(exc))
        else:
            raise AssertionError(f"invalid vector {name} decodes")
        out.append(
            {
                "name": name,
                "kind": "invalid",
                "hex": bytes(b).hex(),
                "config": cfg.to_dict(),
                "error_contains": msg,
            }
        )
    return out


def build() -> dict[str, dict[str, Any]]:
    """All vector files: name -> JSON document."""
    return {
        "data.json": {**_HEADER, "vectors": data_vectors()},
        "compact.json": {**_HEADER, "vectors": compact_vectors()},
        "control.json": {**_HEADER, "vectors": control_vectors()},
        "status.json": {**_HEADER, "vectors": status_vectors()},
        "invalid.json": {**_HEADER, "vectors": invalid_vectors()},
    }


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=1) + "\n"


def c_input_lines(vector: dict[str, Any]) -> str | None:
    """The text line ``c/poise_encoder`` reads to re-encode ``vector`` (None if not encodable).

    Formats (decimal integers, space separated)::

        data SEQ T_US CONFIG_ID COUNT ax ay az gx gy gz ...   (COUNT samples)
        compact SEQ T_US ax ay az gx gy gz
        cmd OPCODE [params: SET_CONFIG r a g | TIME_SYNC host_us | IDENTIFY s]
        resp OPCODE RESULT                       (no payload)
        resp_time_sync HOST_US SENSOR_US
        resp_info PV FW_MAJ FW_MIN FW_PATCH CONFIG_ID BATTERY MAX_SAMPLES SERIAL|-
        status STATE BATTERY FLAGS DROPPED CONFIG_ID
    """
    from firmware_protocol.codec import config_codes

    kind, f = vector["kind"], vector.get("fields", {})
    if kind in ("data", "compact"):
        nums = []
        for a, g in zip(f["acc_counts"], f["gyr_counts"]):
            nums += [*a, *g]
        head = (
            f"data {f['seq']} {f['timestamp_us']} {f['config_id']} {f['count']}"
            if kind == "data"
            else f"compact {f['seq']} {f['timestamp_us']}"
        )
        return head + " " + " ".join(map(str, nums))
    if kind == "command":
        op: int = Opcode[f["opcode"]]
        if op == Opcode.SET_CONFIG:
            return f"cmd {int(op)} " + " ".join(
                map(str, config_codes(SensorConfig.from_dict(f["config"])))
            )
        if op == Opcode.TIME_SYNC:
            return f"cmd {int(op)} {f['host_time_us']}"
        if op == Opcode.IDENTIFY:
            return f"cmd {int(op)} {f['duration_s']}"
        return f"cmd {int(op)}"
    if kind == "response":
        op = f["opcode"] if isinstance(f["opcode"], int) else int(Opcode[f["opcode"]])
        res = f["result"] if isinstance(f["result"], int) else int(ResultCode[f["result"]])
        if res == ResultCode.SUCCESS and op == Opcode.TIME_SYNC:
            return f"resp_time_sync {f['host_time_us']} {f['sensor_time_us']}"
        if res == ResultCode.SUCCESS and op == Opcode.GET_INFO:
            i = f["info"]
            fw = i["firmware_version"].split(".")
            batt = 255 if i.get("battery_percent") is None else i["battery_percent"]
            cid = config_id(SensorConfig.from_dict(i["config"]))
            return (
                f"resp_info {i['protocol_version']} {fw[0]} {fw[1]} {fw[2]} {cid} {batt} "
                f"{i['max_samples_per_packet']} {i['serial'] or '-'}"
            )
        return f"resp {op} {res}"
    if kind == "status":
        state = int(StreamState[f["state"]]) if isinstance(f["state"], str) else f["state"]
        batt = 255 if f.get("battery_percent") is None else f["battery_percent"]
        cid = config_id(SensorConfig.from_dict(f["config"]))
        return f"status {state} {batt} {f['flags']} {f['dropped_samples']} {cid}"
    return None


def main(argv: list[str] | None = None) -> int:
    """Write (or ``--check``) the vector files."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = ap.parse_args(argv)
    VECTOR_DIR.mkdir(exist_ok=True)
    stale = []
    for name, doc in build().items():
        path = VECTOR_DIR / name
        text = _dump(doc)
        if args.check:
            if not path.exists() or path.read_text() != text:
                stale.append(name)
        else:
            path.write_text(text)
    if stale:
        print("stale vector files: " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

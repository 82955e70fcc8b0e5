"""Test vectors: the Python codec and the C reference encoder both reproduce them exactly."""

from __future__ import annotations

import binascii
import json
import re
import shutil
import subprocess
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from firmware_protocol import make_vectors
from firmware_protocol.codec import (
    Command,
    DeviceInfo,
    ProtocolError,
    Response,
    Status,
    decode,
    decode_command,
    decode_response,
    decode_status,
    encode_command,
    encode_response,
    encode_status,
)
from firmware_protocol.gatt import Opcode, ResultCode, StatusFlags, StreamState
from firmware_protocol.types import SensorConfig

PKG = Path(str(resources.files("firmware_protocol")))
VECTOR_FILES = ("data.json", "compact.json", "control.json", "status.json", "invalid.json")


def _load(name: str) -> list[dict]:
    doc = json.loads((PKG / "vectors" / name).read_text())
    assert doc["protocol_version"] == 1
    assert doc["vectors"], f"{name} holds no vectors"
    return doc["vectors"]


def _all(*names: str) -> list[dict]:
    return [v for n in names for v in _load(n)]


def test_vector_files_are_up_to_date_with_the_codec() -> None:
    assert make_vectors.main(["--check"]) == 0, "run: python -m firmware_protocol.make_vectors"


def test_vectors_cover_what_the_spec_promises() -> None:
    data = _load("data.json")
    counts = {v["fields"]["count"] for v in data}
    assert {1, 19, 41} <= counts and any(1 < c < 19 for c in counts)
    flat = np.concatenate(
        [np.ravel(v["fields"]["acc_counts"] + v["fields"]["gyr_counts"]) for v in data]
    )
    assert flat.min() == -32768 and flat.max() == 32767
    assert any(min(v["decoded"]["timestamp_us"]) < v["fields"]["timestamp_us"] for v in data), (
        "no wrap"
    )
    assert len(_load("compact.json")) >= 2
    ops = {v["fields"]["opcode"] for v in _load("control.json") if v["kind"] == "command"}
    assert ops == {op.name for op in Opcode}


@pytest.mark.parametrize("vec", _all("data.json", "compact.json"), ids=lambda v: v["name"])
def test_data_vectors_decode_and_encode(vec) -> None:
    cfg = SensorConfig.from_dict(vec["config"])
    raw = bytes.fromhex(vec["hex"])
    f, d = vec["fields"], vec["decoded"]
    assert make_vectors.encode_data_fields(vec) == raw
    block = decode(raw, cfg)
    assert block.seq == d["seq"] and block.timestamp_bits == d["timestamp_bits"]
    assert block.timestamp_us.tolist() == d["timestamp_us"]
    np.testing.assert_allclose(block.acc_mps2, d["acc_mps2"], rtol=1e-15, atol=0)
    np.testing.assert_allclose(block.gyr_radps, d["gyr_radps"], rtol=1e-15, atol=0)
    # decoded SI values are the counts times the documented scale factors
    np.testing.assert_allclose(
        block.acc_mps2, np.array(f["acc_counts"]) * f_scale(cfg.acc_range_g * 9.80665), rtol=1e-12
    )
    np.testing.assert_allclose(
        block.gyr_radps,
        np.array(f["gyr_counts"]) * f_scale(np.deg2rad(cfg.gyro_range_dps)),
        rtol=1e-12,
    )


def f_scale(full_scale: float) -> float:
    return full_scale / 32768.0


@pytest.mark.parametrize("vec", _load("invalid.json"), ids=lambda v: v["name"])
def test_invalid_vectors_are_rejected_with_the_documented_reason(vec) -> None:
    with pytest.raises(ProtocolError, match=re.escape(vec["error_contains"])):
        decode(bytes.fromhex(vec["hex"]), SensorConfig.from_dict(vec["config"]))


def _config(d: dict | None) -> SensorConfig | None:
    return None if d is None else SensorConfig.from_dict(d)


@pytest.mark.parametrize("vec", _all("control.json", "status.json"), ids=lambda v: v["name"])
def test_control_and_status_vectors(vec) -> None:
    raw, f = bytes.fromhex(vec["hex"]), vec["fields"]
    if vec["kind"] == "command":
        cmd = Command(
            Opcode[f["opcode"]],
            _config(f.get("config")),
            f.get("host_time_us"),
            f.get("duration_s"),
        )
        assert encode_command(cmd) == raw and decode_command(raw) == cmd
    elif vec["kind"] == "response":
        op = f["opcode"] if isinstance(f["opcode"], int) else Opcode[f["opcode"]]
        info = None
        if "info" in f:
            i = dict(f["info"])
            i["config"] = _config(i["config"])
            info = DeviceInfo(**i)
        resp = Response(
            op, ResultCode[f["result"]], f.get("host_time_us"), f.get("sensor_time_us"), info
        )
        assert encode_response(resp) == raw and decode_response(raw) == resp
    else:
        st = Status(
            StreamState[f["state"]],
            f.get("battery_percent"),
            StatusFlags(f["flags"]),
            f["dropped_samples"],
            _config(f["config"]),
        )
        assert encode_status(st) == raw and decode_status(raw) == st


def _compiler() -> str | None:
    for cc in ("cc", "gcc", "clang"):
        if shutil.which(cc):
            return cc
    return None


@pytest.fixture(scope="module")
def c_encoder(tmp_path_factory) -> Path:
    cc = _compiler()
    if cc is None:
        pytest.skip("no C compiler (cc, gcc or clang) on PATH: cannot build c/poise_encoder.c")
    out = tmp_path_factory.mktemp("c") / "poise_encoder"
    proc = subprocess.run(
        [
            cc,
            "-std=c99",
            "-Wall",
            "-Wextra",
            "-Werror",
            "-O2",
            "-o",
            str(out),
            str(PKG / "c" / "poise_encoder.c"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, f"{cc} failed:\n{proc.stderr}"
    return out


def _run(exe: Path, text: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(exe)], input=text, capture_output=True, text=True, timeout=60)


def test_c_reference_encoder_reproduces_every_vector_byte_for_byte(c_encoder) -> None:
    vecs = _all("data.json", "compact.json", "control.json", "status.json")
    lines = [make_vectors.c_input_lines(v) for v in vecs]
    assert all(lines)
    proc = _run(c_encoder, "\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    got = proc.stdout.split()
    assert len(got) == len(vecs)
    mismatches = [(v["name"], v["hex"], g) for v, g in zip(vecs, got) if v["hex"] != g]
    assert not mismatches, mismatches


def test_c_crc_matches_python_and_check_value(c_encoder) -> None:
    texts = ["123456789", "Poise", "x" * 300]
    proc = _run(c_encoder, "".join(f"crc {t}\n" for t in texts))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == [f"{binascii.crc_hqx(t.encode(), 0xFFFF):04x}" for t in texts]
    assert proc.stdout.split()[0] == "29b1"  # CRC-16/CCITT-FALSE check value


def test_c_encoder_rejects_bad_lines_with_the_line_number(c_encoder) -> None:
    proc = _run(c_encoder, "cmd 1\ndata 1 2 57 2 1 2 3 4 5 6\n")
    assert proc.returncode == 1
    assert proc.stdout.split() == ["01"]
    assert "line 2" in proc.stderr
    assert _run(c_encoder, "compact 1 2 40000 0 0 0 0 0\n").returncode == 1  # not int16
    assert _run(c_encoder, "cmd 3 3 0 0\n").returncode == 1  # rate code 3


def _c_constants() -> dict[str, str]:
    text = (PKG / "c" / "poise_protocol.h").read_text()
    consts = dict(
        re.findall(r"#define\s+(POISE_\w+)\s+(\"[^\"]*\"|0x[0-9A-Fa-f]+u?|\d+u?)(?=\s)", text)
    )
    consts.update(re.findall(r"\b(POISE_(?:OP|RESULT|STATE)_\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)", text))
    return consts


def test_c_header_constants_match_python() -> None:
    from firmware_protocol import codec, gatt

    c = _c_constants()

    def num(name: str) -> int:
        return int(c[name].rstrip("u"), 0)

    for py, cname in [
        (gatt.SERVICE_UUID, "POISE_SERVICE_UUID"),
        (gatt.DATA_CHAR_UUID, "POISE_DATA_CHAR_UUID"),
        (gatt.CONTROL_POINT_CHAR_UUID, "POISE_CONTROL_POINT_CHAR_UUID"),
        (gatt.STATUS_CHAR_UUID, "POISE_STATUS_CHAR_UUID"),
        (gatt.INFO_CHAR_UUID, "POISE_INFO_CHAR_UUID"),
        (gatt.NAME_PREFIX, "POISE_NAME_PREFIX"),
    ]:
        assert c[cname] == f'"{py}"', cname
    for op in gatt.Opcode:
        assert num(f"POISE_OP_{op.name}") == op
    for rc in gatt.ResultCode:
        assert num(f"POISE_RESULT_{rc.name}") == rc
    for st in gatt.StreamState:
        assert num(f"POISE_STATE_{st.name}") == st
    for fl in (
        gatt.StatusFlags.LOW_BATTERY,
        gatt.StatusFlags.SENSOR_ERROR,
        gatt.StatusFlags.BUFFER_OVERFLOW,
        gatt.StatusFlags.CHARGING,
    ):
        assert num(f"POISE_FLAG_{fl.name}") == fl
    assert num("POISE_PROTOCOL_VERSION") == gatt.PROTOCOL_VERSION
    assert num("POISE_PACKET_DATA") == gatt.PacketType.DATA
    assert num("POISE_PACKET_COMPACT") == gatt.PacketType.COMPACT
    assert num("POISE_RESPONSE_CODE") == gatt.RESPONSE_CODE
    assert num("POISE_BATTERY_UNKNOWN") == gatt.BATTERY_UNKNOWN
    assert num("POISE_COMPACT_SIZE") == codec.COMPACT_PACKET_SIZE
    assert num("POISE_FULL_HEADER_SIZE") == codec.FULL_HEADER_SIZE
    assert num("POISE_STATUS_SIZE") == codec.STATUS_SIZE


def test_spec_names_the_constants_and_shows_real_bytes() -> None:
    from firmware_protocol import gatt

    spec = (PKG / "SPEC.md").read_text()
    for uuid in (
        gatt.SERVICE_UUID,
        gatt.DATA_CHAR_UUID,
        gatt.CONTROL_POINT_CHAR_UUID,
        gatt.STATUS_CHAR_UUID,
        gatt.INFO_CHAR_UUID,
    ):
        assert uuid in spec
    assert f"`{gatt.NAME_PREFIX}`" in spec
    for op in gatt.Opcode:
        assert f"| 0x{op:02x} | {op.name} |" in spec.replace("0X", "0x")
    for rc in gatt.ResultCode:
        assert f"| 0x{rc:02x} | {rc.name} |" in spec
    example = {v["name"]: v["hex"] for v in _load("data.json")}["one_sample_at_rest"]
    assert example in spec

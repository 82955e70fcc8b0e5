"""The MicroPython firmware under CPython: Bumble stand-in for ``bluetooth``, simulated IMU.

End to end through the same client stack as real sensors (bleak with the Bumble backend,
StreamHub, recording): what is recorded must be exactly what the simulated IMU produced
and the firmware read out of its FIFO, a FIFO overflow must be a gap of the right
length, and the ESP32's ticks_us wrap (2**30 us) and the 32-bit clock wrap inside a
recording must leave no jump in the timeline.
"""

from __future__ import annotations

import asyncio
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from firmware_protocol import codec, gatt, make_vectors
from firmware_protocol.types import SensorConfig
from poise.cli import main as poise_main
from sensors import devices
from sensors.bumble_backend import close_hosts
from sensors.emulator import Emulator, TwinSpec
from sensors.firmware_host import load_firmware
from sensors.recording import RecordingWriter, load_recording
from sensors.stream import SensorSpec, StreamHub, scan
from sensors.virtual_wearable import FaultConfig, VirtualWearable

PKG = Path(str(resources.files("firmware_protocol")))


def _vectors(*names: str) -> list[dict]:
    return [v for n in names for v in json.loads((PKG / "vectors" / n).read_text())["vectors"]]


async def _record(
    emu: Emulator, path: Path, seconds: float, config: SensorConfig, during=None
) -> dict:
    """Record the emulator's one wearable through StreamHub for ``seconds``."""
    found = await scan(5.0, transport=emu.transport, count=1)
    assert found, "the firmware wearable was not found by a scan"
    specs = [
        SensorSpec(name=r.name, address=r.address, placement="lower-back", device=r.device)
        for r in found
    ]
    probe = StreamHub(specs, config=config)
    writer = RecordingWriter(path, {"sensors": probe.recording_metadata()})
    hub = StreamHub(specs, config=config, transport=emu.transport, recorder=writer)
    try:
        await hub.start()
        if during is not None:
            await during(emu.wearables[0])
        await asyncio.sleep(seconds)
        await hub.stop()
        stats = hub.stats()[0]
        gaps = hub.gaps(0)
    finally:
        writer.close()
        await emu.close()
        await close_hosts()
    return {"stats": stats, "gaps": gaps}


def _recorded_counts(path: Path, config: SensorConfig) -> np.ndarray:
    rec = load_recording(path)
    s = rec.sensors[0]
    valid = s.valid
    acc = s.acc_mps2[valid] / config.acc_scale_mps2
    gyr = s.gyr_radps[valid] / config.gyro_scale_radps
    return np.round(np.hstack([acc, gyr])).astype(np.int64)


# ------------------------------------------------------------------------ done-when


@pytest.fixture
def wearables(monkeypatch: pytest.MonkeyPatch) -> list:
    """The twins of every emulator closed during the test (``poise record --demo`` closes
    its own before returning): their truth can be read afterwards."""
    kept: list = []
    original_close = Emulator.close

    async def keep(self: Emulator) -> None:
        kept.extend(self.wearables)
        await original_close(self)

    monkeypatch.setattr(Emulator, "close", keep)
    return kept


def test_poise_record_demo_firmware_records_what_the_imu_produced(
    tmp_path: Path, wearables: list
) -> None:
    """The command of the issue, 10 s (its length is the issue's): about 1000 samples, no
    gap, and every recorded sample equals, after scaling, the simulated IMU's counts of
    the samples the firmware read out of the FIFO, in order."""
    out = tmp_path / "fw.poise"
    code = poise_main(
        ["record", "-o", str(out), "--demo", "firmware:1", "--rate", "100", "--seconds", "10"]
    )
    assert code == 0
    rec = load_recording(out)
    sensor = rec.sensors[0]
    assert sensor.config.sampling_rate_hz == 100
    assert 950 <= sensor.n_samples <= 1080, sensor.n_samples
    assert sensor.gaps == [] and sensor.clock_resets == 0
    assert sensor.n_samples == len(sensor.t_s)  # no NaN row
    (fw,) = wearables
    assert fw.step_errors == 0
    truth = fw.read_out_counts()
    got = _recorded_counts(out, sensor.config)
    assert len(got) == len(truth)
    np.testing.assert_array_equal(got, truth)
    # and SI values are exactly counts x the SPEC's scale factors
    np.testing.assert_allclose(
        sensor.acc_mps2, truth[:, :3] * sensor.config.acc_scale_mps2, rtol=1e-12, atol=0
    )
    # the IMU really ran at 100 Hz through the firmware's FIFO reads, one burst per packet
    assert fw.truth.imu.into_fifo - len(truth) < 4  # at most a partial packet left unread
    assert fw.truth.packets_sent == len(truth) // 2


def test_mixed_demo_with_firmware_records_all_four_kinds_without_gaps(
    tmp_path: Path, wearables: list, capsys: pytest.CaptureFixture[str]
) -> None:
    """``poise record --demo polar-verity-sense:1,metamotion:1,poise:1,firmware:1``: one
    parser, one emulator, four twins on one link; every sensor recorded whole (no gap,
    every sample its twin produced; the firmware's exactly the IMU samples it read out),
    and ``poise info --json`` names the firmware twin a Poise wearable running the
    MicroPython firmware."""
    out = tmp_path / "mixed.poise"
    demo = "polar-verity-sense:1,metamotion:1,poise:1,firmware:1"
    argv = ["record", "-o", str(out), "--demo", demo, "--rate", "100", "--seconds", "3"]
    assert poise_main([*argv, "--quiet"]) == 0
    assert [w.kind for w in wearables] == ["polar-verity-sense", "metamotion", "poise", "firmware"]
    rec = load_recording(out)
    assert [s.kind for s in rec.sensors] == ["polar-verity-sense", "metamotion", "poise", "poise"]
    assert [s.sampling_rate_hz for s in rec.sensors] == [104, 100, 100, 100]
    for sd, w in zip(rec.sensors, wearables):
        assert sd.gaps == [] and sd.clock_resets == 0, w.kind
        assert sd.n_samples == len(sd.t_s) == int(np.count_nonzero(sd.valid)), w.kind
        # every sample the twin produced; the firmware's: every one it read from the
        # IMU's FIFO (at most a packet's worth is left there at STOP, checked below)
        t = w.truth
        produced = t.samples_read_out if w.kind == "firmware" else t.samples_produced
        assert sd.n_samples == produced, w.kind
        assert sd.n_samples > 2.5 * sd.sampling_rate_hz, w.kind
    fw, fw_rec = wearables[3], rec.sensors[3]
    assert fw.step_errors == 0
    assert fw.truth.samples_produced - fw.truth.samples_read_out < 4
    counts = np.hstack(
        [
            fw_rec.acc_mps2 / fw_rec.config.acc_scale_mps2,
            fw_rec.gyr_radps / fw_rec.config.gyro_scale_radps,
        ]
    )
    np.testing.assert_array_equal(np.round(counts).astype(np.int64), fw.read_out_counts())
    capsys.readouterr()
    assert poise_main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [s["device"]["kind"] for s in info["sensors"]] == [s.kind for s in rec.sensors]
    assert all(s["gaps"] == [] and s["missing_samples"] == 0 for s in info["sensors"])
    assert info["sensors"][3]["device"]["model"] == (
        "Poise MicroPython firmware on M5StickC Plus (MPU6886, simulated)"
    )
    assert info["sensors"][2]["device"]["model"].startswith("Poise IMU v1")


async def test_fifo_overflow_is_a_gap_of_the_right_length(tmp_path: Path) -> None:
    """The firmware's main loop stalls 1.2 s at 100 Hz: the MPU6886's 1024-byte FIFO
    (73 records) overflows; the firmware resets it and the client sees one gap holding
    exactly the samples the IMU took and nobody read."""
    config = SensorConfig(100)
    emu = Emulator(count=1, rate_hz=100, firmware="micropython")
    await emu.start()
    fw = emu.wearables[0]

    async def stall(w) -> None:
        await asyncio.sleep(1.5)
        w.stall(1.2)
        await asyncio.sleep(1.5)

    out = await _record(emu, tmp_path / "oflow.poise", 0.5, config, during=stall)
    imu = fw.truth.imu
    assert imu.overflows >= 1 and fw.app.overflows == 1
    read = np.asarray(imu.read_out)
    lost_between = int(read[-1] - read[0] + 1 - len(read))
    assert lost_between > 73  # more than a FIFO's worth
    gaps = out["gaps"]
    assert len(gaps) == 1, gaps
    assert gaps[0].samples == lost_between
    assert out["stats"].samples_received == len(read)
    # what was recorded on both sides of the gap is the IMU's data, in order
    np.testing.assert_array_equal(
        _recorded_counts(tmp_path / "oflow.poise", config), fw.read_out_counts()
    )
    rec = load_recording(tmp_path / "oflow.poise").sensors[0]
    assert int(np.count_nonzero(~rec.valid)) == lost_between  # the gap on the timeline
    # the sensor said so too: dropped_samples and the buffer-overflow flag
    state, _, flags, dropped, _ = fw.app.status_tuple()
    assert dropped == lost_between and flags & gatt.StatusFlags.BUFFER_OVERFLOW


async def test_ticks_wrap_and_clock_wrap_leave_no_jump(tmp_path: Path) -> None:
    """ticks_us starts 1.5 s before its 2**30 wrap and the 32-bit sensor clock 3 s before
    its 2**32 wrap: a 5-s recording crosses both without a gap, a reset or a lost
    sample, on a uniform timeline."""
    config = SensorConfig(200)
    start_ticks = (1 << 30) - 1_500_000
    start_clock = (1 << 32) - 3_000_000
    emu = Emulator(
        count=1,
        rate_hz=200,
        firmware="micropython",
        firmware_options={"ticks_start_us": start_ticks, "clock_start_us": start_clock},
    )
    await emu.start()
    fw = emu.wearables[0]
    path = tmp_path / "wrap.poise"
    out = await _record(emu, path, 5.0, config)
    assert fw.ticks.ticks_us() < start_ticks, "ticks_us did not wrap during the test"
    assert fw.app.clock.value() < start_clock, "the 32-bit clock did not wrap"
    assert out["gaps"] == [] and out["stats"].samples_lost == 0
    rec = load_recording(path).sensors[0]
    assert rec.gaps == [] and rec.clock_resets == 0
    assert rec.n_samples == len(rec.t_s) == len(fw.truth.imu.read_out)
    np.testing.assert_array_equal(_recorded_counts(path, config), fw.read_out_counts())
    # the timeline runs on at the sensor's rate: 5 s at 200 Hz within the clock fit
    span = rec.t_s[-1] - rec.t_s[0]
    assert abs(span - (rec.n_samples - 1) / 200.0) < 0.01


# ---------------------------------------------- virtual wearable == firmware, bytes


def test_firmware_and_virtual_wearable_agree_on_the_vectors() -> None:
    """Byte for byte: the firmware's encoders (its own file, loaded under CPython) and
    the virtual wearable's (the codec) reproduce every data, compact, status and
    response vector; both refuse the same control point writes with the same codes."""
    fw = load_firmware().poise_proto
    for v in _vectors("data.json", "compact.json"):
        f = v["fields"]
        cfg = SensorConfig.from_dict(v["config"])
        compact = v["kind"] == "compact"
        rows = [tuple(a) + tuple(g) for a, g in zip(f["acc_counts"], f["gyr_counts"])]
        mine = fw.encode_data(f["seq"], f["timestamp_us"], rows, codec.config_id(cfg), compact)
        theirs = make_vectors.encode_data_fields(v)
        assert mine == theirs == bytes.fromhex(v["hex"]), v["name"]
    for v in _vectors("status.json"):
        status = codec.decode_status(bytes.fromhex(v["hex"]))
        buf = bytearray(8)
        fw.encode_status_into(
            buf,
            int(status.state),
            255 if status.battery_percent is None else status.battery_percent,
            int(status.flags),
            status.dropped_samples,
            codec.config_id(status.config),
        )
        assert bytes(buf) == codec.encode_status(status) == bytes.fromhex(v["hex"]), v["name"]
    for v in _vectors("control.json"):
        raw = bytes.fromhex(v["hex"])
        if v["kind"] != "response":
            continue
        resp = codec.decode_response(raw)
        if not resp.ok or resp.info is None and resp.host_time_us is None:
            mine = fw.response(int(resp.opcode), int(resp.result))
        elif resp.host_time_us is not None:
            req = codec.encode_command(
                codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=resp.host_time_us)
            )
            s = resp.sensor_time_us
            mine = fw.time_sync_response(req, s >> 16, s & 0xFFFF)
        else:
            info = resp.info
            mine = fw.get_info_response(
                codec.config_id(info.config),
                255 if info.battery_percent is None else info.battery_percent,
                info.max_samples_per_packet,
                info.serial,
            )
            version = bytes(int(x) for x in info.firmware_version.split("."))
            mine = mine[:4] + version + mine[7:]  # the vector's firmware version
        assert mine == codec.encode_response(resp) == raw, v["name"]
    vw = VirtualWearable.__new__(VirtualWearable)  # only handle_command's parsing is used
    vw.name = "Poise-X"
    for raw in (b"", b"\x7f", b"\x03\x01\x02", b"\x03\x03\x00\x00", b"\x04\x01", b"\x05"):
        theirs = vw.handle_command(raw)
        op, result = fw.parse_command(raw)
        assert (op, result) == (int(theirs.opcode), int(theirs.result)), raw.hex()


# ---------------------------------------------------------------- GATT behaviour


async def test_gatt_layout_info_control_point_and_identify() -> None:
    """Through bleak: DIS strings, Info JSON, battery, the control point's result codes
    (INVALID_PARAMETER, INVALID_STATE while streaming, UNSUPPORTED_OPCODE, BUSY is not
    forced here), IDENTIFY blinks the board's LED, GET_INFO's max samples at the MTU."""
    from bleak import BleakClient

    from sensors.bumble_backend import client_kwargs

    emu = Emulator(count=1, rate_hz=100, firmware="micropython")
    await emu.start()
    fw = emu.wearables[0]
    responses: asyncio.Queue = asyncio.Queue()
    try:
        (found,) = await scan(5.0, transport=emu.transport, count=1)
        assert found.battery_pct is not None and 95 <= found.battery_pct <= 100
        async with BleakClient(found.device, **client_kwargs(emu.transport)) as client:
            model = bytes(await client.read_gatt_char(gatt.MODEL_NUMBER_CHAR_UUID)).decode()
            # the firmware names itself, the board and the IMU (the host says: simulated)
            assert model == "Poise MicroPython firmware on M5StickC Plus (MPU6886, simulated)"
            info = codec.decode_info(await client.read_gatt_char(gatt.INFO_CHAR_UUID))
            assert info["model"] == model
            assert info["protocol_version"] == 1 and info["max_samples_per_packet"] == 19
            assert info["config"] == {
                "sampling_rate_hz": 100,
                "acc_range_g": 8,
                "gyro_range_dps": 2000,
            }
            await client.start_notify(
                gatt.CONTROL_POINT_CHAR_UUID,
                lambda _c, data: responses.put_nowait(codec.decode_response(bytes(data))),
            )

            async def command(raw: bytes) -> codec.Response:
                await client.write_gatt_char(gatt.CONTROL_POINT_CHAR_UUID, raw, response=True)
                return await asyncio.wait_for(responses.get(), 3.0)

            R = gatt.ResultCode
            assert (await command(b"\x03\x03\x00\x00")).result == R.INVALID_PARAMETER
            assert (await command(b"\x7f")).result == R.UNSUPPORTED_OPCODE
            got = await command(b"\x06")
            assert got.ok and got.info.max_samples_per_packet == 19 and got.info.serial
            leds = fw.led_changes
            assert (await command(b"\x05\x02")).ok
            await asyncio.sleep(1.0)
            assert fw.led_changes - leds >= 3  # blinking at 2 Hz
            assert (await command(b"\x01")).ok
            assert (await command(b"\x03\x02\x02\x03")).result == R.INVALID_STATE
            assert (await command(b"\x03\x01\x02\x03")).ok  # the same config is fine
            status = codec.decode_status(await client.read_gatt_char(gatt.STATUS_CHAR_UUID))
            assert status.state == gatt.StreamState.STREAMING
            assert (await command(b"\x02")).ok
    finally:
        await emu.close()
        await close_hosts()


async def test_compact_packets_at_mtu_23(tmp_path: Path) -> None:
    """Without an MTU exchange the firmware streams 20-byte compact packets (24-bit
    timestamps), and the recording still equals the IMU's samples."""
    config = SensorConfig(50)
    emu = Emulator(count=1, rate_hz=50, firmware="micropython", record_send_times=True)
    await emu.start()
    fw = emu.wearables[0]
    found = await scan(5.0, transport=emu.transport, count=1)
    spec = SensorSpec(name=found[0].name, device=found[0].device, placement="lower-back")
    path = tmp_path / "mtu23.poise"
    writer = RecordingWriter(
        path, {"sensors": StreamHub([spec], config=config).recording_metadata()}
    )
    hub = StreamHub([spec], config=config, transport=emu.transport, recorder=writer, mtu=23)
    try:
        await hub.start()
        await asyncio.sleep(2.0)
        await hub.stop()
        assert hub.stats()[0].mtu == 23 and hub.gaps(0) == []
    finally:
        writer.close()
        await emu.close()
        await close_hosts()
    assert fw.app.packer.compact
    np.testing.assert_array_equal(_recorded_counts(path, config), fw.read_out_counts())
    # send times (bench/stream.py) are kept per data packet by its 24-bit timestamp
    sends = fw.truth.send_times_s
    assert len(sends) == fw.truth.packets_sent > 50 and max(sends) < 1 << 24


def test_firmware_is_one_demo_kind_of_the_one_parser(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``firmware`` is a registered twin kind: the ``--demo KIND:N`` parser of
    sensors.devices reads it like any other, the Poise driver talks to it, its twins are
    named ``Poise-FW...``, and faults are refused with the reason, by the emulator and by
    ``poise record``."""
    parse = devices.parse_demo_spec
    assert "firmware" in devices.demo_kinds()
    assert parse("firmware:1") == [("firmware", 1)]
    assert parse("poise:1, firmware:2") == [("poise", 1), ("firmware", 2)]
    assert parse("2") == [("poise", 2)]
    for bad in ("firmware:x", "toaster:1", "firmware:0", "", "firmware:3,poise:2"):
        with pytest.raises(ValueError, match="--demo"):
            parse(bad)
    assert devices.twin_driver_kind("firmware") == "poise"
    specs = TwinSpec.from_demo(parse("poise:1,firmware:2"))
    assert [(t.kind, t.name) for t in specs] == [
        ("poise", "Poise-0001"),
        ("firmware", "Poise-FW0001"),
        ("firmware", "Poise-FW0002"),
    ]
    drop = FaultConfig(drop=0.1)
    with pytest.raises(ValueError, match="no fault injection for 'firmware' twins"):
        Emulator(specs=specs, faults=drop)
    with pytest.raises(ValueError, match="no fault injection for 'firmware' twins"):
        Emulator(count=1, firmware="micropython", faults=drop)
    Emulator(specs=specs, faults=FaultConfig())  # no faults asked: fine
    with pytest.raises(ValueError, match="unknown firmware"):
        Emulator(count=1, firmware="arduino")
    code = poise_main(
        ["record", "-o", str(tmp_path / "x.poise"), "--demo", "poise:1,firmware:1"]
        + ["--faults", "drop=0.1"]
    )
    assert code == 2
    assert "--faults does not apply to firmware:N twins" in capsys.readouterr().err

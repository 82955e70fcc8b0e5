"""The driver seam: a new kind of device is one module and one registration.

This file is that module for a made-up device (a "dummy IMU": a 16-bit packet counter and
two samples per notification, started by writing 0x01 to a command characteristic). It
registers its driver and its virtual twin at run time and then goes through everything
that handles devices (scan, stream hub, gap accounting, clock model, recorder, replay,
``poise record --demo``, ``poise info``) without a line changed anywhere else.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest
from bumble.gatt import Characteristic, CharacteristicValue, Service

from sensors import devices
from sensors.devices.base import DecodeError, DeviceConfig, Frame, SensorDriver, StreamDecoder
from sensors.virtual_wearable import (
    VirtualSensor,
    notify_only_characteristic,
    service_advertising,
)

SERVICE = "0d0d0000-1111-2222-3333-444455556666"
DATA = "0d0d0001-1111-2222-3333-444455556666"
COMMAND = "0d0d0002-1111-2222-3333-444455556666"
COUNTS_PER_MPS2 = 1000.0
COUNTS_PER_RADPS = 1000.0


class DummyDecoder(StreamDecoder):
    seq_modulus = None

    def __init__(self, config: DeviceConfig) -> None:
        self.rate = float(config.sampling_rate_hz)
        self.last: int | None = None

    def feed(self, channel: int, data: bytes) -> list[Frame]:
        if len(data) < 2 or (len(data) - 2) % 12:
            raise DecodeError(f"dummy: {len(data)} bytes")
        count = int.from_bytes(data[:2], "little")
        idx = count if self.last is None else self.last + ((count - self.last) % 65536)
        self.last = idx
        v = np.frombuffer(data, "<i2", offset=2).reshape(-1, 6).astype(float)
        n = len(v)
        first = idx * n
        t = (first + np.arange(n)) / self.rate
        return [Frame(first, v[:, :3] / COUNTS_PER_MPS2, v[:, 3:] / COUNTS_PER_RADPS, t)]

    def sensor_time_s(self, index: int) -> float:
        return index / self.rate


class DummyDriver(SensorDriver):
    kind = "dummy-imu"
    default_model = "Dummy IMU"
    timestamps = "arrival times"
    rates_hz = (50.0, 100.0)
    acc_ranges_g = (16.0,)
    gyro_ranges_dps = (2000.0,)

    @classmethod
    def matches(
        cls, name: str | None, service_uuids: list[str], manufacturer_data: Mapping[int, bytes]
    ) -> bool:
        return SERVICE in service_uuids

    @classmethod
    def new_decoder(cls, config: DeviceConfig) -> DummyDecoder:
        return DummyDecoder(config)

    async def start(self, client: Any, notify: Any, *, resume: bool) -> None:
        await client.start_notify(DATA, lambda _c, d: notify(0, bytes(d)))
        await client.write_gatt_char(COMMAND, bytes([1]), response=True)

    async def stop(self, client: Any) -> int | None:
        await client.write_gatt_char(COMMAND, bytes([0]), response=True)
        return None


class DummyTwin(VirtualSensor):
    kind = "dummy-imu"

    def __init__(self, link: Any, name: str, address: str, **kw: Any) -> None:
        kw.pop("config", None)
        super().__init__(link, name, address, **kw)

    def _build_gatt(self) -> None:
        self.data_char = notify_only_characteristic(DATA)
        cmd = Characteristic(
            COMMAND,
            Characteristic.Properties.WRITE,
            Characteristic.WRITEABLE,
            CharacteristicValue(write=self._on_command),
        )
        self.device.add_service(Service(SERVICE, [self.data_char, cmd]))

    def _on_command(self, _connection: Any, value: bytes) -> None:
        if value[:1] == b"\x01" and not self.streaming:
            self._start_streaming()
        elif value[:1] == b"\x00" and self.streaming:
            self._stop_streaming()

    def _advertising_data(self) -> bytes:
        return service_advertising(SERVICE)

    def samples_per_packet(self) -> int:
        return 2

    def _quantise(self, acc: np.ndarray, gyr: np.ndarray) -> tuple[Any, Any]:
        return np.rint(acc * COUNTS_PER_MPS2).astype("<i2"), np.rint(gyr * COUNTS_PER_RADPS).astype(
            "<i2"
        )

    def _encode(self, records: list, acc_q: Any, gyr_q: Any) -> list[list[bytes]]:
        out = []
        for p, (no, _first, k) in enumerate(records):
            body = np.hstack([acc_q[p * k : (p + 1) * k], gyr_q[p * k : (p + 1) * k]])
            out.append([(no % 65536).to_bytes(2, "little") + body.astype("<i2").tobytes()])
        return out


def dummy_twin(link: Any, *, name: str, address: str, rate_hz: float, **kw: Any) -> DummyTwin:
    return DummyTwin(link, name, address, rate_hz=rate_hz, **kw)


dummy_twin.name_pattern = "Dummy-{n}"


@pytest.fixture()
def dummy_registered(monkeypatch):
    """The device's one registration (undone after the test)."""
    devices.driver_kinds()  # load the built-in devices first
    monkeypatch.setitem(devices._DRIVERS, DummyDriver.kind, DummyDriver)
    monkeypatch.setitem(devices._TWINS, DummyDriver.kind, dummy_twin)
    monkeypatch.setitem(devices._TWIN_DRIVERS, DummyDriver.kind, DummyDriver.kind)


def test_a_new_device_streams_records_and_replays_through_the_seam(
    dummy_registered, tmp_path, capsys
):
    from poise.cli import main

    out = tmp_path / "dummy.poise"
    args = ["record", "-o", str(out), "--demo", "dummy-imu:1,poise:1"]
    args += ["--rate", "100", "--seconds", "2", "--quiet", "--faults", "drop=0.1"]
    assert main(args) == 0
    summary = capsys.readouterr().out
    assert "dummy-imu, 100 Hz" in summary
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    kinds = [s["device"]["kind"] for s in info["sensors"]]
    assert kinds == ["dummy-imu", "poise"]
    dummy = info["sensors"][0]
    assert dummy["device"]["model"] == "Dummy IMU" and dummy["rate_hz"] == 100
    # about 2 s at 100 Hz; the 10 % of packets lost in the air are all gaps
    assert 180 <= dummy["samples"] + dummy["missing_samples"] <= 230
    assert dummy["missing_samples"] > 0 and len(dummy["gaps"]) > 0


async def test_scan_names_the_new_kind_and_the_hub_accounts_its_losses(dummy_registered):
    from sensors.bumble_backend import close_hosts
    from sensors.emulator import Emulator, TwinSpec
    from sensors.stream import SensorSpec, StreamHub, scan
    from sensors.virtual_wearable import FaultConfig

    emu = Emulator(specs=[TwinSpec(kind="dummy-imu")], faults=FaultConfig(drop=0.1))
    await emu.start()
    try:
        (found,) = await scan(3.0, transport=emu.transport, count=1)
        assert (found.kind, found.model, found.name) == ("dummy-imu", "Dummy IMU", "Dummy-1")
        hub = StreamHub([SensorSpec(device=found.device, kind=found.kind)], transport=emu.transport)
        await hub.start()
        await asyncio.sleep(1.5)
        await hub.stop()
        t, s = emu.wearables[0].truth, hub.stats()[0]
        # packets lost after the last one that arrived leave no trace (nothing follows)
        tail = sum(n for _, first, n in t.dropped if first > t.last_key_sent)
        assert s.samples_received + s.samples_lost + tail == t.samples_produced
        assert s.samples_lost >= t.samples_dropped - tail > 0
    finally:
        await emu.close()
        await close_hosts()


def test_unknown_kinds_are_clear_errors():
    with pytest.raises(ValueError, match="unknown kind 'polar'.*metamotion"):
        devices.parse_demo_spec("polar:1")
    with pytest.raises(ValueError, match="1 to 4 sensors in all, got 5"):
        devices.parse_demo_spec("poise:2,metamotion:3")
    with pytest.raises(KeyError, match="unknown sensor kind 'x'"):
        devices.driver_for("x")
    assert devices.parse_demo_spec("3") == [("poise", 3)]
    assert devices.parse_demo_spec("metamotion, poise:2") == [("metamotion", 1), ("poise", 2)]

"""The virtual wearable against SPEC.md, through bleak + the Bumble backend, and its ground truth."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
from bleak import BleakClient, BleakScanner

from firmware_protocol import codec, gatt
from firmware_protocol.types import SensorConfig
from sensors.bumble_backend import client_kwargs, close_hosts, scanner_kwargs
from sensors.emulator import Emulator, WearableSpec
from sensors.recording import load_recording
from sensors.virtual_wearable import (
    ArraySource,
    FaultConfig,
    QuietStanceSource,
    array_source_factory,
    scenario_source_factory,
)

REPO = Path(__file__).resolve().parents[2]
TRIAL = REPO / "recordings/mobgap-lab/HA-001-Test5-Trial1/HA-001-Test5-Trial1.poise"


class Session:
    """A connected client with control point, data and status subscriptions."""

    def __init__(self, client: BleakClient) -> None:
        self.client = client
        self.responses: asyncio.Queue = asyncio.Queue()
        self.packets: list[bytes] = []
        self.statuses: list[codec.Status] = []
        self.battery: list[int] = []

    async def open(self) -> Session:
        c = self.client
        await c.start_notify(
            gatt.CONTROL_POINT_CHAR_UUID,
            lambda _c, d: self.responses.put_nowait(codec.decode_response(d)),
        )
        await c.start_notify(gatt.DATA_CHAR_UUID, lambda _c, d: self.packets.append(bytes(d)))
        await c.start_notify(
            gatt.STATUS_CHAR_UUID, lambda _c, d: self.statuses.append(codec.decode_status(d))
        )
        await c.start_notify(gatt.BATTERY_LEVEL_CHAR_UUID, lambda _c, d: self.battery.append(d[0]))
        return self

    async def send(self, command: codec.Command | bytes) -> codec.Response:
        data = command if isinstance(command, bytes) else codec.encode_command(command)
        await self.client.write_gatt_char(gatt.CONTROL_POINT_CHAR_UUID, data, response=True)
        return await asyncio.wait_for(self.responses.get(), 3.0)

    async def start(self) -> None:
        assert (await self.send(codec.Command(gatt.Opcode.START_STREAM))).ok

    async def stop(self) -> None:
        assert (await self.send(codec.Command(gatt.Opcode.STOP_STREAM))).ok
        await asyncio.sleep(0.05)


async def _connect(emu: Emulator, name: str, **kwargs) -> BleakClient:
    device = await BleakScanner.find_device_by_name(
        name, timeout=3.0, **scanner_kwargs(emu.transport)
    )
    assert device is not None, f"{name} not found"
    client = BleakClient(device, **client_kwargs(emu.transport), **kwargs)
    await client.connect()
    return client


# ----------------------------------------------------------------------- pure parts


async def _stream_for(emu: Emulator, duration_s: float) -> Session:
    """Connect to Poise-0001, stream ``duration_s``, stop and disconnect; the session keeps
    the packets."""
    client = await _connect(emu, "Poise-0001")
    s = await Session(client).open()
    await s.start()
    await asyncio.sleep(duration_s)
    await s.stop()
    await client.disconnect()
    return s


def test_fault_spec_parses_and_rejects_nonsense():
    f = FaultConfig.parse("drop=0.05,disconnect-every=3s,corrupt=1%,drift-ppm=100")
    assert f.drop == 0.05 and f.corrupt == 0.01 and f.disconnect_every_s == 3.0
    assert f.drift_ppm == 100.0
    f = FaultConfig.parse("disconnect-at=500ms;2s,battery-drain=2,reconnect-delay=0.2s")
    assert f.disconnect_at_s == (0.5, 2.0) and f.battery_drain_pct_per_min == 2.0
    assert f.reconnect_delay_s == pytest.approx(0.2)
    assert FaultConfig.parse("") == FaultConfig()
    for bad, word in (
        ("drop=2", "drop"),
        ("drop=lots", "drop"),
        ("disconnect-every=soon", "disconnect-every"),
        ("explode=1", "explode"),
        ("drop", "key=value"),
    ):
        with pytest.raises(ValueError, match=word):
            FaultConfig.parse(bad)


def test_array_source_resamples_fills_gaps_and_loops():
    t = np.arange(100) / 100.0
    acc = np.column_stack([np.sin(2 * np.pi * t), np.zeros(100), np.full(100, 9.8)])
    gyr = np.column_stack([t, t, t])
    acc[10:13] = np.nan  # a gap
    src = ArraySource(acc, gyr, 100, 200)
    a, g = src.read(50)
    assert a.shape == (50, 3) and not np.isnan(a).any()
    np.testing.assert_allclose(g[:, 0], np.arange(50) / 200.0, atol=1e-12)
    # the gap is bridged linearly between rows 9 and 13 (200 Hz row 22 = 100 Hz row 11)
    expected = np.interp(0.11, [0.09, 0.13], [np.sin(2 * np.pi * 0.09), np.sin(2 * np.pi * 0.13)])
    assert a[22, 0] == pytest.approx(expected)
    src.read(src.n_samples - 50)
    a2, _ = src.read(1)  # wrapped to the start
    assert a2[0, 0] == pytest.approx(0.0)
    with pytest.raises(ValueError, match="fewer than 2"):
        ArraySource(np.full((5, 3), np.nan), np.zeros((5, 3)), 100, 100)
    with pytest.raises(ValueError, match=r"\(n, 3\)"):
        array_source_factory(np.zeros((5, 2)), np.zeros((5, 2)), 100)


def test_quiet_stance_is_gravity_up_and_small_sway():
    acc, gyr = QuietStanceSource(100, seed=1).read(1000)
    assert acc[:, 0].mean() == pytest.approx(9.80665, abs=0.01)
    assert np.abs(acc[:, 1:]).max() < 0.3 and np.abs(gyr).max() < 0.1
    with pytest.raises(ValueError, match="unknown scenario"):
        scenario_source_factory("no-such-scenario")


# ---------------------------------------------------------------- through the stack


async def test_control_point_results_and_status_follow_spec():
    async with Emulator(count=1, rate_hz=100) as emu:
        client = await _connect(emu, "Poise-0001")
        s = await Session(client).open()
        # unknown opcode, malformed parameters
        r = await s.send(b"\x7f")
        assert r.opcode == 0x7F and r.result == gatt.ResultCode.UNSUPPORTED_OPCODE
        r = await s.send(bytes([gatt.Opcode.SET_CONFIG, 9, 0, 0]))
        assert r.result == gatt.ResultCode.INVALID_PARAMETER
        r = await s.send(bytes([gatt.Opcode.SET_CONFIG, 1]))
        assert r.result == gatt.ResultCode.INVALID_PARAMETER
        # identify, time sync
        assert (await s.send(codec.Command(gatt.Opcode.IDENTIFY, duration_s=3))).ok
        assert emu.wearable("Poise-0001").truth.identify_count == 1
        r = await s.send(codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=2**40 + 5))
        assert r.ok and r.host_time_us == 2**40 + 5 and 0 <= r.sensor_time_us < 2**32
        # streaming: status notified, SET_CONFIG to another config refused, START idempotent
        await s.start()
        other = SensorConfig(sampling_rate_hz=200)
        r = await s.send(codec.Command(gatt.Opcode.SET_CONFIG, config=other))
        assert r.result == gatt.ResultCode.INVALID_STATE
        same = SensorConfig()
        assert (await s.send(codec.Command(gatt.Opcode.SET_CONFIG, config=same))).ok
        await asyncio.sleep(0.3)
        await s.start()
        await asyncio.sleep(0.2)
        await s.stop()
        assert s.statuses[0].state == gatt.StreamState.STREAMING
        assert s.statuses[-1].state == gatt.StreamState.IDLE
        seqs = [codec.peek_header(p).seq for p in s.packets]
        assert seqs == list(range(len(seqs)))  # the second START did not reset seq
        # a fresh start resets seq
        s.packets.clear()
        await s.start()
        await asyncio.sleep(0.1)
        await s.stop()
        assert codec.peek_header(s.packets[0]).seq == 0
        await client.disconnect()
    await close_hosts()


@pytest.mark.parametrize(("rate", "per_packet"), [(50, 1), (100, 2), (200, 4)])
async def test_packet_size_keeps_packet_interval_at_20ms(rate, per_packet):
    async with Emulator(count=1, rate_hz=rate) as emu:
        client = await _connect(emu, "Poise-0001")
        s = await Session(client).open()
        await s.start()
        await asyncio.sleep(0.25)
        await s.stop()
        counts = {codec.peek_header(p).count for p in s.packets}
        assert counts == {per_packet}
        block = codec.decode_many(s.packets, SensorConfig(sampling_rate_hz=rate))
        assert np.all(np.diff(block.timestamp_us) == 1_000_000 // rate)
        await client.disconnect()
    await close_hosts()


async def test_drops_and_corruption_are_seeded_and_accounted():
    faults = FaultConfig(drop=0.1, corrupt=0.05)
    async with Emulator(count=1, rate_hz=200, faults=faults, seed=3) as emu:
        s = await _stream_for(emu, 2.0)
    await close_hosts()
    truth = emu.wearable("Poise-0001").truth
    good, bad = [], []
    for p in s.packets:
        try:
            codec.decode(p, SensorConfig(sampling_rate_hz=200))
            good.append(p)
        except codec.ProtocolError:
            bad.append(p)
    assert truth.dropped and truth.corrupted  # both faults happened
    assert len(bad) == len(truth.corrupted)
    received = {codec.peek_header(p).seq for p in good}
    dropped = set(truth.dropped_seqs)
    corrupted = {seq for seq, _, _ in truth.corrupted}
    assert received.isdisjoint(dropped) and received.isdisjoint(corrupted)
    assert received | dropped | corrupted == set(range(truth.packets_produced))
    assert truth.samples_produced == 4 * truth.packets_produced
    assert truth.samples_sent + truth.samples_dropped == truth.samples_produced
    assert abs(len(dropped) / truth.packets_produced - 0.1) < 0.08


async def test_link_loss_keeps_the_stream_running_and_the_seq_jump_tells_the_loss():
    faults = FaultConfig(disconnect_at_s=(0.5,), reconnect_delay_s=0.2)
    async with Emulator(count=1, rate_hz=100, faults=faults) as emu:
        wearable = emu.wearable("Poise-0001")
        lost = asyncio.Event()
        client = await _connect(emu, "Poise-0001", disconnected_callback=lambda _c: lost.set())
        s = await Session(client).open()
        await s.start()
        await asyncio.wait_for(lost.wait(), 3.0)
        before = list(s.packets)
        assert wearable.truth.disconnect_times_s and wearable.streaming
        await asyncio.sleep(0.3)
        # reconnect, re-subscribe, START again: seq and clock continue
        client = await _connect(emu, "Poise-0001")
        s2 = await Session(client).open()
        await s2.start()
        await asyncio.sleep(0.3)
        status = codec.decode_status(await client.read_gatt_char(gatt.STATUS_CHAR_UUID))
        await s2.stop()
        await client.disconnect()
    await close_hosts()
    truth = wearable.truth
    last = codec.peek_header(before[-1])
    first = codec.peek_header(s2.packets[0])
    missed_packets = first.seq - last.seq - 1
    assert missed_packets == len(truth.undelivered) > 0
    period = 10_000
    missed_samples = (first.timestamp_us - last.timestamp_us) // period - last.count
    assert missed_samples == truth.samples_undelivered
    assert status.dropped_samples == truth.samples_undelivered
    assert truth.samples_sent + truth.samples_undelivered == truth.samples_produced
    assert len(before) + len(s2.packets) == truth.packets_sent


async def test_periodic_disconnects_and_battery_drain():
    faults = FaultConfig(disconnect_every_s=0.5, battery_drain_pct_per_min=600.0)
    async with Emulator(count=1, rate_hz=50, faults=faults) as emu:
        wearable = emu.wearable("Poise-0001")
        battery: list[int] = []
        for _ in range(3):  # a minimal reconnecting client
            lost = asyncio.Event()
            client = await _connect(
                emu, "Poise-0001", disconnected_callback=lambda _c, ev=lost: ev.set()
            )
            s = await Session(client).open()
            await s.start()
            await asyncio.wait_for(lost.wait(), 2.0)
            battery += s.battery
        times = np.array(wearable.truth.disconnect_times_s)
        assert len(times) == 3
        # on the 0.5 s grid from the first START (a tick is skipped while disconnected)
        steps = np.diff(times) / 0.5
        assert np.allclose(steps, np.round(steps), atol=0.1) and (np.round(steps) >= 1).all()
        assert wearable.streaming and wearable.truth.starts == 1  # one session throughout
        assert wearable.battery_percent <= 90
        assert battery and battery == sorted(battery, reverse=True) and battery[-1] < 100
    await close_hosts()


async def test_clock_drift_is_visible_in_time_sync():
    drift_ppm = 10_000.0  # exaggerated so that 1 s shows it far above the timing jitter
    specs = [WearableSpec(faults=FaultConfig(drift_ppm=drift_ppm))]
    async with Emulator(specs=specs, rate_hz=200) as emu:
        client = await _connect(emu, "Poise-0001")
        s = await Session(client).open()
        loop = asyncio.get_running_loop()
        samples = []
        for _ in range(2):
            t0 = loop.time()
            r = await s.send(codec.Command(gatt.Opcode.TIME_SYNC, host_time_us=1))
            samples.append(((t0 + loop.time()) / 2, r.sensor_time_us))
            await asyncio.sleep(1.0)
        (h0, s0), (h1, s1) = samples
        sensor_elapsed = (s1 - s0) % 2**32
        ratio = sensor_elapsed / ((h1 - h0) * 1e6)
        assert ratio == pytest.approx(1 + drift_ppm * 1e-6, abs=5e-3)
        # and the sample grid runs on the sensor clock: packets arrive (1 + drift) faster
        arrivals: list[tuple[float, int]] = []
        await client.start_notify(
            gatt.DATA_CHAR_UUID,
            lambda _c, d: arrivals.append((loop.time(), codec.peek_header(d).timestamp_us)),
        )
        await s.start()
        await asyncio.sleep(1.5)
        host_s, sensor_us = np.array(arrivals, dtype=np.float64).T
        sensor_s = np.unwrap(sensor_us, period=2**32) / 1e6
        # arrivals are only ever late (a loaded machine delays some by milliseconds, which
        # tilts a plain fit): refit on the half that came earliest for their sensor time
        fit = np.polyfit(host_s, sensor_s, 1)
        early = sensor_s - np.polyval(fit, host_s) >= np.median(sensor_s - np.polyval(fit, host_s))
        slope = np.polyfit(host_s[early], sensor_s[early], 1)[0]
        assert slope == pytest.approx(1 + drift_ppm * 1e-6, abs=3e-3)
        await s.stop()
        await client.disconnect()
    await close_hosts()


async def test_one_central_at_a_time_and_advertising_stops_while_connected():
    async with Emulator(count=1) as emu:
        client = await _connect(emu, "Poise-0001")
        found = await BleakScanner.discover(timeout=0.3, **scanner_kwargs(emu.transport))
        assert "Poise-0001" not in {d.name for d in found}
        await client.disconnect()
        await asyncio.sleep(0.1)
        found = await BleakScanner.discover(timeout=0.3, **scanner_kwargs(emu.transport))
        assert "Poise-0001" in {d.name for d in found}
    await close_hosts()


async def test_recording_replays_at_its_own_rate_through_the_stack():
    recording = load_recording(TRIAL)
    sensor = recording.sensors[0]
    factory = array_source_factory(sensor.acc_mps2, sensor.gyr_radps, sensor.sampling_rate_hz)
    spec = WearableSpec(source_factory=factory, config=sensor.config)
    async with Emulator(specs=[spec]) as emu:
        s = await _stream_for(emu, 0.4)
    await close_hosts()
    block = codec.decode_many(s.packets, sensor.config)
    n = block.n_samples
    assert n >= 30
    valid = ~np.isnan(sensor.acc_mps2[:n]).any(axis=1)
    # same samples, same order, within one count of quantisation
    np.testing.assert_allclose(
        block.acc_mps2[valid], sensor.acc_mps2[:n][valid], atol=sensor.config.acc_scale_mps2
    )
    np.testing.assert_allclose(
        block.gyr_radps[valid], sensor.gyr_radps[:n][valid], atol=sensor.config.gyro_scale_radps
    )
    assert np.all(np.diff(block.timestamp_us) == 1_000_000 // sensor.sampling_rate_hz)

"""End to end with every kind of device: vendor twins (Bumble GATT servers speaking PMD and
MetaWear) and a Poise wearable -> Bumble link -> bleak API -> StreamHub through each
device's driver -> the recording -> replay through the same drivers.

No mocks. The twins' ground truth (samples produced, packets dropped in the air or sent
while nobody listened) is compared with what the hub and the recording report.
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest

from sensors.bumble_backend import close_hosts
from sensors.devices import parse_demo_spec
from sensors.emulator import Emulator, TwinSpec
from sensors.recording import RecordingWriter, load_recording
from sensors.stream import LinkState, SensorSpec, StreamHub, StreamSettings, scan
from sensors.virtual_wearable import FaultConfig

MIXED = "polar-verity-sense:1,metamotion:1,poise:1"
PLACEMENTS = ["left-shank", "right-shank", "lower-back"]
U32 = 1 << 32


@contextlib.asynccontextmanager
async def twins(spec: str, faults: FaultConfig, rate_hz: float = 100.0):
    emu = Emulator(specs=TwinSpec.from_demo(parse_demo_spec(spec)), rate_hz=rate_hz, faults=faults)
    await emu.start()
    try:
        yield emu
    finally:
        await emu.close()
        await close_hosts()


async def stream(emu: Emulator, seconds: float, tmp_path, rate_hz: float = 100.0):
    """Scan, stream into a recording for ``seconds``, stop; hub, live log, recording."""
    found = await scan(5.0, transport=emu.transport, count=len(emu.wearables))
    by_address = {r.address: r for r in found}
    specs = []
    for w, placement in zip(emu.wearables, PLACEMENTS):
        r = by_address[w.address]
        assert r.kind == w.kind, "the scan names each device's kind"
        specs.append(SensorSpec(device=r.device, name=r.name, placement=placement, kind=r.kind))
    settings = StreamSettings(rate_hz, 8, 2000)
    probe = StreamHub(specs, config=settings)
    path = tmp_path / "mixed.poise"
    writer = RecordingWriter(path, {"sensors": probe.recording_metadata()})
    hub = StreamHub(specs, config=settings, transport=emu.transport, recorder=writer)
    log = {"blocks": [], "gaps": [], "states": []}
    hub.subscribe(
        on_block=log["blocks"].append, on_gap=log["gaps"].append, on_state=log["states"].append
    )
    await hub.start()
    await asyncio.sleep(seconds)
    await hub.stop()
    writer.close()
    return hub, log, load_recording(path)


def undetectable_samples(twin, hub, i: int) -> int:
    """Samples in packets lost where the device's protocol leaves no trace.

    Poise: after the TIME_SYNC that precedes STOP_STREAM. Polar (PMD has no sequence
    number and no time query): before the first and after the last frame that arrived.
    MetaWear (a fresh accounter counts from 1): after the last notification that arrived.
    """
    t = twin.truth
    if twin.kind == "poise":
        sync = hub.driver(i).stop_sensor_time_raw
        period_us = 1e6 / t.sampling_rate_hz
        return sum(
            n
            for _, ts, n in t.dropped
            if 0 < (ts + round((n - 1) * period_us) - sync) % U32 < U32 // 2
        )
    blind = [r for r in t.dropped if r[1] > t.last_key_sent]
    if twin.kind == "polar-verity-sense":
        blind += [r for r in t.dropped if r[1] < t.first_key_sent]
    return sum(r[2] for r in blind)


async def test_mixed_devices_stream_complete_at_their_rates_and_replay_equals_live(tmp_path):
    async with twins(MIXED, FaultConfig()) as emu:
        hub, log, rec = await stream(emu, 4.0, tmp_path)
        stats = hub.stats()
        assert [s.kind for s in stats] == ["polar-verity-sense", "metamotion", "poise"]
        assert [s.rate_hz for s in stats] == [104, 100, 100]  # nearest to the 100 asked
        for i, w in enumerate(emu.wearables):
            t, s = w.truth, stats[i]
            assert s.samples_lost == 0 and hub.gaps(i) == [] and s.crc_errors == 0
            assert s.samples_received == t.samples_produced > 300, (w.kind, s, t)
        assert log["gaps"] == []
        for i, sd in enumerate(rec.sensors):
            w = emu.wearables[i]
            assert sd.kind == w.kind and sd.device["kind"] == w.kind
            assert sd.n_samples == w.truth.samples_produced and sd.gaps == []
            # replay == live: the same samples through the same driver
            blocks = [b for b in log["blocks"] if b.sensor_index == i]
            live_acc = np.concatenate([b.acc_mps2 for b in blocks])
            live_gyr = np.concatenate([b.gyr_radps for b in blocks])
            np.testing.assert_array_equal(sd.acc_mps2[sd.valid], live_acc)
            np.testing.assert_array_equal(sd.gyr_radps[sd.valid], live_gyr)
            # and the same times, up to the online vs whole-file clock fit
            live_t = np.concatenate([b.t_s for b in blocks])
            dt_ms = np.abs(sd.t_s[sd.valid] - live_t) * 1e3
            assert np.median(dt_ms) < 2.0 and dt_ms.max() < 15.0, (w.kind, dt_ms.max())
        models = [sd.device["model"] for sd in rec.sensors]
        assert models[0].startswith("Polar Verity Sense") and models[1] == "MetaMotion S"
        # one timeline: every sample's estimated host time against the moment the twin
        # took it (Polar by its ns clock, MetaMotion by arrival times, Poise by its us clock)
        errs = []
        for i, w in enumerate(emu.wearables):
            blocks = [b for b in log["blocks"] if b.sensor_index == i]
            idx = np.concatenate([b.first_index + np.arange(b.n_samples) for b in blocks])
            t_est = np.concatenate([b.t_s for b in blocks]) + hub.t0_monotonic
            if w.kind == "poise":  # hub index 0 = the first packet's first sample
                first = round((w.truth.first_key_sent - w._stream_ts0) * w.rate_hz / 1e6)
            elif w.kind == "metamotion":  # the counter: count 1 = sample 0
                first = -1
            else:  # hub index 0 = the first frame's first sample
                first = w.truth.first_key_sent
            t_true = w._stream_t0 + (idx + first) / (w.rate_hz * w._clock_rate)
            errs.append((t_true, t_est - t_true))
        # (measured 1.6 ms on the virtual link; one sample off would be 10 ms)
        grid = np.linspace(1.0, 3.5, 100) + hub.t0_monotonic
        e = np.array([np.interp(grid, tt, ee) for tt, ee in errs])
        spread_ms = (e.max(axis=0) - e.min(axis=0)).max() * 1e3
        assert spread_ms < 5.0, spread_ms


async def test_mixed_devices_drops_and_disconnects_every_sample_accounted(tmp_path):
    """5 % of notifications lost in the air, a link loss every 3 s: for every device, the
    samples received plus the samples in gaps are the samples the device produced (less
    what its protocol cannot reveal, see ``undetectable_samples``)."""
    faults = FaultConfig(drop=0.05, disconnect_every_s=3.0)
    async with twins(MIXED, faults) as emu:
        hub, log, rec = await stream(emu, 10.0, tmp_path)
        stats = hub.stats()
        for i, w in enumerate(emu.wearables):
            t, s = w.truth, stats[i]
            assert t.samples_dropped > 0 and len(t.disconnect_times_s) == 3, w.kind
            assert s.reconnects == 3, w.kind
            blind = undetectable_samples(w, hub, i)
            assert s.samples_received + s.samples_lost + blind == t.samples_produced, (
                w.kind,
                s.samples_received,
                s.samples_lost,
                blind,
                t.samples_produced,
            )
            assert s.samples_lost + blind >= t.samples_dropped + t.samples_undelivered
            assert {g.cause for g in hub.gaps(i)} <= {"loss", "link"}
            assert any(g.cause == "link" for g in hub.gaps(i)) or t.samples_undelivered == 0
            # the recording says the same: samples + gaps = the hub's count
            sd = rec.sensors[i]
            assert sd.n_samples == s.samples_received, w.kind
            assert sum(g.samples for g in sd.gaps) == s.samples_lost, w.kind
        states = [e.state for e in log["states"]]
        assert states.count(LinkState.DISCONNECTED) == 9


async def test_polar_twin_refuses_rates_outside_sdk_mode_and_small_mtu():
    """The twin answers like a Verity Sense: 104 Hz only in SDK mode, and PMD needs a
    large ATT MTU (the driver asks for SDK mode first; with MTU 23 START is refused)."""
    from bleak import BleakClient

    from sensors.bumble_backend import client_kwargs
    from sensors.devices.polar import pmd

    async with twins("polar-verity-sense:1", FaultConfig()) as emu:
        (found,) = await scan(3.0, transport=emu.transport, count=1)
        answers: list[pmd.Response] = []
        got = asyncio.Event()
        parts: list[bytes] = []

        def on_cp(_c, data):
            r = pmd.decode_response(bytes(data))
            parts.append(r.parameters)
            if not r.more:  # a long answer comes in parts (MTU 23: 20-byte notifications)
                answers.append(
                    pmd.Response(r.opcode, r.measurement, r.status, False, b"".join(parts))
                )
                parts.clear()
                got.set()

        async def ask(cmd: bytes) -> pmd.Response:
            got.clear()
            await client.write_gatt_char(pmd.PMD_CONTROL_POINT_UUID, cmd, response=True)
            await asyncio.wait_for(got.wait(), 2.0)
            return answers[-1]

        S = pmd.Setting
        start = pmd.encode_command(
            2, 2, {S.SAMPLE_RATE: 104, S.RESOLUTION: 16, S.RANGE: 8, S.CHANNELS: 3}
        )
        async with BleakClient(found.device, **client_kwargs(emu.transport, mtu=23)) as client:
            await client.start_notify(pmd.PMD_CONTROL_POINT_UUID, on_cp)
            features = pmd.decode_features(await client.read_gatt_char(pmd.PMD_CONTROL_POINT_UUID))
            assert pmd.MeasurementType.SDK_MODE in features
            r = await ask(bytes([1, 2]))
            assert pmd.decode_settings(r.parameters)[S.SAMPLE_RATE] == [52]
            assert (await ask(start)).status == pmd.Status.INVALID_SAMPLE_RATE
            assert (await ask(bytes([2, 9]))).ok
            assert (await ask(bytes([2, 9]))).status == pmd.Status.ALREADY_IN_STATE
            r = await ask(bytes([1, 2]))
            assert pmd.decode_settings(r.parameters)[S.SAMPLE_RATE] == [26, 52, 104, 208, 416]
            assert (await ask(start)).status == pmd.Status.INVALID_MTU


@pytest.mark.parametrize("spec", ["metamotion:1", "polar-verity-sense:1"])
async def test_vendor_device_reports_its_model_and_battery(spec, tmp_path):
    async with twins(spec, FaultConfig(battery_drain_pct_per_min=0.0)) as emu:
        hub, _log, rec = await stream(emu, 1.0, tmp_path)
        info = hub.device_info(0)
        assert info["firmware_version"] == emu.wearables[0].firmware_version
        assert hub.stats()[0].battery_pct == 100
        assert rec.sensors[0].device["firmware"] == emu.wearables[0].firmware_version

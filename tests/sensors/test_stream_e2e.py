"""End to end: virtual wearables (Bumble GATT servers) -> Bumble link -> bleak API -> StreamHub.

No mocks: BleakScanner/BleakClient with the Bumble backend, real ATT/GATT, the real
codec, the real recording file. The wearables' ground truth (what they produced, dropped,
corrupted, sent while nobody listened) is compared with what the hub and the recording
report.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import numpy as np
import pytest

from firmware_protocol.types import SensorConfig
from sensors.bumble_backend import VirtualLink, close_hosts
from sensors.recording import RecordingWriter, load_recording
from sensors.stream import LinkState, SensorSpec, StreamHub, scan
from sensors.virtual_wearable import FaultConfig, VirtualWearable

PLACEMENTS = ["lower-back", "left-shank", "right-shank", "sternum"]
RATE = 200
CFG = SensorConfig(RATE, 8, 2000)
PERIOD_US = 1_000_000 // RATE
U32 = 1 << 32


@contextlib.asynccontextmanager
async def wearables(faults: list[FaultConfig]):
    link = VirtualLink()
    ws = [
        VirtualWearable(
            link, f"Poise-E2{i:02d}", f"D0:52:00:00:00:{i + 1:02X}", faults=f, seed=100 + i
        )
        for i, f in enumerate(faults)
    ]
    for w in ws:
        await w.start()
    try:
        yield link, ws
    finally:
        for w in ws:
            await w.close()
        await close_hosts()


async def run_hub(link, ws, seconds, tmp_path, *, mtu=None, **hub_kw):
    """Scan, stream for ``seconds`` into a recording, stop; return hub, events, recording."""
    found = await scan(5.0, transport=link, count=len(ws))
    by_name = {r.name: r for r in found}
    assert set(by_name) == {w.name for w in ws}, "every wearable shows up in the scan"
    specs = [
        SensorSpec(device=by_name[w.name].device, placement=PLACEMENTS[i], name=w.name)
        for i, w in enumerate(ws)
    ]
    tmp = StreamHub(specs, config=CFG)  # only for the header's sensor list
    path = tmp_path / "e2e.poise"
    writer = RecordingWriter(path, {"sensors": tmp.recording_metadata()})
    hub = StreamHub(specs, config=CFG, transport=link, recorder=writer, mtu=mtu, **hub_kw)
    log = {"blocks": [], "states": [], "gaps": [], "stats": []}
    hub.subscribe(
        on_block=log["blocks"].append,
        on_state=log["states"].append,
        on_gap=log["gaps"].append,
        on_stats=log["stats"].append,
    )
    iterated = []

    async def consume():  # the async-iterator interface sees the same blocks
        async for sb in hub.blocks():
            iterated.append(sb.n_samples)

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0)
    await hub.start()
    await asyncio.sleep(seconds)
    await hub.stop()
    await asyncio.wait_for(consumer, 2.0)  # ends when the hub stops
    assert sum(iterated) == sum(b.n_samples for b in log["blocks"]) > 0
    writer.close()
    return hub, log, load_recording(path)


def received_sample_ts_mod(log, index):
    blocks = [b for b in log["blocks"] if b.sensor_index == index]
    return np.concatenate([b.sensor_time_us for b in blocks]) % U32 if blocks else np.empty(0)


async def test_four_sensors_200hz_10s_arrive_complete_and_aligned(tmp_path):
    drifts = [+300.0, -300.0, +100.0, 0.0]
    async with wearables([FaultConfig(drift_ppm=d) for d in drifts]) as (link, ws):
        hub, log, rec = await run_hub(link, ws, 10.0, tmp_path)
        stats = hub.stats()
        for i, w in enumerate(ws):
            t = w.truth
            assert t.samples_dropped == t.samples_undelivered == 0
            s = stats[i]
            assert s.samples_lost == 0 and s.crc_errors == 0 and s.duplicates == 0
            assert s.samples_received == t.samples_produced, (i, s, t.samples_produced)
            # 10 s of streaming; the sensor keeps sampling until the hub's STOP arrives,
            # which on a loaded machine took up to 1.5 s more (2304 samples once): a
            # wall-clock bound only, the exact count is checked above
            assert 1950 <= t.samples_produced <= 2700
            assert hub.gaps(i) == []
            sd = rec.sensors[i]
            assert sd.placement == PLACEMENTS[i]
            assert sd.n_samples == t.samples_produced and sd.gaps == []
            # delivered blocks: contiguous sensor clock, no sample twice
            ts = np.concatenate([b.sensor_time_us for b in log["blocks"] if b.sensor_index == i])
            assert np.all(np.diff(ts) == PERIOD_US)
            # drift estimated from the stream (host per sensor second: opposite sign)
            # (10 s is short for a drift estimate on a loaded machine: 100 ppm is 1 ms over
            # the run; a loose bound that still checks sign and size of +-300 ppm. The
            # alignment check below is the requirement.)
            assert s.drift_ppm == pytest.approx(-drifts[i], abs=200.0), (i, s.drift_ppm)
        assert log["gaps"] == []
        assert not [e for e in log["states"] if e.state == LinkState.RECONNECTING]

        # One timeline: map each block's samples back to the true host time at which the
        # wearable took them, compare across sensors.
        errs = []
        for i, w in enumerate(ws):
            # two host times near the run -> the wearable's clock line (fixed times like
            # 100 s put sa more than 2**31 us from the stream once uptime exceeds ~37 min)
            ta = hub.t0_monotonic
            tb = ta + 100.0
            sa, sb = w.sensor_time_us(ta), w.sensor_time_us(tb)
            blocks = [b for b in log["blocks"] if b.sensor_index == i]
            t_est = np.concatenate([b.t_s for b in blocks]) + hub.t0_monotonic
            s_us = np.concatenate([b.sensor_time_us for b in blocks])
            s_us = s_us + ((sa - s_us[0]) // U32) * U32  # same wrap epoch as the truth
            s_us = np.where(s_us - sa > U32 // 2, s_us - U32, s_us)
            s_us = np.where(sa - s_us > U32 // 2, s_us + U32, s_us)
            t_true = ta + (s_us - sa) * (tb - ta) / (sb - sa)
            errs.append((t_true, t_est - t_true))
        grid = np.linspace(2.0, 9.0, 200) + hub.t0_monotonic
        e = np.array([np.interp(grid, tt, ee) for tt, ee in errs])
        misalign_ms = (e.max(axis=0) - e.min(axis=0)) * 1e3
        assert misalign_ms.max() < 1e3 / RATE, misalign_ms.max()


async def test_drops_and_disconnects_every_sample_accounted(tmp_path):
    faults = FaultConfig(drop=0.05, disconnect_every_s=3.0)
    async with wearables([faults] * 4) as (link, ws):
        hub, log, rec = await run_hub(link, ws, 10.0, tmp_path)
        stats = hub.stats()
        for i, w in enumerate(ws):
            t = w.truth
            assert t.samples_dropped > 0 and len(t.disconnect_times_s) == 3
            s = stats[i]
            # The protocol's one blind spot (StreamHub._close_trailing_gap): a packet lost
            # in the air after the TIME_SYNC that precedes STOP_STREAM cannot be seen by
            # any host (nothing follows it). On a loaded machine that window spans a few
            # packets, so with 5 % air loss one of them is sometimes dropped; take exactly
            # those out of the truth (seen in 1 of 4 runs under two CPU hogs).
            sync = hub.driver(i).stop_sensor_time_raw
            assert sync is not None
            late = [
                (seq, ts, n)
                for seq, ts, n in t.dropped
                if 0 < (ts + (n - 1) * PERIOD_US - sync) % U32 < U32 // 2
            ]
            late_samples = sum(n for _, _, n in late)
            # hub: received + lost == produced, nothing twice
            assert s.samples_received + s.samples_lost + late_samples == t.samples_produced
            # (the hub may miss a little more than the wearable knows: packets in flight
            # when the link dropped; they must show up inside the link-loss gaps)
            assert s.samples_lost + late_samples >= t.samples_dropped + t.samples_undelivered
            assert s.reconnects == 3
            # the exact samples missing are the ones the wearable never delivered
            missing_truth = set()
            for seq, ts, n in t.dropped + t.undelivered:
                if (seq, ts, n) not in late:
                    missing_truth.update(((ts + np.arange(n) * PERIOD_US) % U32).tolist())
            missing_hub = set()
            for g in hub.gaps(i):
                start_us = round(g.start_sensor_s * 1e6)
                missing_hub.update(((start_us + np.arange(g.samples) * PERIOD_US) % U32).tolist())
            assert missing_truth <= missing_hub
            in_flight = missing_hub - missing_truth
            link_ts = set()
            for g in hub.gaps(i):
                if g.cause == "link":
                    start_us = round(g.start_sensor_s * 1e6)
                    link_ts.update(((start_us + np.arange(g.samples) * PERIOD_US) % U32).tolist())
            assert in_flight <= link_ts
            assert len(in_flight) <= 3 * 2 * 4  # at most two 4-sample packets per link loss
            got = set(received_sample_ts_mod(log, i).tolist())
            assert not (got & missing_hub)
            # recording: samples + gaps == produced, and the gaps carry the link losses
            sd = rec.sensors[i]
            assert sd.n_samples + sum(g.samples for g in sd.gaps) + late_samples == (
                t.samples_produced
            )
            assert sd.n_samples == s.samples_received
        # every reconnect within 2 s of the loss
        for i in range(4):
            ev = [e for e in log["states"] if e.sensor_index == i]
            lost = [e.t_s for e in ev if e.state == LinkState.DISCONNECTED]
            back = [e.t_s for e in ev if e.state == LinkState.STREAMING][1:]
            assert len(lost) == 3 and len(back) == 3
            assert all(0 <= b - a < 2.0 for a, b in zip(lost, back)), list(zip(lost, back))
        kinds = {e.get("state") for e in rec.events if e.get("kind") == "connection"}
        assert {"streaming", "disconnected", "reconnecting", "stopped"} <= kinds
        assert any(e.get("kind") == "link_stats" for e in rec.events)


async def test_corrupted_packets_counted_and_stream_continues(tmp_path):
    async with wearables([FaultConfig(corrupt=0.05)]) as (link, ws):
        hub, log, rec = await run_hub(link, ws, 3.0, tmp_path)
        t = ws[0].truth
        s = hub.stats()[0]
        assert len(t.corrupted) > 0
        assert s.crc_errors == len(t.corrupted)
        assert s.samples_lost == t.samples_corrupted
        assert s.samples_received + s.samples_lost == t.samples_produced
        last_bad_ts = max(ts for _, ts, _ in t.corrupted) % U32
        assert (received_sample_ts_mod(log, 0) > last_bad_ts).any() or (
            received_sample_ts_mod(log, 0).max() < last_bad_ts  # wrapped: still received later
        )
        assert rec.sensors[0].n_samples == s.samples_received
        assert rec.damage == []  # corrupted packets are counted, not written


async def test_mtu23_compact_path(tmp_path):
    async with wearables([FaultConfig(drop=0.02)]) as (link, ws):
        hub, log, rec = await run_hub(link, ws, 2.5, tmp_path, mtu=23)
        s = hub.stats()[0]
        t = ws[0].truth
        assert s.mtu == 23
        assert all(b.n_samples == 1 for b in log["blocks"])
        # the compact layout: 24-bit timestamps (SPEC.md 3.3)
        assert hub.driver(0).decoder.unwrapper.modulus_us == 1 << 24
        assert s.samples_received + s.samples_lost == t.samples_produced
        assert s.samples_lost == t.samples_dropped
        assert rec.sensors[0].n_samples == s.samples_received


async def test_missing_sensor_is_a_clear_error():
    from sensors.stream import SensorNotFound

    async with wearables([FaultConfig()]) as (link, ws):
        hub = StreamHub(
            [SensorSpec(name="Poise-NOPE")], config=CFG, transport=link, scan_timeout_s=0.5
        )
        t0 = time.monotonic()
        with pytest.raises(SensorNotFound, match="Poise-NOPE.*Poise-E200"):
            await hub.start()
        assert time.monotonic() - t0 < 3.0


async def test_vanished_sensor_fails_others_go_on_and_loss_is_reported(tmp_path):
    async with wearables([FaultConfig(), FaultConfig()]) as (link, ws):
        found = await scan(5.0, transport=link, count=2)
        hub = StreamHub(
            [SensorSpec(device=r.device) for r in found],
            config=CFG,
            transport=link,
            connect_timeout_s=0.5,
            reconnect_timeout_s=1.0,
        )
        log = {"states": [], "gaps": []}
        hub.subscribe(on_state=log["states"].append, on_gap=log["gaps"].append)
        await hub.start()
        await asyncio.sleep(0.5)
        gone = next(w for w in ws if w.name == found[0].name)
        await gone.close()  # out of range for good
        await asyncio.sleep(3.0)
        assert hub.states[hub.sensor_ids[0]] == LinkState.FAILED
        assert hub.states[hub.sensor_ids[1]] == LinkState.STREAMING
        before = hub.stats()[1].samples_received
        await asyncio.sleep(0.3)
        assert hub.stats()[1].samples_received > before
        await hub.stop()
        # the outage of the vanished sensor is reported as a gap up to the stop
        g = [e for e in log["gaps"] if e.sensor_index == 0]
        assert len(g) == 1 and g[0].gap.cause == "link"
        assert g[0].end_s - g[0].start_s == pytest.approx(3.3, abs=0.3)


def test_hub_thread_demo_runs_off_the_main_thread(tmp_path):
    """What the GUI does: hub + emulator on a loop in a background thread, callbacks there."""
    import threading

    from sensors.stream import HubThread

    runner = HubThread.demo(2, config=SensorConfig(100, 8, 2000))
    seen = {"threads": set(), "samples": 0, "stats": 0}

    def on_block(sb):
        seen["threads"].add(threading.current_thread().name)
        seen["samples"] += sb.n_samples

    runner.hub.subscribe(on_block=on_block, on_stats=lambda s: seen.__setitem__("stats", len(s)))
    runner.start()
    t_start = time.monotonic()
    try:
        time.sleep(0.5)
        writer = RecordingWriter(
            tmp_path / "gui.poise", {"sensors": runner.hub.recording_metadata()}
        )
        # the recorded span lies between the start of the attach call and the end of the
        # detach call, and covers at least the time between them: a loaded machine may
        # sleep longer than asked, so the count is checked against the clock, not 1.0 s
        t_attach_call = time.monotonic()
        runner.attach_recorder(writer)
        t_attached = time.monotonic()
        time.sleep(1.0)
        t_detach_call = time.monotonic()
        assert runner.detach_recorder() is writer
        t_detached = time.monotonic()
        writer.close()
        assert runner.hub.states == {
            "lower-back": LinkState.STREAMING,
            "left-shank": LinkState.STREAMING,
        }
    finally:
        runner.stop()
    t_stopped = time.monotonic()
    rec = load_recording(tmp_path / "gui.poise")
    slack = 8  # a packet's samples either side and the arrival jitter of a notification
    for s in rec.sensors:
        assert 100 * (t_detach_call - t_attached) - slack <= s.n_samples
        assert s.n_samples <= 100 * (t_detached - t_attach_call) + slack
    assert seen["threads"] == {"poise-hub"}
    assert 200 <= seen["samples"] <= 2 * 100 * (t_stopped - t_start) + 2 * slack
    assert seen["stats"] == 2
    assert not runner._thread.is_alive()


def test_cli_record_demo_then_info(tmp_path, capsys):
    """`poise record --demo` through the real entry point, then `poise info --json`."""
    import json
    import subprocess
    import sys

    out = tmp_path / "demo.poise"
    proc = subprocess.run(
        [sys.executable, "-m", "poise", "record", "-o", str(out), "--demo", "2"]
        + ["--rate", "200", "--seconds", "2", "--quiet"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "wrote" in proc.stdout
    from poise.cli import main

    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert [s["placement"] for s in info["sensors"]] == ["lower-back", "left-shank"]
    for s in info["sensors"]:
        assert 380 <= s["samples"] <= 420 and s["gaps"] == []
    # a second run refuses to overwrite, with a one-line error
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "poise",
            "record",
            "-o",
            str(out),
            "--demo",
            "1",
            "--seconds",
            "1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "already exists" in proc.stderr


async def test_packets_lost_at_the_very_end_are_reported(tmp_path):
    """The last packets before STOP vanish in the air: no later packet reveals them, the
    sensor clock read just before STOP does."""
    async with wearables([FaultConfig()]) as (link, ws):
        found = await scan(5.0, transport=link, count=1)
        hub = StreamHub([SensorSpec(device=found[0].device)], config=CFG, transport=link)
        await hub.start()
        await asyncio.sleep(1.0)
        ws[0].faults = FaultConfig(drop=1.0)  # from now on nothing arrives
        await asyncio.sleep(0.3)
        await hub.stop()
        t, s = ws[0].truth, hub.stats()[0]
        assert t.samples_dropped >= 40
        tail = hub.gaps(0)[-1]
        k = tail.samples // max(tail.packets, 1)
        # a lower bound: at most the one packet completed between TIME_SYNC and STOP is missed
        assert 0 <= t.samples_produced - (s.samples_received + s.samples_lost) <= k
        assert s.samples_lost >= t.samples_dropped - k


def test_cli_scan_and_record_reach_emulate_in_another_process(tmp_path, capsys):
    """`poise emulate` serves its virtual radio on loopback TCP; scan/record find it."""
    import json
    import subprocess
    import sys

    from poise.cli import main

    emu = subprocess.Popen(
        [sys.executable, "-m", "poise", "emulate", "--count", "2", "--rate", "100"]
        + ["--seconds", "30"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        transport = None
        for _ in range(20):
            line = emu.stdout.readline()
            if "Bumble transport" in line:
                transport = line.split("Bumble transport", 1)[1].strip()
                break
        assert transport and transport.startswith("tcp-client:127.0.0.1:"), line
        assert main(["scan", "--transport", transport, "--timeout", "1.5", "--json"]) == 0
        found = json.loads(capsys.readouterr().out)
        assert [d["name"] for d in found] == ["Poise-0001", "Poise-0002"]
        out = tmp_path / "x.poise"
        rc = main(
            ["record", "-o", str(out), "--transport", transport, "--sensor", "Poise-0002"]
            + ["--placement", "sternum", "--seconds", "1.5", "--quiet"]
        )
        assert rc == 0
        assert "wrote" in capsys.readouterr().out
        assert main(["info", str(out), "--json"]) == 0
        info = json.loads(capsys.readouterr().out)
        assert [s["placement"] for s in info["sensors"]] == ["sternum"]
        assert 130 <= info["sensors"][0]["samples"] <= 170
    finally:
        emu.terminate()
        emu.wait(10)


async def test_recording_attached_while_streaming(tmp_path):
    """A "Record" press mid-session: the file starts then, on its own clock, complete."""
    async with wearables([FaultConfig()]) as (link, ws):
        found = await scan(5.0, transport=link, count=1)
        hub = StreamHub(
            [SensorSpec(device=found[0].device, placement="sternum")], config=CFG, transport=link
        )
        await hub.start()
        await asyncio.sleep(0.7)
        writer = RecordingWriter(tmp_path / "late.poise", {"sensors": hub.recording_metadata()})
        hub.attach_recorder(writer)
        n0 = hub.stats()[0].samples_received
        await asyncio.sleep(1.0)
        assert hub.detach_recorder() is writer
        n1 = hub.stats()[0].samples_received
        writer.close()
        await asyncio.sleep(0.2)
        await hub.stop()
        rec = load_recording(tmp_path / "late.poise")
        sd = rec.sensors[0]
        assert sd.gaps == [] and abs(sd.n_samples - (n1 - n0)) <= 4
        assert -0.05 < sd.t_s[0] < 0.1  # times relative to the recording start
        kinds = [e["kind"] for e in rec.events]
        assert "device_info" in kinds and "connection" in kinds and "link_stats" in kinds

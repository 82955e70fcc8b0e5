"""Lab Streaming Layer outlets (poise.lsl): received by pylsl inlets on loopback and checked
against the recording made at the same time.

``poise record --lsl`` runs in its own process (virtual sensors over the Bumble BLE stack),
this test is the LSL consumer (LabRecorder's place): it resolves the streams, waits on them
(``--lsl-wait``: the sensors start once every stream has an inlet), pulls until the
recording ends, then loads the recording and compares every sample, its LSL time and the
streams' descriptions. About 10 s: a process start, a BLE scan and 4 s of streaming.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pylsl = pytest.importorskip("pylsl")

from firmware_protocol import codec  # noqa: E402
from poise.lsl import IMU_CHANNELS, METRIC_CHANNELS, publish_session  # noqa: E402
from sensors.recording import RecordingReader, load_recording  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _pull_all(inlets: dict, data: dict, rounds: int = 1) -> None:
    for _ in range(rounds):
        for k, inlet in inlets.items():
            d, ts = inlet.pull_chunk(timeout=0.05)
            data[k][0].extend(d)
            data[k][1].extend(ts)


def _close(inlets: dict) -> None:
    """Close the inlets (else liblsl keeps trying to reconnect them for the whole run)."""
    for inlet in inlets.values():
        inlet.close_stream()
    inlets.clear()


def _first_on_time_s(path: Path, sensor: int, config) -> float:
    """Receive time (recording seconds) of the sensor's first packet that arrived within
    1 ms of the lowest latency of the recording: the live clock model can only know the
    offset once a packet came on time (before it, a busy host may hold every packet up, and
    the model keeps the lateness of the best packet so far: 4.5 ms seen, which any error
    of the drift estimate then takes past 5 ms)."""
    recs = [r for r in RecordingReader(path).records() if r.sensor == sensor and r.packet]
    host = np.array([r.host_time_s for r in recs])
    last_s = np.array([codec.decode(r.packet, config).timestamp_us[-1] * 1e-6 for r in recs])
    off = host - np.unwrap(last_s, period=2.0**32 * 1e-6)
    return float(host[np.argmax(off - off.min() < 0.001)])


def _channels(info) -> list[tuple[str, str, str]]:
    ch = info.desc().child("channels").child("channel")
    out = []
    while not ch.empty():
        out.append((ch.child_value("label"), ch.child_value("type"), ch.child_value("unit")))
        ch = ch.next_sibling()
    return out


def test_record_lsl_streams_equal_the_recording(tmp_path):
    name = f"PoiseTest{os.getpid()}"
    path = tmp_path / "lsl.poise"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "poise",
            "record",
            "-o",
            str(path),
            "--demo",
            "2",
            "--seconds",
            "4",
            "--scenario",
            "walk",
            "--lsl",
            "--lsl-name",
            name,
            "--lsl-wait",
            "60",
            "--quiet",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        streams = pylsl.resolve_bypred(f"starts-with(name,'{name} ')", minimum=4, timeout=60)
        assert len(streams) == 4, [s.name() for s in streams]
        inlets = {s.name(): pylsl.StreamInlet(s, max_buflen=60) for s in streams}
        for inlet in inlets.values():
            inlet.open_stream(timeout=10)
        data: dict = {k: ([], []) for k in inlets}
        deadline = time.monotonic() + 120
        while proc.poll() is None and time.monotonic() < deadline:
            _pull_all(inlets, data)
        _pull_all(inlets, data, rounds=5)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    rec = load_recording(path)
    t0 = rec.metadata["start"]["monotonic_s"]
    clock_gap = pylsl.local_clock() - time.monotonic()  # both the host's monotonic clock
    assert abs(clock_gap) < 0.01
    header = {s["id"]: s for s in rec.metadata["sensors"]}
    infos = {k: inlet.info(timeout=5) for k, inlet in inlets.items()}
    _close(inlets)
    for i, s in enumerate(rec.sensors):
        key = f"{name} {s.placement}"
        info = infos[key]
        # the stream: type, rate, source_id = the device address, channels described
        assert info.type() == "IMU" and info.channel_count() == 6
        assert info.channel_format() == pylsl.cf_float32
        assert info.nominal_srate() == pytest.approx(s.config.sampling_rate_hz)
        assert info.source_id() == header[s.id]["address"] and info.source_id()
        assert _channels(info) == [tuple(c) for c in IMU_CHANNELS]
        assert info.desc().child_value("placement") == s.placement
        # every sample of the recording, in order, with the same values (float32)
        x = np.asarray(data[key][0], dtype=np.float32)
        ts = np.asarray(data[key][1])
        ok = np.isfinite(s.acc_mps2).all(axis=1)
        assert ok.all() and x.shape == (ok.sum(), 6)
        assert np.array_equal(x[:, :3], s.acc_mps2.astype(np.float32))
        assert np.array_equal(x[:, 3:], s.gyr_radps.astype(np.float32))
        # times: the aligned timeline (sensor clock mapped to the host), on LSL's clock. The
        # stream has the live clock model's times, the file its fit over the whole file.
        # The live model takes the lowest offset seen so far: when the first packets come
        # in a burst (a backlog after the connection set-up, up to 1.3 s here) they are
        # placed late, never early, until packets arrive on time; from then on the two
        # agree to a fraction of a sample period, and consecutive samples are one period
        # apart (arrival times would put a packet's samples at one time). Settled: from
        # the sample after the last one off by 5 ms or more (not the first within 5 ms: at
        # load 4 the first sample was 4.7 ms late by chance, the next 6 s up to 10.9 ms),
        # at most 3 s after the first packet that came on time (not after the first sample:
        # a busy host delivered nothing for 4.9 s after the first packet, then a burst)
        dt = ts - clock_gap - t0 - s.t_s
        assert dt.min() > -0.005
        off = np.flatnonzero(np.abs(dt) >= 0.005)
        settled = int(off[-1]) + 1 if off.size else 0
        on_time = max(_first_on_time_s(path, i, s.config), s.t_s[0])
        print(
            f"{s.id}: first sample at {s.t_s[0]:.3f} s, first on time {on_time:.3f} s, "
            f"settled at {s.t_s[min(settled, s.t_s.size - 1)]:.3f} s, dt min "
            f"{dt.min() * 1e3:+.2f} ms, max {dt.max() * 1e3:.2f} ms, median |dt| settled "
            f"{np.median(np.abs(dt[settled:])) * 1e3:.3f} ms"
        )
        assert settled < s.t_s.size and s.t_s[settled] - on_time < 3.0
        assert np.median(np.abs(dt[settled:])) < 0.001
        period = 1.0 / s.config.sampling_rate_hz
        steps = np.diff(ts[settled:])
        assert np.mean(np.abs(steps - period) < 0.05 * period) > 0.95
    markers = [json.loads(m[0]) for m in data[f"{name} markers"][0]]
    assert [m["kind"] for m in markers] == ["session_start", "session_stop"]
    assert markers[0]["file"] == str(path)
    mt = np.asarray(data[f"{name} markers"][1]) - clock_gap - t0
    assert mt[0] == pytest.approx(0.0, abs=0.001) and 3.5 < mt[1] < 30
    metrics = np.asarray(data[f"{name} metrics"][0])
    assert metrics.shape[1] == len(METRIC_CHANNELS) and metrics.shape[0] >= 4
    assert np.nanmax(metrics[:, 0]) > 0  # sway RMS of the lower-back sensor
    assert _channels(infos[f"{name} metrics"])[0] == ("sway_rms_mps2", "", "m/s^2")


def test_a_session_is_published_with_its_markers_and_live_values(tmp_path):
    """The ``poise gui --lsl`` path without a window: the session's events feed the outlet."""
    from poise.session import Session
    from poise.sources import ScriptedSource

    name = f"PoiseSession{os.getpid()}"
    session = Session(data_dir=tmp_path, record=False)
    outlet, detach = publish_session(session, name=name)
    emitted: list[dict] = []
    session.events.metrics.connect(lambda m: emitted.append(dict(m)))
    src = ScriptedSource(1, sampling_rate_hz=100, scenario="quiet_stance")
    session.set_source(src)
    session.poll()  # sensor_added: the sensor's outlet
    streams = pylsl.resolve_bypred(f"starts-with(name,'{name} ')", minimum=3, timeout=30)
    inlets = {s.name(): pylsl.StreamInlet(s) for s in streams}
    for inlet in inlets.values():
        inlet.open_stream(timeout=10)
    data: dict = {k: ([], []) for k in inlets}
    end = time.monotonic() + 3.0
    noted = False
    while time.monotonic() < end:
        session.poll()
        _pull_all(inlets, data)
        if not noted and time.monotonic() > end - 1.5:
            session.add_marker("note", "patient steadied herself")
            noted = True
    session.stop()  # the source stops: session_stop
    session.poll()
    _pull_all(inlets, data, rounds=5)
    rows = session.latest("demo-1")
    _close(inlets)
    detach()
    session.close()
    key = f"{name} lower-back"
    x = np.asarray(data[key][0], dtype=np.float32)
    ts = np.asarray(data[key][1])
    assert x.shape[0] > 100
    # the last samples received are the session's last samples, values and times
    k = rows.shape[0] - x.shape[0]
    assert k >= 0
    assert np.array_equal(x[:, :3], rows[k:, 1:4].astype(np.float32))
    assert np.allclose(ts - outlet.offset_s, rows[k:, 0], atol=1e-9)
    kinds = [json.loads(m[0]) for m in data[f"{name} markers"][0]]
    note = [m for m in kinds if m["kind"] == "marker"]
    assert note and note[0]["marker"] == "note" and note[0]["text"] == "patient steadied herself"
    assert any(m["kind"] == "session_stop" for m in kinds)
    # the session's live values, as it emitted them (float32; NaN for "not known yet"),
    # from the inlet's connection on
    metrics = np.asarray(data[f"{name} metrics"][0], dtype=np.float32)
    assert metrics.shape[1] == len(METRIC_CHANNELS) and metrics.shape[0] >= 2
    emitted = emitted[len(emitted) - metrics.shape[0] :]
    want = np.array(
        [
            [np.nan if m.get(k) is None else float(m[k]) for k, _ in METRIC_CHANNELS]
            for m in emitted
        ],
        dtype=np.float32,
    )
    assert np.array_equal(metrics, want, equal_nan=True)
    mts = np.asarray(data[f"{name} metrics"][1]) - outlet.offset_s
    assert np.allclose(mts, [m["session_time_s"] for m in emitted], atol=1e-6)

"""The one recorder (poise.recorder.Recorder) as a sink of its own."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from poise.recorder import Recorder, new_recording_path
from poise.sinks import SampleSink, SensorDeclaration
from poise.sources import ScriptedSource
from sensors.recording import load_recording


def test_a_source_records_straight_into_the_recorder(tmp_path: Path) -> None:
    opened: list[Path] = []
    warnings: list[str] = []
    rec = Recorder(
        lambda: new_recording_path(tmp_path, "direct"),
        lambda: {"app": "test"},
        on_open=opened.append,
        on_warning=warnings.append,
    )
    assert isinstance(rec, SampleSink) and not rec.recording
    src = ScriptedSource(2, sampling_rate_hz=100, scenario="quiet_stance", time_scale=20)
    src.start(rec)
    deadline = time.monotonic() + 10
    while rec.packets_written < 40 and time.monotonic() < deadline:
        time.sleep(0.02)
    # a sensor declared after the first packet is not in the header: said once, not written
    rec.add_sensor(SensorDeclaration("late", sampling_rate_hz=100))
    rec.push_packets("late", [b"x"], 1.0)
    rec.push_packets("late", [b"x"], 1.1)
    rec.push_gap("demo-2", 0.5, 0.6, 10, "")
    rec.write_event({"kind": "marker", "t_s": 0.7, "marker": "note", "text": "hello"})
    src.stop()
    n = rec.packets_written
    rec.close(t_s=2.0, info={"why": "test"})
    assert not rec.recording and rec.packets_written == n
    assert opened == [rec.path] and rec.path.name.startswith("direct-")
    assert len(warnings) == 1 and "late" in warnings[0]
    r = load_recording(rec.path)
    assert r.closed_cleanly and [s.id for s in r.sensors] == ["demo-1", "demo-2"]
    assert r.metadata["app"] == "test"
    assert any(e.get("kind") == "marker" and e.get("text") == "hello" for e in r.events)
    assert sum(g.samples for g in r.sensors[1].gaps) >= 10
    # every packet of demo-1 is in the file (5 samples a packet, the sensors alternate)
    assert np.isfinite(r.sensors[0].acc_mps2).all(axis=1).sum() in (5 * (n // 2), 5 * (n - n // 2))


def test_a_file_that_can_not_be_written_stops_the_recording_not_the_stream(
    tmp_path: Path,
) -> None:
    errors: list[str] = []
    taken = tmp_path / "taken.poise"
    taken.write_bytes(b"someone else's file")
    rec = Recorder(taken, {}, on_error=errors.append)
    rec.add_sensor(SensorDeclaration("s1"))
    rec.push_packets("s1", [b"\x00" * 20], 0.0)  # opening fails: reported, nothing raised
    assert rec.failed and not rec.recording and len(errors) == 1
    assert "not recorded" in errors[0] and taken.read_bytes() == b"someone else's file"
    rec.push_packets("s1", [b"\x00" * 20], 0.1)  # no second attempt, no second message
    assert len(errors) == 1

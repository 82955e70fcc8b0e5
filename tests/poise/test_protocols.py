"""Guided-test protocol state machine, driven by session time (no Qt, no sleeps)."""

from __future__ import annotations

import numpy as np
import pytest

from poise.protocols import PROTOCOLS, ProtocolRun


def run_until(run: ProtocolRun, t_end: float, dt: float = 0.05) -> list[dict]:
    out = []
    for t in np.arange(run.now_s, t_end + 1e-9, dt):
        out += run.update(float(t))
    return out


def test_four_stage_runs_every_stage_with_countdowns_and_finishes_on_time() -> None:
    p = PROTOCOLS["four-stage"]
    run = ProtocolRun(p, start_s=5.0)
    events = run_until(run, 5.0 + p.nominal_duration_s + 1.0)
    starts = [e for e in events if e["type"] == "stage_start"]
    ends = [e for e in events if e["type"] == "stage_end"]
    assert [e["stage"] for e in starts] == [s.key for s in p.stages]
    # each stage starts after its countdown, on the exact data time, not the poll time
    expected = [5.0 + i * (p.countdown_s + 10.0) + p.countdown_s for i in range(4)]
    assert [e["t_s"] for e in starts] == pytest.approx(expected)
    assert [e["t_s"] - s["t_s"] for e, s in zip(ends, starts)] == pytest.approx([10.0] * 4)
    assert run.finished and run.ended_by == "completed"
    assert run.end_s == pytest.approx(5.0 + p.nominal_duration_s)
    ticks = [e["remaining"] for e in events if e["type"] == "tick"]
    assert ticks == [3, 2, 1] * 4


def test_lost_balance_marker_stops_the_four_stage_test_in_that_stage() -> None:
    run = ProtocolRun(PROTOCOLS["four-stage"], start_s=0.0)
    run_until(run, 30.0)  # countdown 0-3, stage 1 3-13, countdown, stage 2 16-26, countdown
    run_until(run, 33.0)
    assert run.state == "running" and run.stage.key == "tandem"
    out = run.mark(33.5, "lost_balance")
    assert [e["type"] for e in out] == ["marker", "stage_end", "finished"]
    assert run.finished and run.ended_by == "lost_balance"
    assert run.segments[-1].key == "tandem"
    assert run.segments[-1].end_s - run.segments[-1].start_s == pytest.approx(4.5)
    assert run.markers[0].stage == "tandem"
    assert run.update(60.0) == []  # nothing happens after the end


def test_quiet_stance_marker_does_not_stop_and_unknown_marker_is_refused() -> None:
    run = ProtocolRun(PROTOCOLS["sway"], start_s=0.0)
    run_until(run, 10.0)
    out = run.mark(10.0, "lost_balance")
    assert [e["type"] for e in out] == ["marker"]
    assert not run.finished
    with pytest.raises(ValueError, match="unknown marker"):
        run.mark(10.0, "fell asleep")


def test_open_ended_tug_stops_on_therapist_or_at_the_safety_limit() -> None:
    run = ProtocolRun(PROTOCOLS["tug"], start_s=0.0)
    run_until(run, 12.0)
    assert run.state == "running" and run.stage_remaining_s is None
    out = run.next_stage(12.3)
    assert out[-1]["type"] == "finished" and run.ended_by == "therapist"
    assert run.segments[0].end_s - run.segments[0].start_s == pytest.approx(9.3)
    run2 = ProtocolRun(PROTOCOLS["tug"], start_s=0.0)
    run_until(run2, 70.0, dt=0.5)
    assert run2.finished and run2.ended_by == "max_duration"
    assert run2.end_s == pytest.approx(3.0 + 60.0)


def test_stop_during_countdown_and_late_polls() -> None:
    run = ProtocolRun(PROTOCOLS["chair-stand-30s"], start_s=1.0)
    out = run.stop(2.0)
    assert out == [{"type": "finished", "t_s": 2.0, "ended_by": "stopped"}]
    assert run.segments == []
    # any stop reason ends the whole test, also in a multi-stage one
    run = ProtocolRun(PROTOCOLS["sway"], start_s=0.0)
    run.update(10.0)
    out = run.stop(10.0, "source stopped")
    assert [e["type"] for e in out] == ["stage_end", "finished"]
    assert run.finished and run.ended_by == "source stopped" and len(run.segments) == 1
    # a single late poll still places every happening at its own time
    run = ProtocolRun(PROTOCOLS["chair-stand-30s"], start_s=0.0)
    out = run.update(100.0)
    kinds = [e["type"] for e in out]
    assert kinds[-3:] == ["stage_start", "stage_end", "finished"]
    assert out[-1]["t_s"] == pytest.approx(33.0)


def test_with_timing_and_snapshot() -> None:
    p = PROTOCOLS["walk-6min"].with_timing(countdown_s=1.0, stage_s=2.0)
    run = ProtocolRun(p, start_s=0.0)
    snap = run.snapshot()
    assert snap["state"] == "countdown" and snap["countdown_remaining_s"] == pytest.approx(1.0)
    run.update(2.0)
    snap = run.snapshot()
    assert snap["state"] == "running" and snap["stage_remaining_s"] == pytest.approx(1.0)
    assert 0.0 < snap["progress"] < 1.0
    run.update(3.5)
    assert run.finished and run.summary()["stages"][0]["end_s"] == pytest.approx(3.0)

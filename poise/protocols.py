"""Guided test protocols: what to tell the patient, the stages, their durations, the countdown.

A :class:`TestProtocol` is a static description (instructions, stages, countdown, whether a
loss of balance ends the test). A :class:`ProtocolRun` is the state machine of one run,
driven by *session time* (the data clock): :meth:`ProtocolRun.update` is called with the
current time and returns what happened since the last call (countdown ticks, stage starts,
stage ends, the end of the test). Because it runs on the data clock, the same run replayed
at 10x ends at the same data time as live, and it is tested without Qt or sleeps.

The protocols are the clinical-test registry's (:mod:`analysis.clinical.registry`: each
entry's ``protocol``, keyed like ``poise analyze --test``); :data:`PROTOCOLS` lists them in
the registry's order.

References
----------
CDC STEADI: "The 4-Stage Balance Test", "30-Second Chair Stand", "Timed Up & Go" (2017).
Shumway-Cook A, Horak FB (1986). Assessing the influence of sensory interaction on balance
(CTSIB), Phys Ther 66:1548-1550. ATS statement: guidelines for the six-minute walk test,
Am J Respir Crit Care Med 166:111-117 (2002).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from analysis.clinical import registry
from analysis.clinical.registry import Stage, TestProtocol

__all__ = [
    "MARKER_KINDS",
    "PROTOCOLS",
    "Marker",
    "ProtocolRun",
    "Stage",
    "StageSegment",
    "TestProtocol",
]

#: Marker kinds a therapist can add with one key; free text uses ``"note"``.
MARKER_KINDS: dict[str, str] = {
    "lost_balance": "Lost balance",
    "assisted": "Assisted",
    "note": "Note",
}


#: The guided protocols of every clinical test, key -> protocol, in list order.
PROTOCOLS: dict[str, TestProtocol] = {t.key: t.protocol for t in registry.tests()}


@dataclass
class Marker:
    """A therapist's marker during a run."""

    t_s: float
    kind: str
    text: str = ""
    stage: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"t_s": self.t_s, "kind": self.kind, "text": self.text, "stage": self.stage}


@dataclass
class StageSegment:
    """When a stage actually ran, and how it ended."""

    key: str
    start_s: float
    end_s: float | None = None
    ended_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "key": self.key,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "ended_by": self.ended_by,
        }


@dataclass
class ProtocolRun:
    """The state machine of one guided test, driven by session time.

    States: ``"countdown"`` (before a stage), ``"running"`` (a stage), ``"finished"``.

    Parameters
    ----------
    protocol
        The protocol to run.
    start_s
        Session time at which the run starts (the first countdown begins).
    """

    protocol: TestProtocol
    start_s: float
    state: str = "countdown"
    stage_index: int = 0
    phase_start_s: float = 0.0
    now_s: float = 0.0
    segments: list[StageSegment] = field(default_factory=list)
    markers: list[Marker] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    end_s: float | None = None
    ended_by: str = ""
    _last_tick: int = -1

    def __post_init__(self) -> None:
        self.phase_start_s = self.start_s
        self.now_s = self.start_s
        self._last_tick = math.ceil(self.protocol.countdown_s) + 1

    # ------------------------------------------------------------------ queries
    @property
    def finished(self) -> bool:
        """True once the last stage ended or the run was stopped."""
        return self.state == "finished"

    @property
    def stage(self) -> Stage:
        """The current (or last) stage."""
        return self.protocol.stages[min(self.stage_index, len(self.protocol.stages) - 1)]

    @property
    def phase_elapsed_s(self) -> float:
        """Time since the current countdown or stage began."""
        return max(0.0, self.now_s - self.phase_start_s)

    @property
    def countdown_remaining_s(self) -> float:
        """Seconds left in the countdown (0 when not counting down)."""
        if self.state != "countdown":
            return 0.0
        return max(0.0, self.protocol.countdown_s - self.phase_elapsed_s)

    @property
    def stage_remaining_s(self) -> float | None:
        """Seconds left in a fixed-duration running stage; ``None`` if open-ended."""
        if self.state != "running" or self.stage.duration_s is None:
            return None
        return max(0.0, self.stage.duration_s - self.phase_elapsed_s)

    @property
    def progress(self) -> float:
        """Fraction 0..1 of the nominal duration done."""
        if self.finished:
            return 1.0
        total = self.protocol.nominal_duration_s
        return float(min(1.0, max(0.0, (self.now_s - self.start_s) / total))) if total else 0.0

    def snapshot(self) -> dict[str, Any]:
        """Everything a view needs to draw the run, JSON-ready."""
        return {
            "test": self.protocol.key,
            "title": self.protocol.title,
            "state": self.state,
            "stage_index": self.stage_index,
            "stage_count": len(self.protocol.stages),
            "stage": self.stage.key,
            "stage_title": self.stage.title,
            "stage_instructions": self.stage.instructions,
            "countdown_remaining_s": self.countdown_remaining_s,
            "stage_elapsed_s": self.phase_elapsed_s if self.state == "running" else 0.0,
            "stage_remaining_s": self.stage_remaining_s,
            "progress": self.progress,
            "markers": [m.to_dict() for m in self.markers],
            "gaps": list(self.gaps),
            "ended_by": self.ended_by,
        }

    def summary(self) -> dict[str, Any]:
        """The run as stored in the recording's ``test_stop`` event."""
        return {
            "test": self.protocol.key,
            "start_s": self.start_s,
            "end_s": self.end_s,
            "ended_by": self.ended_by,
            "stages": [s.to_dict() for s in self.segments],
            "markers": [m.to_dict() for m in self.markers],
            "gaps": list(self.gaps),
        }

    # ------------------------------------------------------------------ actions
    def update(self, now_s: float) -> list[dict[str, Any]]:
        """Advance to ``now_s``; return what happened, in order.

        Each happening is a dict with ``"type"`` one of ``"tick"`` (a countdown second,
        with ``"remaining"``), ``"stage_start"``, ``"stage_end"``, ``"finished"``, each with
        the session time ``"t_s"`` at which it happened (not the poll time: a late poll
        still puts a stage end at its exact data time).
        """
        out: list[dict[str, Any]] = []
        if now_s < self.now_s:  # the clock never goes back within a run
            now_s = self.now_s
        self.now_s = now_s
        while not self.finished:
            if self.state == "countdown":
                remaining = self.protocol.countdown_s - (now_s - self.phase_start_s)
                tick = math.ceil(remaining) if remaining > 0 else 0
                if 0 < tick < self._last_tick:
                    self._last_tick = tick
                    out.append(
                        {
                            "type": "tick",
                            "remaining": tick,
                            "t_s": self.phase_start_s + self.protocol.countdown_s - tick,
                        }
                    )
                if remaining > 0:
                    break
                t = self.phase_start_s + self.protocol.countdown_s
                self.state = "running"
                self.phase_start_s = t
                self.segments.append(StageSegment(self.stage.key, t))
                out.append({"type": "stage_start", "stage": self.stage.key, "t_s": t})
            elif self.state == "running":
                limit = self.stage.limit_s
                if now_s - self.phase_start_s < limit:
                    break
                t = self.phase_start_s + limit
                why = "time" if self.stage.duration_s is not None else "max_duration"
                out.extend(self._end_stage(t, why))
        return out

    def _end_stage(self, t_s: float, why: str, finish: bool = False) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        seg = self.segments[-1]
        seg.end_s, seg.ended_by = t_s, why
        out.append({"type": "stage_end", "stage": seg.key, "t_s": t_s, "ended_by": why})
        last = self.stage_index >= len(self.protocol.stages) - 1
        if last or finish or why == "lost_balance":
            out.extend(self._finish(t_s, "completed" if why in ("time",) and last else why))
        else:
            self.stage_index += 1
            self.state = "countdown"
            self.phase_start_s = t_s
            self._last_tick = math.ceil(self.protocol.countdown_s) + 1
        return out

    def _finish(self, t_s: float, why: str) -> list[dict[str, Any]]:
        self.state = "finished"
        self.end_s = t_s
        self.ended_by = why
        return [{"type": "finished", "t_s": t_s, "ended_by": why}]

    def next_stage(self, now_s: float) -> list[dict[str, Any]]:
        """End an open-ended (or any) running stage now, as the therapist's Stop/Next."""
        self.now_s = max(self.now_s, now_s)
        if self.state == "running":
            return self._end_stage(self.now_s, "therapist")
        return []

    def stop(self, now_s: float, reason: str = "stopped") -> list[dict[str, Any]]:
        """Abort or finish the run now (therapist's Stop)."""
        self.now_s = max(self.now_s, now_s)
        if self.finished:
            return []
        if self.state == "running":
            return self._end_stage(self.now_s, reason, finish=True)
        return self._finish(self.now_s, reason)

    def mark(self, now_s: float, kind: str, text: str = "") -> list[dict[str, Any]]:
        """Add a therapist marker; a loss of balance may end the test."""
        if kind not in MARKER_KINDS:
            raise ValueError(f"unknown marker kind {kind!r}; expected one of {list(MARKER_KINDS)}")
        stage = self.stage.key if self.state == "running" else None
        m = Marker(max(now_s, self.start_s), kind, text, stage)
        self.markers.append(m)
        out: list[dict[str, Any]] = [{"type": "marker", "t_s": m.t_s, **m.to_dict()}]
        if (
            kind == "lost_balance"
            and self.protocol.stop_on_loss_of_balance
            and self.state == "running"
        ):
            self.now_s = max(self.now_s, now_s)
            out.extend(self._end_stage(self.now_s, "lost_balance"))
        return out

    def note_gap(self, sensor_id: str, start_s: float, end_s: float, samples: int) -> None:
        """Record that a sensor lost data during this run (the result page warns about it)."""
        self.gaps.append(
            {"sensor": sensor_id, "start_s": start_s, "end_s": end_s, "samples": int(samples)}
        )

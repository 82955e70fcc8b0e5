"""Guided test protocols: what to tell the patient, the stages, their durations, the countdown.

A :class:`TestProtocol` is a static description (instructions, stages, countdown, whether a
loss of balance ends the test). A :class:`ProtocolRun` is the state machine of one run,
driven by *session time* (the data clock): :meth:`ProtocolRun.update` is called with the
current time and returns what happened since the last call (countdown ticks, stage starts,
stage ends, the end of the test). Because it runs on the data clock, the same run replayed
at 10x ends at the same data time as live, and it is tested without Qt or sleeps.

The analysis names of the tests follow ``poise analyze --test`` (issue 5): ``sway``,
``four-stage``, ``tug``, ``chair-stand-30s``, ``five-times-sts``, ``walk-2min``,
``walk-6min``.

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

#: Marker kinds a therapist can add with one key; free text uses ``"note"``.
MARKER_KINDS: dict[str, str] = {
    "lost_balance": "Lost balance",
    "assisted": "Assisted",
    "note": "Note",
}


@dataclass(frozen=True)
class Stage:
    """One timed part of a test.

    Parameters
    ----------
    key
        Short machine name, e.g. ``"tandem"``.
    title
        What the screen shows, e.g. ``"Tandem stance"``.
    instructions
        One or two sentences for the patient.
    duration_s
        Fixed duration; the stage stops by itself. ``None`` means open-ended: the therapist
        stops it (or ``max_duration_s`` does).
    max_duration_s
        Safety limit for open-ended stages.
    """

    key: str
    title: str
    instructions: str
    duration_s: float | None = None
    max_duration_s: float = 120.0

    @property
    def limit_s(self) -> float:
        """Time after which the stage ends by itself."""
        return float(self.duration_s if self.duration_s is not None else self.max_duration_s)


@dataclass(frozen=True)
class TestProtocol:
    """A guided test: instructions, stages and how the run behaves.

    Parameters
    ----------
    key
        Analysis name of the test (see module docstring).
    title
        Human name.
    patient_instructions, therapist_instructions
        Shown on the instructions page.
    stages
        The stages in order.
    countdown_s
        Countdown before each stage (seconds; a cue sounds at each second and at the start).
    stop_on_loss_of_balance
        A "lost balance" marker ends the test (STEADI 4-stage: stop at the first failure).
    source
        Where the procedure comes from.
    """

    key: str
    title: str
    patient_instructions: str
    therapist_instructions: str
    stages: tuple[Stage, ...]
    countdown_s: float = 3.0
    stop_on_loss_of_balance: bool = False
    source: str = ""

    @property
    def nominal_duration_s(self) -> float:
        """Sum of countdowns and stage limits."""
        return sum(self.countdown_s + s.limit_s for s in self.stages)

    def with_timing(
        self, *, countdown_s: float | None = None, stage_s: float | None = None
    ) -> TestProtocol:
        """Copy with another countdown or fixed stage duration (short demos and tests)."""
        stages = self.stages
        if stage_s is not None:
            stages = tuple(
                Stage(s.key, s.title, s.instructions, stage_s, s.max_duration_s) for s in stages
            )
        return TestProtocol(
            self.key,
            self.title,
            self.patient_instructions,
            self.therapist_instructions,
            stages,
            self.countdown_s if countdown_s is None else countdown_s,
            self.stop_on_loss_of_balance,
            self.source,
        )


def _quiet(key: str, title: str, text: str) -> Stage:
    return Stage(key, title, text, 30.0)


PROTOCOLS: dict[str, TestProtocol] = {
    p.key: p
    for p in (
        TestProtocol(
            key="four-stage",
            title="4-stage balance test",
            patient_instructions=(
                "Stand without support, arms by your side. Hold each position for 10 seconds. "
                "Do not move your feet until I tell you."
            ),
            therapist_instructions=(
                "Demonstrate each position. Stand close to the patient to prevent a fall. "
                "Press L the moment the patient loses balance (steps, grabs or you assist): "
                "the test stops there. Holding tandem stance for less than 10 s means an "
                "increased risk of falling."
            ),
            stages=(
                Stage("feet_together", "Feet together", "Stand with your feet side by side.", 10),
                Stage(
                    "semi_tandem",
                    "Semi-tandem",
                    "Place the instep of one foot so it touches the big toe of the other.",
                    10,
                ),
                Stage(
                    "tandem",
                    "Tandem",
                    "Place one foot in front of the other, heel touching toe.",
                    10,
                ),
                Stage("one_leg", "One leg", "Stand on one foot.", 10),
            ),
            countdown_s=3.0,
            stop_on_loss_of_balance=True,
            source="CDC STEADI, The 4-Stage Balance Test",
        ),
        TestProtocol(
            key="sway",
            title="Quiet stance (mCTSIB, 4 conditions)",
            patient_instructions=(
                "Stand still with your feet together and your arms crossed, looking at a point "
                "in front of you. Close your eyes when asked."
            ),
            therapist_instructions=(
                "Four 30-s conditions: eyes open and closed on the firm floor, then on foam. "
                "Press L if the patient steps or you must help."
            ),
            stages=(
                _quiet("eo_firm", "Eyes open, firm", "Eyes open, on the floor."),
                _quiet("ec_firm", "Eyes closed, firm", "Close your eyes, on the floor."),
                _quiet("eo_foam", "Eyes open, foam", "Eyes open, standing on the foam pad."),
                _quiet("ec_foam", "Eyes closed, foam", "Close your eyes, on the foam pad."),
            ),
            countdown_s=5.0,
            source="Shumway-Cook & Horak 1986 (mCTSIB); sway after Mancini et al. 2012",
        ),
        TestProtocol(
            key="tug",
            title="Timed Up and Go",
            patient_instructions=(
                "When I say Go: stand up from the chair, walk to the line at your normal pace, "
                "turn, walk back and sit down again."
            ),
            therapist_instructions=(
                "Chair with arm rests, line at 3 m. Start with the patient seated, back against "
                "the chair. Press Space when the patient is seated again (or wait: the test "
                "stops after 60 s). 12 s or more means a risk of falling."
            ),
            stages=(
                Stage(
                    "tug", "Timed Up and Go", "Stand up, walk, turn, come back, sit.", None, 60.0
                ),
            ),
            source="CDC STEADI, Timed Up & Go; Salarian et al. 2010 (phases)",
        ),
        TestProtocol(
            key="chair-stand-30s",
            title="30-second chair stand",
            patient_instructions=(
                "Sit in the middle of the chair, arms crossed on your chest. When I say Go, stand "
                "up fully and sit down again, as many times as you can in 30 seconds."
            ),
            therapist_instructions=(
                "Chair without arm rests against a wall. Counts below the age/sex norm indicate "
                "a risk of falling."
            ),
            stages=(
                Stage("stands", "Chair stands", "Stand up and sit down, again and again.", 30),
            ),
            source="CDC STEADI, 30-Second Chair Stand",
        ),
        TestProtocol(
            key="five-times-sts",
            title="Five times sit-to-stand",
            patient_instructions=(
                "Arms crossed on your chest. When I say Go, stand up fully and sit down five "
                "times, as fast as you safely can."
            ),
            therapist_instructions=(
                "Press Space when the patient sits after the fifth stand (or the test stops "
                "after 60 s). 12 s or more raises fall probability, 15 s predicts recurrent falls."
            ),
            stages=(
                Stage("sts", "Five sit-to-stands", "Stand up and sit down five times.", None, 60.0),
            ),
            source="Lusardi et al. 2017; Buatois et al. 2008",
        ),
        TestProtocol(
            key="walk-2min",
            title="2-minute walk",
            patient_instructions=(
                "Walk back and forth along the corridor as far as you can in 2 minutes. You may "
                "slow down or stop to rest."
            ),
            therapist_instructions="Straight corridor, turn around cones. The test stops after 2 minutes.",
            stages=(Stage("walk", "Walking", "Walk as far as you can.", 120),),
            source="ATS 2002 (procedure, shortened)",
        ),
        TestProtocol(
            key="walk-6min",
            title="6-minute walk",
            patient_instructions=(
                "Walk back and forth along the corridor as far as you can in 6 minutes. You may "
                "slow down or stop to rest."
            ),
            therapist_instructions=(
                "30-m corridor, turn around cones; standard encouragement each minute. The test "
                "stops after 6 minutes. Fatigability compares the last minute with minute 2."
            ),
            stages=(Stage("walk", "Walking", "Walk as far as you can.", 360),),
            source="ATS 2002; Enright & Sherrill 1998 (norms)",
        ),
    )
}


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

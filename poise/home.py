"""Home-exercise mode without a screen: today's exercises, guidance, timer, repetitions.

:class:`HomeSession` is the model of ``poise home`` (the Qt view is :mod:`gui.home`). A
patient with one sensor on the lower back works through the exercises of the therapist's
plan (:meth:`poise.store.Store.plan`, else :data:`DEFAULT_PLAN`):

1. *ready*: the exercise's instructions; the patient presses Start;
2. *countdown*: ``countdown_s`` seconds with a cue each second;
3. *active*: a timer; repetitions are counted by the analysis where it can
   (sit-to-stand transitions with :class:`analysis.transitions.StreamingTransitions`, fed
   the new samples at every poll; steps of a walk with :class:`analysis.gait.GaitAnalyzer`), otherwise the patient presses
   "One more" / "Done". It ends when the target repetitions are reached, the hold time is
   over, the time limit passes, or the patient stops;
4. *done*: the result (repetitions, time, completed or not) and the next exercise.

The session is recorded like every Poise session (a ``.poise`` file with the raw packets,
user-only) with ``patient`` (pseudonym), ``session_kind: "home"`` and the plan in the
header, and one ``exercise_start``/``exercise_stop``/``exercise_result`` event per
exercise, so the therapist can import it (:func:`poise.service.import_recording`
reads the results and fills in adherence). :meth:`HomeSession.finish` closes the file and,
when a store holds the patient, imports it at once.

The session is a :class:`poise.sinks.SampleSink` for the sources of :mod:`poise.sources`
(``add_sensor``, ``push_samples``, ``push_packets`` ... called from the source's thread;
link statistics, replayed events and seeks do not apply); everything else
happens in :meth:`HomeSession.poll` on the owner's thread, which emits the events the view
subscribes to (:class:`poise.events.EventGroup`).
"""

from __future__ import annotations

import datetime as _dt
import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from analysis.transitions import StreamingTransitions
from poise.errors import PoiseError
from poise.events import EventGroup
from poise.outputs import make_private_dir
from poise.recorder import Recorder, new_recording_path
from poise.service import import_recording, local_time
from poise.sinks import SampleSink, SensorDeclaration, Source, drain

if TYPE_CHECKING:
    from poise.store import Patient, Store
    from sensors.recording import RecordingWriter

log = logging.getLogger(__name__)

__all__ = [
    "CATALOGUE",
    "DEFAULT_PLAN",
    "DemoHomeSource",
    "Exercise",
    "HomeSession",
    "adherence_calendar",
    "plan_exercises",
    "result_text",
]


@dataclass
class Exercise:
    """One exercise of a plan.

    ``kind`` is ``"repetitions"`` (``target_reps``) or ``"timed"`` (``hold_s``); ``counter``
    is ``"sit_to_stand"``, ``"steps"`` or ``None`` (the patient counts); ``demo_motion``
    is the :mod:`sensors.scenarios` motion a demo sensor plays during it.
    """

    key: str
    title: str
    kind: str
    instructions: list[str]
    target_reps: int | None = None
    hold_s: float | None = None
    max_duration_s: float = 180.0
    counter: str | None = None
    demo_motion: str = "quiet_stance"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (as stored in a plan)."""
        return asdict(self)


CATALOGUE: dict[str, Exercise] = {
    "sit_to_stand": Exercise(
        "sit_to_stand",
        "Sit to stand",
        "repetitions",
        [
            "Sit in the middle of a firm chair, feet flat, arms crossed.",
            "Stand up fully, then sit down again slowly.",
            "Repeat at your own pace. The sensor counts for you.",
        ],
        target_reps=5,
        counter="sit_to_stand",
        demo_motion="repeated_sit_to_stand",
    ),
    "standing_balance": Exercise(
        "standing_balance",
        "Standing balance",
        "timed",
        [
            "Stand near a counter you can hold if needed.",
            "Feet together, arms by your sides, look straight ahead.",
            "Stand as still as you can until the timer ends.",
        ],
        hold_s=30.0,
        demo_motion="quiet_stance",
    ),
    "tandem_stance": Exercise(
        "tandem_stance",
        "Heel-to-toe stance",
        "timed",
        [
            "Stand near a counter you can hold if needed.",
            "Put one foot directly in front of the other, heel touching toe.",
            "Hold the position until the timer ends.",
        ],
        hold_s=20.0,
        demo_motion="quiet_stance",
    ),
    "walking": Exercise(
        "walking",
        "Walking",
        "timed",
        [
            "Walk at a comfortable pace in a safe, clear space.",
            "Turn around when you need to. The sensor counts your steps.",
        ],
        hold_s=120.0,
        counter="steps",
        demo_motion="walk",
    ),
    "heel_raises": Exercise(
        "heel_raises",
        "Heel raises",
        "repetitions",
        [
            "Hold the back of a chair with both hands.",
            "Rise up onto your toes, then lower your heels slowly.",
            "Press 'One more' after each raise.",
        ],
        target_reps=10,
        counter=None,
        demo_motion="quiet_stance",
    ),
}
#: Used when the therapist has not given the patient a plan.
DEFAULT_PLAN: list[dict[str, Any]] = [
    {"key": "sit_to_stand", "target_reps": 5},
    {"key": "standing_balance", "hold_s": 30.0},
    {"key": "walking", "hold_s": 120.0},
]


def plan_exercises(plan: list[dict[str, Any]] | None) -> list[Exercise]:
    """Exercises of a plan (catalogue entries with the plan's targets applied)."""
    out = []
    for i, item in enumerate(plan or DEFAULT_PLAN):
        key = item.get("key")
        base = CATALOGUE.get(str(key))
        if base is None:
            raise PoiseError(
                f"exercise {i} of the plan is {key!r}, which Poise does not know; "
                f"known: {', '.join(CATALOGUE)}"
            )
        d = base.to_dict()
        d.update({k: v for k, v in item.items() if k in d and v is not None})
        out.append(Exercise(**d))
    return out


@dataclass
class ExerciseResult:
    """What the patient did in one exercise."""

    key: str
    title: str
    completed: bool
    repetitions: int | None
    duration_s: float
    counted_by: str  # "sensor", "patient" or "timer"
    stopped_by: str  # "target", "timer", "time_limit", "patient", "skipped"
    rep_times_s: list[float] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return asdict(self)


class DemoHomeSource:
    """One demo sensor whose motion follows the exercise (no Bluetooth).

    Wraps :class:`poise.sources.ScriptedSource` (scripted motion encoded into real packets
    by the protocol codec, on the session clock); :meth:`set_motion` switches the motion to
    a :mod:`sensors.scenarios` scenario (the home session calls it when an exercise starts).
    ``time_scale`` > 1 runs faster than real time (tests).
    """

    kind = "live"

    def __init__(self, sampling_rate_hz: int = 100, time_scale: float = 1.0, seed: int = 0):
        from poise.sources import ScriptedSource

        self._src = ScriptedSource(
            1,
            sampling_rate_hz=sampling_rate_hz,
            scenario="quiet_stance",
            seed=seed,
            time_scale=time_scale,
        )
        self.seed = seed
        self.description = "demo sensor (scripted motion, no Bluetooth)"

    def start(self, sink: SampleSink) -> None:
        """Declare the sensor and start streaming."""
        self._src.start(sink)

    def stop(self) -> None:
        """Stop streaming."""
        self._src.stop()

    def now_s(self) -> float:
        """Session clock (data seconds)."""
        return self._src.now_s()

    def set_motion(self, scenario: str) -> None:
        """Play ``scenario`` from its start (looping)."""
        from sensors.scenarios import ScenarioSource

        gens = getattr(self._src, "_gens", None)
        if gens:
            gens[0] = ScenarioSource(scenario, self._src.config.sampling_rate_hz, self.seed)


class HomeSession(SampleSink):
    """Model of the home-exercise mode (see the module docstring).

    Parameters
    ----------
    patient
        Pseudonym written into the recording (and used to import it).
    plan
        Exercise plan items (``{"key", "target_reps"|"hold_s", ...}``); default from the
        store's plan for the patient, else :data:`DEFAULT_PLAN`.
    data_dir
        Data folder; the recording goes to ``<data_dir>/home/`` (user-only).
    store
        A :class:`poise.store.Store`; if it holds the patient, :meth:`finish` imports the
        session and the adherence.
    countdown_s
        Seconds of countdown before an exercise starts.
    record
        Write the recording (default ``True``).

    Events
    ------
    sensor(state: str), state(snapshot), tick(snapshot), cue(kind: str, text: str),
    reps(n: int), result(ExerciseResult), finished(path or None), error(str), warning(str).
    """

    EVENTS = ("sensor", "state", "tick", "cue", "reps", "result", "finished", "error", "warning")

    def __init__(
        self,
        *,
        patient: str | None = None,
        plan: list[dict[str, Any]] | None = None,
        data_dir: str | Path | None = None,
        store: Any = None,
        countdown_s: float = 5.0,
        record: bool = True,
    ) -> None:
        from poise.store import resolve_data_dir

        self.events = EventGroup(*self.EVENTS)
        self.store = store
        self.patient = patient
        if plan is None and store is not None and patient is not None:
            try:
                stored = store.plan(patient)
            except PoiseError:
                stored = None
            plan = stored["exercises"] if stored else None
        self.plan = list(plan or DEFAULT_PLAN)
        self.exercises = plan_exercises(self.plan)
        self.data_dir = resolve_data_dir(data_dir)
        self.countdown_s = float(countdown_s)
        self.record = record
        self.results: list[ExerciseResult | None] = [None] * len(self.exercises)
        self.index = 0
        self.state = "connect"  # connect, ready, countdown, active, done, finished
        self.source: Source | None = None
        self.sensor_id: str | None = None
        self.sampling_rate_hz = 100.0
        self._config: Any = None
        self._lock = threading.RLock()
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._chunks: list[np.ndarray] = []
        self._t_state = 0.0
        self._last_count_t = -1e9
        self._last_tick = -1
        self.reps = 0
        self.rep_times_s: list[float] = []
        self._manual_reps = 0
        self._rises: Any = None  # analysis.transitions.StreamingTransitions while active
        self._rises_t0 = 0.0
        #: the recording (:class:`poise.recorder.Recorder`; it opens at the first packet)
        self.recorder: Recorder | None = None
        if record:
            self.recorder = Recorder(
                self._new_recording_path,
                self._recording_metadata,
                sensors=self._header_sensors,
                max_sensors=1,
                on_error=lambda msg: self._queue.put(("error", msg)),
            )
        self.imported_session: Any = None
        self._streaming = False
        self._closed = False

    # ------------------------------------------------------------------ the patient
    @property
    def display_name(self) -> str:
        """The name the patient chose to be greeted with ("" when none or no store)."""
        if self.store is None or not self.patient:
            return ""
        try:
            p = self.store.find_patient(self.patient)
        except PoiseError:
            return ""
        return (p.display_name or "") if p is not None else ""

    def set_display_name(self, name: str) -> str:
        """Keep the name the patient wants to be greeted with (in the store on this
        computer only; exports and recordings carry the pseudonym). Returns it cleaned."""
        if self.store is None or not self.patient or self.store.find_patient(self.patient) is None:
            raise PoiseError("the name can be kept only for a patient of this computer's store")
        return self.store.update_patient(self.patient, display_name=name).display_name

    # ------------------------------------------------------------------ source / sink
    def connect(self, source: Source) -> None:
        """Use ``source`` (a demo or BLE source) and start it."""
        if self.source is not None:
            raise PoiseError("a sensor is already connected")
        self.source = source
        source.start(self)

    def now_s(self) -> float:
        """Session clock (the source's), seconds."""
        try:
            return float(self.source.now_s()) if self.source is not None else 0.0
        except Exception:
            return 0.0

    def add_sensor(self, sensor: SensorDeclaration) -> None:
        """Sink: a sensor is declared (only the first is used: home mode has one)."""
        with self._lock:
            if self.sensor_id is None:
                self.sensor_id = sensor.sensor_id
                self.sampling_rate_hz = float(sensor.sampling_rate_hz)
                self._config = sensor.config

    def push_samples(
        self, sensor_id: str, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray
    ) -> None:
        """Sink: samples on the session clock."""
        if sensor_id != self.sensor_id:
            return
        if not self._streaming:
            self._streaming = True  # ready once data flows, not when merely declared
            self._queue.put(("sensor", "connected"))
        t = np.asarray(t_s, dtype=float)
        rows = np.empty((t.shape[0], 7))
        rows[:, 0] = t
        rows[:, 1:4] = acc_mps2
        rows[:, 4:7] = gyr_radps
        with self._lock:
            if self.state == "active":
                self._chunks.append(rows)

    def open_recording(self, sensors: list[dict[str, Any]]) -> RecordingWriter | None:
        """Sink (BLE sources): open the recording and hand its writer to the source."""
        return None if self.recorder is None else self.recorder.open_recording(sensors)

    def push_packets(
        self, sensor_id: str, packets: Sequence[bytes], host_times_s: float | np.ndarray
    ) -> None:
        """Sink: raw packets for the recording (of the session's one sensor)."""
        if self.recorder is not None:
            self.recorder.push_packets(sensor_id, packets, host_times_s)

    def push_gap(
        self, sensor_id: str, start_s: float, end_s: float, samples: int, reason: str = ""
    ) -> None:
        """Sink: lost samples (recorded)."""
        if self.recorder is not None:
            self.recorder.push_gap(sensor_id, start_s, end_s, samples, reason)

    def push_state(self, sensor_id: str, state: str, **info: Any) -> None:
        """Sink: connection state."""
        if sensor_id == self.sensor_id or self.sensor_id is None:
            self._queue.put(("sensor", state))

    def push_error(self, message: str) -> None:
        """Sink: a failure the patient must see."""
        self._queue.put(("error", message))

    def push_warning(self, message: str) -> None:
        """Sink: a warning."""
        self._queue.put(("warning", message))

    @property
    def recording_path(self) -> Path | None:
        """The recording, once it opened (``None`` when not recorded)."""
        return None if self.recorder is None else self.recorder.path

    def _new_recording_path(self) -> Path:
        make_private_dir(self.data_dir)
        folder = make_private_dir(self.data_dir / "home")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in (self.patient or "patient"))
        return new_recording_path(folder, f"home-{safe}")

    def _header_sensors(self) -> list[dict[str, Any]]:
        """The one sensor of a home session, worn on the lower back."""
        from firmware_protocol.types import SensorConfig

        cfg = self._config or SensorConfig(sampling_rate_hz=int(self.sampling_rate_hz))
        return [{"id": self.sensor_id or "sensor-1", "placement": "lower-back", "config": cfg}]

    def _recording_metadata(self) -> dict[str, Any]:
        return {
            "patient": self.patient,
            "session_kind": "home",
            "home": True,
            "app": "poise home",
            "plan": [e.to_dict() for e in self.exercises],
            "source": getattr(self.source, "description", type(self.source).__name__),
        }

    def _event(self, event: dict[str, Any]) -> None:
        if self.recorder is not None:
            self.recorder.write_event({"t_s": self.now_s(), **event})

    # ------------------------------------------------------------------ patient actions
    @property
    def exercise(self) -> Exercise | None:
        """The current exercise (``None`` when all are done)."""
        return self.exercises[self.index] if self.index < len(self.exercises) else None

    def start_exercise(self) -> None:
        """Start the current exercise (countdown first)."""
        ex = self.exercise
        if ex is None:
            raise PoiseError("all of today's exercises are done")
        if self.sensor_id is None:
            raise PoiseError("the sensor is not connected yet")
        if self.state in ("countdown", "active"):
            return
        set_motion = getattr(self.source, "set_motion", None)  # demo sources only
        if set_motion is not None:
            set_motion(ex.demo_motion)
        self._set_state("countdown")
        self._last_tick = -1
        self.events.cue.emit("countdown", f"{ex.title}. Get ready.")

    def add_rep(self) -> None:
        """The patient counts one repetition (exercises the sensor does not count)."""
        if self.state == "active" and (self.exercise and self.exercise.counter is None):
            self._manual_reps += 1
            self._set_reps(self._manual_reps, self.now_s())

    def stop_exercise(self) -> None:
        """The patient ends the exercise now ("Done"/"Stop")."""
        if self.state == "active":
            self._end_exercise("patient")
        elif self.state == "countdown":
            self._set_state("ready")

    def skip(self) -> None:
        """Skip the current exercise (recorded as not done)."""
        ex = self.exercise
        if ex is None:
            return
        if self.state == "active":
            self._end_exercise("skipped")
            return
        res = ExerciseResult(ex.key, ex.title, False, None, 0.0, "timer", "skipped")
        self._store_result(res)
        self.next_exercise()

    def next_exercise(self) -> None:
        """Go to the next exercise (or the end)."""
        self.index += 1
        self._set_state("ready" if self.exercise is not None else "done_all")

    # ------------------------------------------------------------------ state machine
    def _set_state(self, state: str) -> None:
        self.state = state
        self._t_state = self.now_s()
        if state == "active":
            with self._lock:
                self._chunks = []
            self.reps = 0
            self._manual_reps = 0
            self.rep_times_s = []
            self._last_count_t = -1e9
            self._rises = None
        self.events.state.emit(self.snapshot())

    def _set_reps(self, n: int, t: float) -> None:
        if n != self.reps:
            self.reps = n
            self.events.reps.emit(n)
            self.events.cue.emit("rep", str(n))
            ex = self.exercise
            if (
                ex is not None
                and ex.kind == "repetitions"
                and ex.target_reps
                and n >= ex.target_reps
            ):
                self._end_exercise("target")

    def poll(self) -> None:
        """Drain what the source sent, count, run the timer, emit events (owner thread)."""
        for item in drain(self._queue):
            kind = item[0]
            if kind == "sensor":
                if item[1] == "connected" and self.state == "connect":
                    self._set_state("ready")
                self.events.sensor.emit(item[1])
            elif kind == "error":
                self.events.error.emit(item[1])
            elif kind == "warning":
                self.events.warning.emit(item[1])
        now = self.now_s()
        ex = self.exercise
        if ex is None:
            return
        if self.state == "countdown":
            left = self.countdown_s - (now - self._t_state)
            sec = int(np.ceil(left))
            if sec != self._last_tick and sec > 0:
                self._last_tick = sec
                self.events.cue.emit("tick", str(sec))
            if left <= 0:
                self._set_state("active")
                self._event({"kind": "exercise_start", "exercise": ex.key, "title": ex.title})
                self.events.cue.emit("go", "Start now")
            self.events.tick.emit(self.snapshot())
        elif self.state == "active":
            elapsed = now - self._t_state
            if ex.counter == "sit_to_stand":
                self._count_rises()  # streaming: every poll, only the new samples
            elif ex.counter and now - self._last_count_t >= 0.5:
                self._last_count_t = now
                self._count(ex)
            if self.state != "active":
                return
            if ex.kind == "timed" and ex.hold_s and elapsed >= ex.hold_s:
                self._end_exercise("timer")
            elif elapsed >= ex.max_duration_s:
                self._end_exercise("time_limit")
            else:
                if ex.kind == "timed" and ex.hold_s:
                    half = int(elapsed >= ex.hold_s / 2)
                    if half and self._last_tick != -2:
                        self._last_tick = -2
                        self.events.cue.emit("halfway", "Halfway")
                self.events.tick.emit(self.snapshot())

    def _window(self) -> np.ndarray:
        with self._lock:
            if not self._chunks:
                return np.empty((0, 7))
            if len(self._chunks) > 1:
                self._chunks = [np.concatenate(self._chunks)]
            return self._chunks[0]

    def _count_rises(self) -> None:
        """Feed the new samples to the streaming sit-to-stand counter (every poll)."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
        if not chunks:
            return
        rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        if self._rises is None:  # scipy is imported with the module: no stall here
            self._rises = StreamingTransitions(self.sampling_rate_hz)
            self._rises_t0 = float(rows[0, 0])
        try:
            self._rises.update(rows[:, 1:4], rows[:, 4:7])
        except ValueError as exc:
            log.debug("counting failed: %s", exc)
            return
        self._take_rises()

    def _take_rises(self) -> None:
        for tr in self._rises.new_transitions_:
            if tr.type == "sit-to-stand":
                self.rep_times_s.append(self._rises_t0 + tr.end_s)
        self._set_reps(self._rises.count_, self.now_s())

    def _count(self, ex: Exercise) -> None:
        if ex.counter == "sit_to_stand":
            self._count_rises()
            return
        rows = self._window()
        fs = self.sampling_rate_hz
        if rows.shape[0] < int(2 * fs):
            return
        acc, gyr = rows[:, 1:4], rows[:, 4:7]
        t0 = float(rows[0, 0])
        try:
            if ex.counter == "steps":
                from analysis.gait import GaitAnalyzer

                res = GaitAnalyzer().analyze(acc, gyr, fs).result_
                times = [t0 + float(t) for t in np.asarray(res.initial_contacts_s, dtype=float)]
            else:
                return
        except (ValueError, FloatingPointError) as exc:
            log.debug("counting failed: %s", exc)
            return
        # the offline detector on a growing window may briefly lose an edge transition:
        # the count shown to the patient never goes down
        if len(times) >= len(self.rep_times_s):
            self.rep_times_s = times
        self._set_reps(max(self.reps, len(times)), self.now_s())

    def _end_exercise(self, stopped_by: str) -> None:
        ex = self.exercise
        if ex is None or self.state != "active":
            return
        self.state = "ending"  # the recount below must not end the exercise again
        if ex.counter:
            self._count(ex)
        if ex.counter == "sit_to_stand" and self._rises is not None:
            # the stream ends here: a rise completed just before "Done" counts now
            self._rises.finish()
            self._take_rises()
        duration = self.now_s() - self._t_state
        if ex.kind == "repetitions":
            completed = bool(ex.target_reps and self.reps >= ex.target_reps)
        else:
            completed = stopped_by == "timer"
        res = ExerciseResult(
            key=ex.key,
            title=ex.title,
            completed=completed,
            repetitions=self.reps if (ex.counter or ex.kind == "repetitions") else None,
            duration_s=round(float(duration), 2),
            counted_by="sensor"
            if ex.counter
            else ("patient" if ex.kind == "repetitions" else "timer"),
            stopped_by=stopped_by,
            rep_times_s=[round(float(t), 2) for t in self.rep_times_s]
            if ex.counter == "sit_to_stand"
            else [],
        )
        self._event({"kind": "exercise_stop", "exercise": ex.key, "stopped_by": stopped_by})
        self._event({"kind": "exercise_result", "exercise": ex.key, "result": res.to_dict()})
        self._store_result(res)
        self.state = "done"
        self._t_state = self.now_s()
        self.events.cue.emit("done", "Well done" if completed else "Exercise ended")
        self.events.result.emit(res)
        self.events.state.emit(self.snapshot())

    def _store_result(self, res: ExerciseResult) -> None:
        self.results[self.index] = res

    # ------------------------------------------------------------------ view data
    def snapshot(self) -> dict[str, Any]:
        """What the view shows now."""
        ex = self.exercise
        now = self.now_s()
        d: dict[str, Any] = {
            "state": self.state,
            "index": self.index,
            "n_exercises": len(self.exercises),
            "reps": self.reps,
            "results": [r.to_dict() if r else None for r in self.results],
            "titles": [e.title for e in self.exercises],
        }
        if ex is None:
            d.update(title="All done for today", instructions=[], remaining_s=None)
            return d
        d.update(
            title=ex.title,
            key=ex.key,
            kind=ex.kind,
            instructions=list(ex.instructions),
            target_reps=ex.target_reps,
            hold_s=ex.hold_s,
            counted=bool(ex.counter),
        )
        if self.state == "countdown":
            d["remaining_s"] = max(0.0, self.countdown_s - (now - self._t_state))
        elif self.state == "active":
            el = now - self._t_state
            d["elapsed_s"] = el
            limit = ex.hold_s if ex.kind == "timed" and ex.hold_s else ex.max_duration_s
            d["remaining_s"] = max(0.0, limit - el)
        else:
            d["remaining_s"] = None
        return d

    # ------------------------------------------------------------------ end
    def finish(self) -> Path | None:
        """Stop the sensor, close the recording, import it when the store knows the patient.

        Returns the recording path (``None`` when not recorded).
        """
        if self._closed:
            return self.recording_path
        self._closed = True
        if self.source is not None:
            try:
                self.source.stop()
            except Exception:
                log.exception("stopping the sensor failed")
        if self.recorder is not None:
            done = [r.to_dict() for r in self.results if r is not None]
            self.recorder.close(info={"exercises": done}, t_s=self.now_s())
        path = self.recording_path
        if path is not None and self.store is not None and self.patient:
            try:
                if self.store.find_patient(self.patient) is not None:
                    self.imported_session = import_recording(
                        self.store, path, patient=self.patient, kind="home"
                    )
            except PoiseError as exc:
                self.events.warning.emit(f"the session was saved but not imported: {exc}")
        self.state = "finished"
        self.events.finished.emit(path)
        return path


def result_text(result: dict[str, Any] | None, exercise: Exercise | None = None) -> str:
    """How an exercise went, in words that do not read as a failure: ``"done"``,
    ``"2 of 10 done"``, ``"1:20 of 2:00 done"``, ``"skipped"``, ``""`` before it."""
    if not result:
        return ""
    if result.get("completed"):
        return "done"
    if result.get("stopped_by") == "skipped":
        return "skipped"
    target = exercise.target_reps if exercise is not None else None
    reps = result.get("repetitions")
    if reps is not None and target:
        return f"{reps} of {target} done"
    hold = exercise.hold_s if exercise is not None else None
    dur = float(result.get("duration_s") or 0.0)
    if hold:
        return (
            f"{int(dur // 60)}:{int(dur % 60):02d} of {int(hold // 60)}:{int(hold % 60):02d} done"
        )
    return f"{reps} done" if reps is not None else f"{dur:.0f} s done"


def adherence_calendar(
    store: Store, patient: int | str | Patient, days: int = 28, today: _dt.date | None = None
) -> list[dict[str, Any]]:
    """The last ``days`` days: ``{"date", "done", "planned", "status"}`` per day.

    Days are the patient's calendar days (an exercise is noted on the local date it was
    done, :func:`poise.service.recording_local_date`; ``today`` is this computer's).

    ``status`` is ``"done"`` (every planned exercise completed), ``"partial"``, ``"missed"``
    (a planned day without any exercise) or ``"none"`` (before the plan existed).
    """
    today = today or _dt.date.today()
    start = today - _dt.timedelta(days=days - 1)
    plan = store.plan(patient)
    planned = len(plan["exercises"]) if plan else 0
    created = local_time(plan["created_utc"]) if plan else None
    plan_day = created.date() if created is not None else None
    rows = store.adherence(patient, start, today)
    per: dict[str, set[str]] = {}
    for r in rows:
        if r["completed"]:
            per.setdefault(r["date"], set()).add(r["exercise"])
    out = []
    for i in range(days):
        d = start + _dt.timedelta(days=i)
        done = len(per.get(d.isoformat(), set()))
        if planned and done >= planned:
            status = "done"
        elif done:
            status = "partial"
        elif plan_day is not None and d >= plan_day and d < today:
            status = "missed"
        else:
            status = "none"
        out.append({"date": d.isoformat(), "done": done, "planned": planned, "status": status})
    return out

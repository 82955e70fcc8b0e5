"""The session model: sources, recorder, streaming analysis, guided tests, events. No Qt.

A :class:`Session` owns one *source* (BLE sensors through the stream hub, virtual wearables
through the same BLE stack, or a recording through :class:`poise.player.Player`), the
*recorder* (every live session is recorded by default; the file is the source of truth) and
the *live analysis*. It emits :mod:`poise.events` that views subscribe to.

Threading
---------
Sources run on their own threads (an asyncio loop for BLE, a clock thread for the player).
They call the *sink* methods of :class:`poise.sinks.SampleSink` (:meth:`Session.add_sensor`, :meth:`Session.push_samples`,
:meth:`Session.push_gap`, :meth:`Session.push_state`, ...), which are thread-safe: samples go
into preallocated numpy ring buffers and to the recorder at once; everything else is queued.
Nothing is emitted from a source thread. The owner of the session (the GUI's ``QTimer`` at
about 30 Hz, or a test's loop) calls :meth:`Session.poll`, which drains the queue, feeds the
analysis, advances the guided test, and emits the events on the caller's thread. Views read
the latest samples with :meth:`Session.latest` when they redraw.
"""

from __future__ import annotations

import datetime as _dt
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from analysis.ringbuffer import RingBuffer
from poise.errors import PoiseError
from poise.events import EventGroup
from poise.outputs import make_private_dir
from poise.protocols import PROTOCOLS, ProtocolRun, TestProtocol
from poise.recorder import Recorder, _config_dict, new_recording_path
from poise.sinks import SamplesBlock, SensorDeclaration, Source, drain
from poise.store import default_data_dir
from sensors import placements

if TYPE_CHECKING:
    from sensors.recording import RecordingWriter

log = logging.getLogger(__name__)

#: Placements a sensor can be labelled with (the GUI's choices): the one vocabulary of
#: :mod:`sensors.placements`.
PLACEMENTS = placements.PLACEMENTS

#: Tests of a patient standing still: :meth:`Session.start_warning` checks the motion first.

#: Sensor states shown to the user; sources may use these names.
STATES = (
    "scanning",
    "connecting",
    "streaming",
    "reconnecting",
    "disconnected",
    "failed",
    "replay",
    "ended",
)


# ---------------------------------------------------------------------------- sensors
@dataclass
class SensorInfo:
    """What the session knows about one sensor (read by the sensors panel)."""

    id: str
    placement: str = ""
    sampling_rate_hz: float = 100.0
    config: Any = None
    name: str = ""
    state: str = "connecting"
    battery_pct: float | None = None
    rssi_dbm: float | None = None
    loss_pct: float = 0.0
    packets_per_s: float = 0.0
    samples: int = 0
    gap_samples: int = 0
    gaps: list[dict[str, Any]] = field(default_factory=list)
    last_t_s: float = float("nan")
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        """Short human label: name and placement."""
        where = placements.placement_label(self.placement)
        return f"{self.name or self.id} ({where})"


# ---------------------------------------------------------------------------- adapters
def sensor_header(s: SensorInfo) -> dict[str, Any]:
    """The recording header entry of a sensor."""
    return {
        "id": s.id,
        "name": s.name or s.id,
        "address": s.info.get("address"),
        "placement": s.placement or None,
        "config": _config_dict(s.config, s.sampling_rate_hz),
        "firmware": s.info.get("firmware"),
    }


class LiveMetrics(Protocol):
    """Streaming analysis of the primary sensor (:class:`poise.live.LiveMetricsEngine`)."""

    sway_window_s: float
    #: seconds the trunk has been still at the end of the sway window
    still_s: float

    @property
    def window_samples(self) -> int: ...

    @property
    def heading(self) -> np.ndarray | None: ...

    def reset(self, keep_heading: bool = False) -> None: ...

    def update(
        self, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray
    ) -> dict[str, Any]: ...

    def estimate_heading(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> None: ...

    def body_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None: ...

    def trail(self) -> np.ndarray: ...


# ---------------------------------------------------------------------------- session
class Session:
    """A therapist's session: one source, a recorder, live analysis, guided tests.

    Parameters
    ----------
    data_dir
        Folder for recordings (created user-only, mode 0700). Default
        :func:`poise.store.default_data_dir` ``/recordings`` (honours ``$POISE_DATA_DIR``).
    record
        Record live sources (default ``True``). Replays are never re-recorded.
    window_s
        Seconds of samples kept per sensor for the views and the live analysis.
    demographics
        ``{"age": years, "sex": "f"|"m", "height_m": m, "weight_kg": kg}`` for norms; a patient
        chosen with :meth:`set_patient` replaces them.
    metrics_factory
        ``f(sampling_rate_hz) -> LiveMetrics``; default :func:`poise.live.make_live_metrics`.
    assess
        ``f(recording, test, demographics) -> dict`` computing a test's results; default
        :func:`poise.assessments.run_test` (with the fall-risk summary added).

    Events
    ------
    sensor_added(info), sensor_state(info), sensor_stats(info), samples(blocks: dict[str,
    SamplesBlock]: every sample since the previous poll, per sensor; see :mod:`poise.sinks`),
    metrics(dict), test_started(snapshot), test_progress(snapshot), cue(kind, remaining),
    marker(dict), test_finished(summary), test_result(result), record_event(dict),
    warning(str), error(str), recording(path), reset(position_s), source_changed(kind: "live",
    "replay", or "none" when the source stopped), patient(dict or None).
    """

    EVENTS = (
        "sensor_added",
        "sensor_state",
        "sensor_stats",
        "samples",
        "metrics",
        "test_started",
        "test_progress",
        "cue",
        "marker",
        "test_finished",
        "test_result",
        "record_event",
        "warning",
        "error",
        "recording",
        "reset",
        "source_changed",
        "patient",
    )

    def __init__(
        self,
        *,
        data_dir: str | Path | None = None,
        record: bool = True,
        window_s: float = 30.0,
        demographics: dict[str, Any] | None = None,
        metrics_factory: Callable[[float], LiveMetrics] | None = None,
        assess: Callable[[Any, str, dict], dict] | None = None,
        metrics_period_s: float = 0.25,
    ) -> None:
        self.events = EventGroup(*self.EVENTS)
        self.data_dir = Path(data_dir) if data_dir else default_data_dir()
        self.record = bool(record)
        self.window_s = float(window_s)
        self.demographics: dict[str, Any] = dict(demographics or {})
        #: whose session this is: ``{"pseudonym", "anonymous", "demographics"}``; ``None``
        #: until the therapist chose a patient (or "anonymous"), see :meth:`set_patient`
        self.patient: dict[str, Any] | None = None
        self._metrics_factory = metrics_factory
        self._assess = assess
        self.metrics_period_s = float(metrics_period_s)

        self.source: Source | None = None
        #: the live source's recording (:class:`poise.recorder.Recorder`), from the source's
        #: start until it stops; it opens at the first packet
        self.recorder: Recorder | None = None
        self.recording_path: Path | None = None
        self.sensors: dict[str, SensorInfo] = {}
        self._buffers: dict[str, RingBuffer] = {}
        #: body_axes of sensors without live analysis: (buffer, its total then, axes)
        self._axes_cache: dict[str, tuple[RingBuffer | None, int, Any]] = {}
        self._pending: dict[str, list[np.ndarray]] = {}
        self._lock = threading.RLock()
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._metrics: LiveMetrics | None = None
        self._metrics_sensor: str | None = None
        self._metrics_heights: tuple[Any, Any] = (None, None)
        self._last_metrics_t = -np.inf
        self.metrics: dict[str, Any] = {}
        self.run: ProtocolRun | None = None
        self.last_result: dict[str, Any] | None = None
        self.results: list[dict[str, Any]] = []
        self.warnings: list[str] = []
        self._closed = False
        self._awaiting_result: tuple[dict, float] | None = None
        self._results_recorded = 0  # test results written to the open recording
        self._ended = False  # the source stopped: no live values until the next one

    # ------------------------------------------------------------------ source control
    @property
    def kind(self) -> str:
        """``"live"``, ``"replay"`` or ``"none"``."""
        return getattr(self.source, "kind", "none") if self.source else "none"

    def set_source(self, source: Source) -> None:
        """Stop the current source (closing its recording) and start ``source``."""
        self.stop()
        self._clear_all()
        self._ended = False
        self.source = source
        if source.kind == "live" and self.record:
            self._recordings_folder()  # fail early, on the caller's thread
            self.recorder = Recorder(
                self._new_recording_path,
                self._recording_metadata,
                sensors=lambda: [sensor_header(s) for s in self.sensors.values()],
                on_open=self._recording_opened,
                on_error=lambda msg: self._queue.put(("error", msg)),
                on_warning=lambda msg: self._queue.put(("warning", msg)),
            )
        self.events.source_changed.emit(source.kind)
        source.start(self)

    def stop(self) -> None:
        """Stop the test (results are computed and saved), the source, then the recording."""
        src = self.source
        if src is not None and self.run is not None and not self.run.finished:
            self.stop_test("source stopped")
        if src is not None:
            try:
                src.stop()
            except Exception as exc:  # a failing stop must not lose the recording
                log.exception("stopping the source failed")
                self._queue.put(("error", f"stopping the source failed: {exc}"))
        if self._awaiting_result is not None:  # no more data will come: compute now
            self._awaiting_result = (self._awaiting_result[0], 0.0)
            self._maybe_compute_result()
        end_s = self.now_s()
        had_source = self.source is not None
        self.source = None
        self._close_recorder(end_s)
        if had_source:  # the views forget the ended session's values (steps, speed, time)
            self._ended = True
            self._metrics = None
            self.metrics = {}
            self.events.source_changed.emit("none")

    def close(self) -> None:
        """Stop everything; the session can not be used afterwards."""
        if not self._closed:
            self.stop()
            self._closed = True

    def now_s(self) -> float:
        """Session clock in seconds (the source's clock; data time for replays)."""
        if self.source is None:
            return 0.0
        try:
            return float(self.source.now_s())
        except Exception:
            return 0.0

    # ------------------------------------------------------------------ recorder
    def _recordings_folder(self) -> Path:
        folder = self.data_dir / "recordings"
        try:
            make_private_dir(folder)  # new folders 0o700 at creation; existing ones untouched
        except OSError as exc:
            raise PoiseError(f"can not create the recordings folder {folder}: {exc}") from exc
        return folder

    def open_recording(self, sensors: list[dict[str, Any]]) -> RecordingWriter | None:
        """For sources that write packets themselves (the stream hub): open the recording.

        Returns the :class:`sensors.recording.RecordingWriter` to give the source, or
        ``None`` when this session is not recorded. Gaps and connection events are then
        the source's to write; the session adds its own events (tests, markers, results).
        """
        return None if self.recorder is None else self.recorder.open_recording(sensors)

    def _new_recording_path(self) -> Path:
        """``<data_dir>/recordings/session-<time>[-n].poise``, a name not taken yet."""
        return new_recording_path(self._recordings_folder(), "session")

    def _recording_metadata(self) -> dict[str, Any]:
        """The header when the recording opens (its first packet)."""
        metadata = {
            "app": "poise gui",
            "source": getattr(self.source, "description", type(self.source).__name__),
            "demographics": dict(self.demographics),
            "clock": "session clock: seconds since the source started",
        }
        if self.patient is not None:  # else a ``patient`` event names them later
            metadata["patient"] = self.patient["pseudonym"]
            metadata["anonymous"] = self.patient["anonymous"]
        return metadata

    def _recording_opened(self, path: Path) -> None:
        self._results_recorded = 0
        self.recording_path = path
        self._queue.put(("recording", path))

    def _recording(self) -> bool:
        """The live source's recording is open and written."""
        return self.recorder is not None and self.recorder.recording

    def _close_recorder(self, end_s: float | None = None) -> None:
        rec, self.recorder = self.recorder, None
        if rec is not None:
            rec.close(t_s=end_s)

    # ------------------------------------------------------------------ sink (any thread)
    def add_sensor(self, sensor: SensorDeclaration) -> None:
        """Declare a sensor before its samples arrive (thread-safe)."""
        sensor_id = sensor.sensor_id
        with self._lock:
            known = sensor_id in self.sensors
            info = self.sensors.get(sensor_id) or SensorInfo(sensor_id)
            info.placement = placements.normalise_placement(sensor.placement) or info.placement
            info.sampling_rate_hz = float(sensor.sampling_rate_hz)
            info.config = sensor.config if sensor.config is not None else info.config
            info.name = sensor.name or info.name
            self.sensors[sensor_id] = info
            cap = max(16, int(np.ceil(self.window_s * info.sampling_rate_hz)))
            if sensor_id not in self._buffers or self._buffers[sensor_id].capacity != cap:
                self._buffers[sensor_id] = RingBuffer(cap, 7)
            self._pending.setdefault(sensor_id, [])
        if not known:
            self._queue.put(("sensor_added", sensor_id))

    def push_samples(
        self, sensor_id: str, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray
    ) -> None:
        """Deliver samples of one sensor on the session clock (thread-safe)."""
        t_s = np.asarray(t_s, dtype=float)
        n = t_s.shape[0]
        if n == 0:
            return
        rows = np.empty((n, 7))
        rows[:, 0] = t_s
        rows[:, 1:4] = acc_mps2
        rows[:, 4:7] = gyr_radps
        with self._lock:
            buf = self._buffers.get(sensor_id)
            if buf is None:
                self.add_sensor(SensorDeclaration(sensor_id))
                buf = self._buffers[sensor_id]
            buf.write(rows)
            info = self.sensors[sensor_id]
            info.samples += n
            info.last_t_s = float(t_s[-1])
            pend = self._pending[sensor_id]
            pend.append(rows)
            if len(pend) > 4096:  # nobody polls: keep the newest, like the ring buffer
                del pend[:2048]

    def push_packets(
        self, sensor_id: str, packets: Sequence[bytes], host_times_s: float | np.ndarray
    ) -> None:
        """Raw packets as received, for the recording (thread-safe; session-clock times).

        The recording opens at the first packet, with every sensor declared so far.
        """
        rec = self.recorder
        if rec is not None:
            with self._lock:  # the header reads the sensors
                rec.push_packets(sensor_id, packets, host_times_s)

    def push_gap(
        self, sensor_id: str, start_s: float, end_s: float, samples: int, reason: str = ""
    ) -> None:
        """Report lost samples (thread-safe); they are recorded and shown, never hidden."""
        if self.recorder is not None:
            self.recorder.push_gap(sensor_id, start_s, end_s, samples, reason)
        self._queue.put(("gap", sensor_id, float(start_s), float(end_s), int(samples)))

    def push_state(self, sensor_id: str, state: str, **info: Any) -> None:
        """Report a sensor's connection state (thread-safe)."""
        self._queue.put(("state", sensor_id, state, info))

    def push_stats(self, sensor_id: str, **stats: Any) -> None:
        """Report link statistics: battery_pct, rssi_dbm, loss_pct, packets_per_s (thread-safe)."""
        self._queue.put(("stats", sensor_id, stats))

    def push_record_event(self, event: dict[str, Any]) -> None:
        """An EVENT record met while replaying (thread-safe)."""
        self._queue.put(("record_event", event))

    def push_error(self, message: str) -> None:
        """A source failure the user must see (thread-safe)."""
        self._queue.put(("error", message))

    def push_warning(self, message: str) -> None:
        """Something the user should know, not fatal (thread-safe)."""
        self._queue.put(("warning", message))

    def reset_data(self, position_s: float = 0.0) -> None:
        """Forget buffered samples and analysis state (a replay seek), thread-safe."""
        with self._lock:
            for b in self._buffers.values():
                b.clear()
            for p in self._pending.values():
                p.clear()
        self._queue.put(("reset", float(position_s)))

    def _clear_all(self) -> None:
        with self._lock:
            self.sensors.clear()
            self._buffers.clear()
            self._axes_cache.clear()
            self._pending.clear()
            self._metrics = None
            self._metrics_sensor = None
            self.metrics = {}
            self.recording_path = None

    # ------------------------------------------------------------------ reading
    def latest(self, sensor_id: str, seconds: float | None = None) -> np.ndarray:
        """The newest samples of a sensor, rows ``[t_s, acc xyz, gyr xyz]`` in time order."""
        return self.latest_counted(sensor_id, seconds)[0]

    def latest_counted(
        self, sensor_id: str, seconds: float | None = None
    ) -> tuple[np.ndarray, int]:
        """:meth:`latest` and the number of rows the buffer received up to its last row
        (the first row is then the ``count - len(rows)``-th: an index that stays with the
        samples as the window moves, for a view's decimation bins)."""
        with self._lock:
            buf = self._buffers.get(sensor_id)
            if buf is None:
                return np.empty((0, 7)), 0
            n = None
            if seconds is not None:
                n = int(np.ceil(seconds * self.sensors[sensor_id].sampling_rate_hz))
            return buf.latest(n), buf.total

    def sway_trail(self) -> np.ndarray:
        """The biofeedback trail ``(n, 2)`` (AP, ML) of the primary sensor, m/s^2."""
        m = self._metrics
        return np.empty((0, 2)) if m is None else m.trail()

    def body_axes(
        self, sensor_id: str | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """``(up, ap, ml)`` unit vectors in a sensor's frame: the axes its signals are drawn
        along, or ``None`` before they are known.

        The primary sensor (default) has the live analysis' body frame (the one its sway
        trail uses); any other sensor, and the primary one until that frame is known, the
        frame of its last 10 s
        (:func:`analysis.orientation.frame_from_acc`: gravity, and the axis nearest the
        horizontal as forward), found again after each second of new samples (as the live
        analysis renews its frame; views ask every frame).
        """
        sid = self.primary_sensor() if sensor_id is None else sensor_id
        m = self._metrics
        if sid is not None and sid == self._metrics_sensor and m is not None:
            axes = m.body_axes()
            if axes is not None:
                return axes
        if sid is None or sid not in self.sensors:
            return None
        with self._lock:
            buf = self._buffers.get(sid)
            total = -1 if buf is None else buf.total
            fs = self.sensors[sid].sampling_rate_hz
        cached = self._axes_cache.get(sid)
        if cached is not None and cached[0] is buf and 0 <= total - cached[1] < fs:
            return cached[2]
        from analysis.orientation import frame_from_acc

        axes = frame_from_acc(self.latest(sid, 10.0)[:, 1:4])
        if axes is not None:
            self._axes_cache[sid] = (buf, total, axes)
        return axes

    def stillness(self) -> tuple[float, int]:
        """``(seconds still, samples)`` of the primary sensor's live window: how long the
        trunk has been still at its end (:func:`analysis.clinical.base.still_tail_s`) and
        how many samples it holds (``(0.0, 0)`` before the live analysis runs)."""
        m = self._metrics
        return (0.0, 0) if m is None else (float(m.still_s), int(m.window_samples))

    def primary_sensor(self) -> str | None:
        """The sensor the live analysis uses: the lower-back one, else the first."""
        with self._lock:
            for sid, info in self.sensors.items():
                if placements.is_lower_back(info.placement):
                    return sid
            return next(iter(self.sensors), None)

    def set_patient(
        self, pseudonym: str | None, demographics: dict[str, Any] | None = None
    ) -> None:
        """Say whose session this is; ``pseudonym=None`` makes it anonymous.

        The patient's ``demographics`` (age, sex, height, weight) become the ones the norms
        and the step length use; an anonymous session has none, so norms that need age or
        sex are not rated. The recording names the patient: in its header when it opens
        later, else in a ``patient`` event now (readers take the latest,
        :func:`poise.assessments.recording_patient`).

        Raises
        ------
        PoiseError
            The recording already holds test results of another patient (end the session
            to start one for the new patient).
        """
        name = str(pseudonym).strip() if pseudonym is not None else ""
        demo = {k: v for k, v in (demographics or {}).items() if v is not None} if name else {}
        new = {"pseudonym": name or None, "anonymous": not name, "demographics": demo}
        if new == self.patient:
            return
        old = self.patient or {}
        if (
            self.kind == "live"
            and self._recording()
            and self._results_recorded
            and old.get("pseudonym") != new["pseudonym"]
        ):
            who = old.get("pseudonym") or "an anonymous patient"
            raise PoiseError(
                f"this session's tests belong to {who}; end the session to start one for "
                f"{new['pseudonym'] or 'an anonymous patient'}"
            )
        self.patient = new
        self.demographics = dict(demo)
        self._write_event(
            {
                "kind": "patient",
                "patient": new["pseudonym"],
                "anonymous": new["anonymous"],
                "demographics": dict(demo),
            }
        )
        self.events.patient.emit(dict(new))

    def set_placement(self, sensor_id: str, placement: str) -> None:
        """Label where a sensor is worn (recorded as an event)."""
        placement = placements.normalise_placement(placement)
        if placement and placement not in PLACEMENTS:
            raise ValueError(f"unknown placement {placement!r}; expected one of {list(PLACEMENTS)}")
        with self._lock:
            if sensor_id not in self.sensors:
                raise ValueError(f"no sensor {sensor_id!r} in this session")
            self.sensors[sensor_id].placement = placement
        self._write_event({"kind": "placement", "sensor": sensor_id, "placement": placement})
        self._metrics = None  # the primary sensor may have changed
        self.events.sensor_state.emit(self.sensors[sensor_id])

    # ------------------------------------------------------------------ poll (owner thread)
    def poll(self) -> None:
        """Drain what the sources sent, run the analysis and the test, emit the events."""
        for item in drain(self._queue):
            self._handle(item)
        with self._lock:
            new = {sid: p[:] for sid, p in self._pending.items() if p}
            for sid in new:
                self._pending[sid].clear()
        if new:
            self.events.samples.emit(
                {
                    sid: SamplesBlock.from_rows(sid, c[0] if len(c) == 1 else np.concatenate(c))
                    for sid, c in new.items()
                }
            )
        self._update_metrics(new)
        self._update_test()
        self._maybe_compute_result()

    def _handle(self, item: tuple) -> None:
        kind = item[0]
        if kind == "sensor_added":
            info = self.sensors.get(item[1])
            if info is not None:
                self.events.sensor_added.emit(info)
        elif kind == "state":
            _, sid, state, extra = item
            info = self.sensors.get(sid)
            if info is None:
                self.add_sensor(SensorDeclaration(sid))
                info = self.sensors[sid]
            old, info.state = info.state, state
            info.info.update(extra)
            if state != old:
                if state in ("reconnecting", "disconnected", "failed"):
                    msg = f"Sensor {info.label} is {state}"
                    if extra.get("reason"):
                        msg += f": {extra['reason']}"
                    self._warn(msg)
                    if self.run is not None and not self.run.finished:
                        self._write_event(
                            {"kind": "test_sensor_state", "sensor": sid, "state": state}
                        )
                if self.kind == "live" and not (self.recorder and self.recorder.source_writes):
                    self._write_event({"kind": "connection", "sensor_id": sid, "state": state})
            self.events.sensor_state.emit(info)
        elif kind == "stats":
            _, sid, stats = item
            info = self.sensors.get(sid)
            if info is not None:
                for k, v in stats.items():
                    if hasattr(info, k) and k not in ("id", "gaps"):
                        setattr(info, k, v)
                    else:
                        info.info[k] = v
                self.events.sensor_stats.emit(info)
        elif kind == "gap":
            _, sid, start, end, samples = item
            info = self.sensors.get(sid)
            if info is not None:
                info.gaps.append({"start_s": start, "end_s": end, "samples": samples})
                info.gap_samples += samples
            if self.run is not None and not self.run.finished and end >= self.run.start_s:
                self.run.note_gap(sid, start, end, samples)
                self._write_event(
                    {
                        "kind": "test_gap",
                        "t_s": start,
                        "sensor": sid,
                        "start_s": start,
                        "end_s": end,
                        "samples": samples,
                    }
                )
                self._warn(
                    f"Sensor {sid} lost {samples} samples ({end - start:.2f} s) during the test; "
                    "the result is marked."
                )
            if info is not None:
                self.events.sensor_stats.emit(info)
        elif kind == "record_event":
            self._on_record_event(item[1])
        elif kind == "error":
            self.warnings.append(item[1])
            self.events.error.emit(item[1])
        elif kind == "warning":
            self._warn(item[1])
        elif kind == "recording":
            self.events.recording.emit(item[1])
        elif kind == "reset":
            if self._metrics is not None:
                # a seek: the sensor is worn as before, so the body frame stays what the
                # live path found (else AP and ML can swap when the pre-roll is a walk)
                self._metrics.reset(keep_heading=self.kind == "replay")
                self._restore_heading()
            self._last_metrics_t = -np.inf
            self.metrics = {}
            self.events.reset.emit(item[1])

    def _restore_heading(self) -> None:
        """A replay seek before the live path had found the heading: take it from the
        recording's first sway window, as playing from the start would."""
        m, sid = self._metrics, self._metrics_sensor
        rec = self._replayed_recording() if self.kind == "replay" else None
        if m is None or rec is None or m.heading is not None:
            return
        sensor = next((x for x in rec.sensors if x.id == sid), None)
        if sensor is None or sid is None:
            return
        n = int(round(m.sway_window_s * self.sensors[sid].sampling_rate_hz))
        acc, gyr = np.asarray(sensor.acc_mps2[:n]), np.asarray(sensor.gyr_radps[:n])
        if acc.shape[0] >= n // 2 and np.isfinite(acc).all(axis=1).mean() > 0.5:
            m.estimate_heading(acc, gyr)

    def _warn(self, message: str) -> None:
        self.warnings.append(message)
        self.events.warning.emit(message)

    # ------------------------------------------------------------------ live analysis
    def _update_metrics(self, new: dict[str, list[np.ndarray]]) -> None:
        sid = self.primary_sensor()
        if sid is None or self._ended:  # an ended session has no live values
            return
        # the patient's sensor height (or body height) sets the live step length and speed,
        # as in the results computed at the end of a test; it may be set during the session
        heights = (self.demographics.get("sensor_height_m"), self.demographics.get("height_m"))
        stale = self._metrics_factory is None and heights != self._metrics_heights
        if self._metrics is None or self._metrics_sensor != sid or stale:
            factory = self._metrics_factory
            if factory is None:
                from poise.live import make_live_metrics

                def factory(fs: float) -> LiveMetrics:
                    return make_live_metrics(fs, sensor_height_m=heights[0], height_m=heights[1])

            self._metrics = factory(self.sensors[sid].sampling_rate_hz)
            self._metrics_sensor = sid
            self._metrics_heights = heights
            # start from what is buffered, so a placement change keeps the window
            chunks = [self.latest(sid)]
        else:
            chunks = new.get(sid, [])
        if not chunks:
            return
        rows = np.concatenate(chunks) if len(chunks) > 1 else chunks[0]
        if rows.shape[0] == 0:
            return
        try:
            m = self._metrics.update(rows[:, 0], rows[:, 1:4], rows[:, 4:7])
        except Exception as exc:
            log.exception("live analysis failed")
            self._metrics = None
            self._warn(f"live analysis failed and restarts: {exc}")
            return
        t = float(rows[-1, 0])
        if m and t - self._last_metrics_t >= self.metrics_period_s:
            self._last_metrics_t = t
            self.metrics = dict(m)
            self.metrics["session_time_s"] = self.now_s()
            self.metrics["sensor"] = sid
            self.events.metrics.emit(self.metrics)

    # ------------------------------------------------------------------ guided tests
    def start_test(self, test: str | TestProtocol) -> ProtocolRun:
        """Start a guided test now (a countdown first). Raises ``PoiseError`` if not possible."""
        protocol = PROTOCOLS.get(test) if isinstance(test, str) else test
        if protocol is None:
            raise PoiseError(f"unknown test {test!r}; choose one of {', '.join(PROTOCOLS)}")
        if self.source is None or not self.sensors:
            raise PoiseError("connect a sensor (or open a recording) before starting a test")
        if self.run is not None and not self.run.finished:
            raise PoiseError(f"a test is already running: {self.run.protocol.title}")
        now = self.now_s()
        self.run = ProtocolRun(protocol, now)
        self._write_event(
            {"kind": "test_start", "t_s": now, "test": protocol.key, "title": protocol.title}
        )
        self.events.test_started.emit(self.run.snapshot())
        self._apply(self.run.update(now))
        return self.run

    def start_warning(self, test: str | TestProtocol) -> str | None:
        """Why now is a bad moment to start ``test``, or ``None``.

        Quiet-stance tests (the mCTSIB conditions and the 4-stage balance test) measure a
        patient standing still: while the live gait analysis sees the patient walking, the
        GUI asks first. Brief movements (repositioning the feet between the 4-stage
        positions, as the protocol asks) are not a reason.
        """
        protocol = PROTOCOLS.get(test) if isinstance(test, str) else test
        if protocol is not None and protocol.quiet_stance and self.metrics.get("walking"):
            return "the patient is walking"
        return None

    def next_stage(self) -> None:
        """End the current open-ended stage (therapist's Stop/Next)."""
        if self.run is not None and not self.run.finished:
            self._apply(self.run.next_stage(self.now_s()))

    def stop_test(self, reason: str = "stopped") -> None:
        """Stop the running test now; results are computed on what was measured."""
        if self.run is not None and not self.run.finished:
            self._apply(self.run.stop(self.now_s(), reason))

    def add_marker(self, kind: str, text: str = "") -> None:
        """Add a marker ("lost_balance", "assisted", "note" with text) at the current time."""
        now = self.now_s()
        if self.run is not None and not self.run.finished:
            self._apply(self.run.mark(now, kind, text))
        else:
            from poise.protocols import MARKER_KINDS

            if kind not in MARKER_KINDS:
                raise ValueError(f"unknown marker kind {kind!r}")
            ev = {"kind": "marker", "t_s": now, "marker": kind, "text": text, "stage": None}
            self._write_event(ev)
            self.events.marker.emit(ev)

    def _update_test(self) -> None:
        if self.run is None or self.run.finished:
            return
        self._apply(self.run.update(self.now_s()))
        if self.run is not None and not self.run.finished:
            self.events.test_progress.emit(self.run.snapshot())

    def _apply(self, happenings: list[dict[str, Any]]) -> None:
        run = self.run
        assert run is not None
        for h in happenings:
            typ = h["type"]  # a ProtocolRun happening, not a record
            if typ == "tick":
                self.events.cue.emit("tick", h["remaining"])
            elif typ == "stage_start":
                self._write_event({"kind": "stage_start", "t_s": h["t_s"], "stage": h["stage"]})
                self.events.cue.emit("start", 0)
            elif typ == "stage_end":
                self._write_event(
                    {
                        "kind": "stage_end",
                        "t_s": h["t_s"],
                        "stage": h["stage"],
                        "ended_by": h["ended_by"],
                    }
                )
                self.events.cue.emit("stop", 0)
            elif typ == "marker":
                ev = {
                    "kind": "marker",
                    "t_s": h["t_s"],
                    "marker": h["kind"],
                    "text": h["text"],
                    "stage": h["stage"],
                }
                self._write_event(ev)
                self.events.marker.emit(ev)
            elif typ == "finished":
                summary = run.summary()
                self._write_event({"kind": "test_stop", "t_s": h["t_s"], **summary})
                self.events.test_progress.emit(run.snapshot())
                self.events.test_finished.emit(summary)
                # results wait until the data up to the end has arrived (or 2 s of wall time)
                self._awaiting_result = (
                    summary,
                    time.monotonic() + 2.0 + _post_run_margin_s(),
                )
                self._maybe_compute_result()

    def _maybe_compute_result(self) -> None:
        if self._awaiting_result is None:
            return
        summary, deadline = self._awaiting_result
        # the results use data up to the margin after the stop (see _compute_result)
        end_s = float(summary.get("end_s") or 0.0) + _post_run_margin_s()
        with self._lock:
            behind = [
                sid
                for sid, info in self.sensors.items()
                if info.state == "streaming" and not (info.last_t_s >= end_s)
            ]
        if behind and time.monotonic() < deadline:
            return
        self._awaiting_result = None
        self._compute_result(summary)

    def _write_event(self, event: dict[str, Any]) -> None:
        if "t_s" not in event:
            event = {"t_s": self.now_s(), **event}
        if self.kind == "live" and self.recorder is not None:
            self.recorder.write_event(event)

    def _on_record_event(self, event: dict[str, Any]) -> None:
        """An event from a replayed recording: show it; recompute saved results."""
        self.events.record_event.emit(event)
        if event.get("kind") == "test_result" and self.kind == "replay":
            summary = event.get("run") or {
                "test": event.get("test"),
                "start_s": event.get("start_s"),
                "end_s": event.get("end_s"),
            }
            self._compute_result(dict(summary), saved=event)

    def _recording_for_results(self) -> Any:
        if self.kind == "replay":
            return self.source.recording  # type: ignore[union-attr]
        if self.recorder is None or not self._recording() or self.recording_path is None:
            raise PoiseError("results need the recording, but this session is not recorded")
        self.recorder.flush()
        from sensors.recording import load_recording

        return load_recording(self.recording_path)

    def _compute_result(self, summary: dict[str, Any], saved: dict | None = None) -> None:
        """Compute a test's results from the recording (the source of truth) and emit them.

        ``saved`` is the ``test_result`` event of a replayed recording: the test is
        recomputed with the patient data saved with it (so the norms are the same), and the
        result says whether, and in which values, it differs from the saved one.
        """
        test = str(summary.get("test"))
        start_s = float(summary.get("start_s") or 0.0)
        end_s = float(summary.get("end_s") or start_s)
        patient = dict(self.patient) if self.patient is not None else None
        demo = dict(self.demographics)
        if saved is not None:
            patient, demo = _saved_patient(saved, self._replayed_recording(), demo)
        out: dict[str, Any] = {
            "test": test,
            "title": PROTOCOLS[test].title if test in PROTOCOLS else test,
            "start_s": start_s,
            "end_s": end_s,
            "run": summary,
            "demographics": demo,
            "patient": patient,
            "source": self.kind,
        }
        t0 = time.perf_counter()
        try:
            recording = self._recording_for_results()
            out["run_utc"] = _utc_at(recording, start_s)
            # with the data just after the stop: a TUG stopped the moment the patient sits
            # needs it to find the stand-to-sit (the run's own events end at end_s)
            segment = crop_recording(recording, start_s, end_s + _post_run_margin_s())
            assess = self._assess
            if assess is None:
                from poise.assessments import run_test, session_fall_risk, stored_results

                out["result"] = run_test(segment, test, demo)
                try:
                    # the session's fall-risk factors so far: the tests saved before this
                    # one and this one, decided by the one function every screen uses
                    results = {**stored_results(recording, until_s=start_s), test: out["result"]}
                    out["fall_risk"] = session_fall_risk(recording, demo, results=results)
                except Exception as exc:  # the summary is secondary to the test itself
                    log.exception("fall-risk summary failed")
                    out["fall_risk"] = {"error": str(exc)}
            else:
                out["result"] = assess(segment, test, demo)
        except Exception as exc:
            log.exception("computing the %s results failed", test)
            out["error"] = f"computing the results failed: {exc}"
        out["compute_s"] = time.perf_counter() - t0
        if saved is not None:
            out["saved_result"] = saved.get("result")
            diffs = json_differences(saved.get("result"), out.get("result"))
            if saved.get("fall_risk") and out.get("fall_risk"):
                diffs += fall_risk_differences(saved["fall_risk"], out["fall_risk"])
            out["differences"] = diffs
            out["matches_saved"] = not diffs
        else:
            self._write_event(
                {
                    "kind": "test_result",
                    "t_s": end_s,
                    "test": test,
                    "start_s": start_s,
                    "end_s": end_s,
                    "run": summary,
                    "result": out.get("result"),
                    "fall_risk": out.get("fall_risk"),
                    "error": out.get("error"),
                    # what the norms were computed with, so a replay recomputes the same
                    "patient": (patient or {}).get("pseudonym"),
                    "anonymous": bool((patient or {}).get("anonymous", False)),
                    "demographics": demo,
                }
            )
            if self._recording():
                self._results_recorded += 1
                self.recorder.flush()  # type: ignore[union-attr]
        self.last_result = out
        self.results.append(out)
        self.events.test_result.emit(out)

    def _replayed_recording(self) -> Any:
        return getattr(self.source, "recording", None)


# ---------------------------------------------------------------------------- helpers
def _post_run_margin_s() -> float:
    from poise.assessments import POST_RUN_MARGIN_S

    return POST_RUN_MARGIN_S


def crop_recording(recording: Any, start_s: float, end_s: float) -> Any:
    """A copy of ``recording`` holding only ``[start_s, end_s]`` (samples, gaps, events).

    Times stay on the original clock, so results quote the session's times.
    """
    import dataclasses

    sensors = []
    for s in recording.sensors:
        t = np.asarray(s.t_s)
        i0 = int(np.searchsorted(t, start_s, side="left"))
        i1 = int(np.searchsorted(t, end_s, side="right"))
        sensors.append(
            dataclasses.replace(
                s,
                t_s=t[i0:i1],
                acc_mps2=s.acc_mps2[i0:i1],
                gyr_radps=s.gyr_radps[i0:i1],
                gaps=[g for g in (s.gaps or []) if g.end_s >= start_s and g.start_s <= end_s],
            )
        )
    events = [
        e
        for e in (recording.events or [])
        if e.get("t_s") is not None and start_s <= float(e["t_s"]) <= end_s
    ]
    return dataclasses.replace(recording, sensors=sensors, events=events)


def _saved_patient(
    event: dict[str, Any], recording: Any, fallback: dict[str, Any]
) -> tuple[dict[str, Any] | None, dict[str, Any]]:
    """The patient and demographics a saved test result was computed with.

    A result saved by this version carries them; an older one falls back to the recording's
    patient data (header or ``patient`` event), then to the session's demographics.
    """
    if isinstance(event.get("demographics"), dict):
        demo = {k: v for k, v in event["demographics"].items() if v is not None}
        anonymous = bool(event.get("anonymous", False))
        name = event.get("patient")
    else:
        from poise.assessments import recording_patient

        who = recording_patient(recording) if recording is not None else {}
        demo = dict(who.get("demographics") or {}) or dict(fallback)
        name, anonymous = who.get("pseudonym"), bool(who.get("anonymous", False))
    patient = None
    if name or anonymous:
        patient = {"pseudonym": name or None, "anonymous": not name, "demographics": demo}
    return patient, demo


def _utc_at(recording: Any, t_s: float) -> str | None:
    """UTC time (ISO, seconds) of recording time ``t_s``, from the header's start."""
    meta = getattr(recording, "metadata", None) or {}
    start = meta.get("start") if isinstance(meta, dict) else None
    epoch = (start or {}).get("epoch_s") if isinstance(start, dict) else None
    if epoch is None:
        return None
    try:
        t = _dt.datetime.fromtimestamp(float(epoch) + float(t_s), _dt.UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return t.replace(microsecond=0).isoformat()


def json_differences(
    saved: Any, now: Any, path: str = "", rel: float = 1e-4
) -> list[dict[str, Any]]:
    """The values in which ``now`` differs from ``saved``: ``[{"key", "saved", "now"}]``.

    Deep comparison of JSON-like values; floats agree within ``rel`` (relative; the clock fit
    of a complete file differs from that of the partial file a live result was computed on
    by about 1e-7), NaN equals NaN. Keys of lists are ``name[i]``.
    """
    if isinstance(saved, dict) and isinstance(now, dict):
        out: list[dict[str, Any]] = []
        for k in list(saved) + [k for k in now if k not in saved]:
            key = f"{path}.{k}" if path else str(k)
            if k not in now or k not in saved:
                out.append({"key": key, "saved": saved.get(k), "now": now.get(k)})
            else:
                out += json_differences(saved[k], now[k], key, rel)
        return out
    if isinstance(saved, list | tuple) and isinstance(now, list | tuple):
        if len(saved) != len(now):
            return [{"key": f"{path} (count)", "saved": len(saved), "now": len(now)}]
        out = []
        for i, (x, y) in enumerate(zip(saved, now)):
            out += json_differences(x, y, f"{path}[{i}]", rel)
        return out
    return [] if _json_equal(saved, now, rel) else [{"key": path, "saved": saved, "now": now}]


def fall_risk_differences(saved: dict[str, Any], now: dict[str, Any]) -> list[dict[str, Any]]:
    """Differences in the fall-risk level and in each factor's value and status."""
    out = []
    if saved.get("level") != now.get("level"):
        out.append({"key": "fall-risk level", "saved": saved.get("level"), "now": now.get("level")})

    def factors(fr: dict[str, Any]) -> dict[str, Any]:
        return {
            f.get("key"): {"value": f.get("value"), "status": f.get("status")}
            for f in fr.get("factors") or []
        }

    for d in json_differences(factors(saved), factors(now)):
        out.append({**d, "key": f"fall-risk factor {d['key']}"})
    return out


def _json_equal(a: Any, b: Any, rel: float = 1e-4) -> bool:
    """Deep equality of JSON-like values, floats within a relative tolerance, NaN == NaN.

    The tolerance absorbs the clock fit of the complete file (replay) differing slightly
    from that of the partial file the live result was computed on (~1e-7 relative).
    """
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k], rel) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_json_equal(x, y, rel) for x, y in zip(a, b))
    if isinstance(a, bool) or isinstance(b, bool):
        return a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        if a != a and b != b:
            return True
        return abs(a - b) <= rel * max(1.0, abs(a), abs(b))
    return a == b

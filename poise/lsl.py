"""Lab Streaming Layer outlets: Poise's stream for LabRecorder and other LSL tools.

:class:`LslOutlet` publishes, while Poise streams:

* one stream per sensor: type ``IMU``, six ``float32`` channels (``acc_x``, ``acc_y``,
  ``acc_z`` in m/s^2, type ``ACCEL``; ``gyr_x``, ``gyr_y``, ``gyr_z`` in rad/s, type
  ``GYRO``; sensor frame, gravity included), the sensor's nominal rate, ``source_id`` the
  device's address (the sensor id when the address is unknown: a replay, scripted
  sensors) so an inlet reconnects to the same sensor; the description also holds the
  placement, the sensor id and the acquisition software;
* ``Poise markers`` (type ``Markers``, one string channel, irregular rate): ``session_start``
  and ``session_stop``, ``test_start`` / ``test_stop``, ``stage_start`` / ``stage_stop``, the
  therapist's markers and notes; each sample is a JSON object (``{"kind": "marker",
  "marker": "note", "text": "...", ...}``);
* ``Poise metrics`` (type ``Metrics``, irregular rate): the live values of the session's
  primary sensor, channels :data:`METRIC_CHANNELS` (NaN when unknown).

**Times.** Samples carry their time on Poise's aligned timeline (the sensor's clock
mapped to the host's by :class:`sensors.clock.ClockModel`; not the time a notification
arrived), translated to LSL's clock: ``lsl_s = t_s + offset_s`` with ``offset_s =
t0_monotonic + (pylsl.local_clock() - time.monotonic())`` where the timeline starts at
``t0_monotonic``; both clocks are the host's monotonic clock on Linux, so the offset only
removes the origin. An inlet's ``time_correction`` then maps them to its own machine.

The outlet is a sink of the sink seam (the methods of ``poise.sinks.SampleSink``:
``add_sensor``, ``push_samples``, ``push_record_event``, ``reset_data``, the rest no-ops):
``poise record --lsl`` feeds it from the stream hub (:meth:`LslOutlet.on_block`, which
also runs the live metrics itself), ``poise gui --lsl`` from the session's events
(:func:`attach_to_session`). ``pylsl`` is the optional extra ``poise[lsl]``; its wheels
bring liblsl.

References
----------
Kothe C., Shirazi S. Y., Stenner T., et al. (2024). The Lab Streaming Layer for
synchronized multimodal recording. bioRxiv 2024.02.13.580071. Stream description
conventions: sccn/xdf wiki, "Meta-data" (``channels/channel/label, type, unit``).
"""

from __future__ import annotations

import json
import math
import socket
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from poise.errors import PoiseError
from poise.sinks import SamplesBlock, SampleSink, SensorDeclaration

if TYPE_CHECKING:
    pass

__all__ = [
    "IMU_CHANNELS",
    "METRIC_CHANNELS",
    "LslOutlet",
    "attach_to_session",
    "publish_session",
    "require_pylsl",
]

#: (label, type, unit) of the six channels of a sensor's stream.
IMU_CHANNELS = (
    ("acc_x", "ACCEL", "m/s^2"),
    ("acc_y", "ACCEL", "m/s^2"),
    ("acc_z", "ACCEL", "m/s^2"),
    ("gyr_x", "GYRO", "rad/s"),
    ("gyr_y", "GYRO", "rad/s"),
    ("gyr_z", "GYRO", "rad/s"),
)
#: (metric key of the live values, unit) of the metrics stream's channels.
METRIC_CHANNELS = (
    ("sway_rms_mps2", "m/s^2"),
    ("sway_rms_ap_mps2", "m/s^2"),
    ("sway_rms_ml_mps2", "m/s^2"),
    ("sway_ellipse_area_m2ps4", "m^2/s^4"),
    ("sway_valid", "bool"),
    ("steps", "count"),
    ("cadence_spm", "steps/min"),
    ("speed_mps", "m/s"),
    ("walking", "bool"),
)


def require_pylsl() -> Any:
    """The ``pylsl`` module, or a :class:`PoiseError` saying how to install it."""
    try:
        import pylsl
    except ImportError:
        raise PoiseError(
            "--lsl needs the Lab Streaming Layer library: pip install 'poise[lsl]'"
        ) from None
    except RuntimeError as exc:  # pylsl without a loadable liblsl
        raise PoiseError(f"--lsl: the Lab Streaming Layer library can not load: {exc}") from None
    return pylsl


def _float(v: Any) -> float:
    if isinstance(v, bool):
        return 1.0 if v else 0.0
    try:
        x = float(v)
    except (TypeError, ValueError):
        return math.nan
    return x if math.isfinite(x) else math.nan


class LslOutlet(SampleSink):
    """LSL outlets of one Poise session (see the module docstring).

    Parameters
    ----------
    name
        Prefix of the stream names (``"Poise"``: ``Poise lower-back``, ``Poise markers``).
    t0_monotonic
        ``time.monotonic()`` at the start of the timeline the samples' ``t_s`` are on; None:
        the timeline starts now (:meth:`set_time_origin` changes it).
    addresses
        Device address per sensor id (the streams' ``source_id``).
    live_metrics
        Run the live metrics (:func:`poise.live.make_live_metrics`) on the first lower-back
        sensor (else the first sensor) and publish them; ``False`` when the owner pushes them
        (:meth:`push_metrics`, e.g. the session's own).
    """

    def __init__(
        self,
        name: str = "Poise",
        *,
        t0_monotonic: float | None = None,
        addresses: dict[str, str] | None = None,
        live_metrics: bool = False,
        metrics_period_s: float = 0.5,
    ) -> None:
        self.pylsl = require_pylsl()
        self.name = name
        self.addresses = dict(addresses or {})
        self.live_metrics = live_metrics
        self.metrics_period_s = float(metrics_period_s)
        self.set_time_origin(time.monotonic() if t0_monotonic is None else t0_monotonic)
        self._lock = threading.Lock()
        self.outlets: dict[str, Any] = {}
        self.infos: dict[str, dict[str, Any]] = {}
        self.samples_sent: dict[str, int] = {}
        self.last_t_s: dict[str, float] = {}
        self._engine: Any = None
        self._engine_sensor: str | None = None
        self._last_metrics_t = -math.inf
        host = socket.gethostname()
        lsl = self.pylsl
        info = lsl.StreamInfo(
            f"{name} markers",
            "Markers",
            1,
            lsl.IRREGULAR_RATE,
            lsl.cf_string,
            f"{host}-poise-markers",
        )
        info.desc().append_child_value("manufacturer", "Poise")
        info.desc().append_child("channels").append_child("channel").append_child_value(
            "label", "event"
        ).append_child_value("type", "Marker").append_child_value("format", "json")
        self.markers = lsl.StreamOutlet(info)
        info = lsl.StreamInfo(
            f"{name} metrics",
            "Metrics",
            len(METRIC_CHANNELS),
            lsl.IRREGULAR_RATE,
            lsl.cf_float32,
            f"{host}-poise-metrics",
        )
        chans = info.desc().append_child("channels")
        for key, unit in METRIC_CHANNELS:
            chans.append_child("channel").append_child_value("label", key).append_child_value(
                "unit", unit
            )
        info.desc().append_child_value("manufacturer", "Poise")
        self.metrics = lsl.StreamOutlet(info)

    def wait_for_consumers(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` until every stream has an inlet (LabRecorder started
        before the sensors); True if they all have one."""
        end = time.monotonic() + float(timeout_s)
        with self._lock:
            outlets = [*self.outlets.values(), self.markers, self.metrics]
        for o in outlets:
            if not o.wait_for_consumers(max(end - time.monotonic(), 0.0)):
                return False
        return True

    # ------------------------------------------------------------------ clock
    def set_time_origin(self, t0_monotonic: float) -> None:
        """The timeline of ``t_s`` starts at ``t0_monotonic`` (``time.monotonic()`` s)."""
        lsl = self.pylsl
        # the two clocks read back to back, the pair with the shortest read kept
        best = (math.inf, 0.0)
        for _ in range(5):
            a = time.monotonic()
            b = lsl.local_clock()
            c = time.monotonic()
            best = min(best, (c - a, b - (a + c) / 2))
        self.offset_s = float(t0_monotonic) + best[1]

    def lsl_time(self, t_s: float | np.ndarray) -> Any:
        """LSL time of timeline seconds."""
        return np.asarray(t_s, dtype=float) + self.offset_s

    # ------------------------------------------------------------------ the sink seam
    def add_sensor(self, sensor: SensorDeclaration) -> None:
        """Declare a sensor: its outlet is created (once)."""
        sensor_id, name, sampling_rate_hz = sensor.sensor_id, sensor.name, sensor.sampling_rate_hz
        with self._lock:
            if sensor_id in self.outlets:
                return
            lsl = self.pylsl
            placement = (sensor.placement or "").replace("_", "-")  # lower_back: lower-back
            source_id = self.addresses.get(sensor_id) or str(sensor_id)
            label = placement or name or sensor_id
            info = lsl.StreamInfo(
                f"{self.name} {label}",
                "IMU",
                len(IMU_CHANNELS),
                float(sampling_rate_hz),
                lsl.cf_float32,
                source_id,
            )
            desc = info.desc()
            chans = desc.append_child("channels")
            for lab, typ, unit in IMU_CHANNELS:
                chans.append_child("channel").append_child_value("label", lab).append_child_value(
                    "type", typ
                ).append_child_value("unit", unit)
            desc.append_child_value("manufacturer", "Poise")
            desc.append_child_value("sensor_id", str(sensor_id))
            desc.append_child_value("placement", placement or "")
            desc.append_child_value("device_name", name or "")
            desc.append_child_value("frame", "sensor")
            acq = desc.append_child("acquisition")
            acq.append_child_value("software", "Poise")
            acq.append_child_value(
                "timing", "sensor clock mapped to the host clock (Poise timeline), not arrival"
            )
            self.outlets[sensor_id] = lsl.StreamOutlet(info, chunk_size=0, max_buffered=360)
            self.infos[sensor_id] = {
                "source_id": source_id,
                "placement": placement,
                "sampling_rate_hz": float(sampling_rate_hz),
            }
            self.samples_sent[sensor_id] = 0
            self.last_t_s[sensor_id] = -math.inf
            if self.live_metrics and (
                self._engine_sensor is None or (placement == "lower-back" and self._engine is None)
            ):
                self._engine_sensor = sensor_id

    def push_samples(
        self, sensor_id: str, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray
    ) -> None:
        """Samples of one sensor on the timeline, pushed with their LSL times, all of them
        in the order given (a sensor's clock model may move later times a little earlier:
        LSL takes the times as they are)."""
        t = np.asarray(t_s, dtype=float)
        if t.size == 0:
            return
        with self._lock:
            outlet = self.outlets.get(sensor_id)
            if outlet is None:
                return
            data = np.empty((t.size, 6), dtype=np.float32)
            data[:, :3] = acc_mps2
            data[:, 3:] = gyr_radps
            outlet.push_chunk(data, (t + self.offset_s).tolist())
            self.samples_sent[sensor_id] += int(t.size)
            self.last_t_s[sensor_id] = float(t[-1])
            engine_due = self.live_metrics and sensor_id == self._engine_sensor
        if engine_due:
            self._update_metrics(sensor_id, t, acc_mps2, gyr_radps)

    def push_record_event(self, event: dict[str, Any]) -> None:
        """An event of a replayed recording (markers, test start/stop) as a marker."""
        kind = str(event.get("kind", ""))
        if kind in ("marker", "test_start", "test_stop", "stage_start", "stage_end", "note"):
            self.push_marker(
                kind,
                event.get("t_s"),
                **{k: v for k, v in event.items() if k not in ("kind", "t_s")},
            )

    def reset_data(self, position_s: float = 0.0) -> None:
        """A replay seek: said in the marker stream; times go on from the new position."""
        with self._lock:
            for sid in self.last_t_s:
                self.last_t_s[sid] = -math.inf
        self.push_marker("seek", None, position_s=position_s)

    # push_packets, push_gap, push_state, push_stats, push_error, push_warning and
    # open_recording keep SampleSink's defaults (nothing): raw packets and lost samples are
    # the recording's (LSL has no gap marker; the times show it), links are not published,
    # and the outlet does not record.

    # ------------------------------------------------------------------ markers, metrics
    def push_marker(self, kind: str, t_s: float | None = None, **info: Any) -> None:
        """A marker: ``{"kind": kind, **info}`` as JSON at timeline time ``t_s`` (now if None)."""
        payload = json.dumps({"kind": kind, **info}, default=str, sort_keys=True)
        if t_s is None or not math.isfinite(float(t_s)):
            self.markers.push_sample([payload], self.pylsl.local_clock())
        else:
            self.markers.push_sample([payload], float(t_s) + self.offset_s)

    def push_metrics(self, t_s: float | None, metrics: dict[str, Any]) -> None:
        """Live values (keys of :data:`METRIC_CHANNELS`) at timeline time ``t_s``."""
        row = [_float(metrics.get(k)) for k, _ in METRIC_CHANNELS]
        ts = self.pylsl.local_clock() if t_s is None else float(t_s) + self.offset_s
        self.metrics.push_sample(row, ts)

    def _update_metrics(self, sid: str, t: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> None:
        if self._engine is None:
            from poise.live import make_live_metrics

            self._engine = make_live_metrics(self.infos[sid]["sampling_rate_hz"])
        m = self._engine.update(t, acc, gyr)
        if m and t[-1] - self._last_metrics_t >= self.metrics_period_s:
            self._last_metrics_t = float(t[-1])
            self.push_metrics(float(t[-1]), m)

    # ------------------------------------------------------------------ the stream hub
    def on_block(self, block: Any) -> None:
        """A :class:`sensors.stream.StreamBlock` (``poise record``: the hub's subscriber)."""
        self.push_samples(block.sensor_id, block.t_s, block.acc_mps2, block.gyr_radps)

    def close(self, linger_s: float = 0.5) -> None:
        """Close every outlet (inlets see the streams end). Connected inlets first get
        ``linger_s`` to take the last samples (an outlet drops what is still in transit)."""
        with self._lock:
            outlets = [*self.outlets.values(), self.markers, self.metrics]
            self.outlets.clear()
        if linger_s > 0 and any(o.have_consumers() for o in outlets):
            time.sleep(linger_s)
        outlets.clear()  # the last references: liblsl closes the outlets


class _SessionPublisher:
    """What :func:`attach_to_session` connects: one method per session event."""

    def __init__(self, session: Any, outlet: LslOutlet) -> None:
        self.session = session
        self.outlet = outlet
        self.subs: list[tuple[Any, Callable[..., Any]]] = []

    def attach(self) -> Callable[[], None]:
        ev = self.session.events
        if getattr(self.session, "source", None) is not None:
            self.origin()
        for info in list(self.session.sensors.values()):
            self.declare(info)
        for event, cb in (
            (ev.sensor_added, self.declare),
            (ev.samples, self.samples),
            (ev.source_changed, self.source_changed),
            (ev.test_started, self.test_started),
            (ev.test_finished, self.test_finished),
            (ev.cue, self.cue),
            (ev.marker, self.marker),
            (ev.metrics, self.metrics),
            (ev.record_event, self.outlet.push_record_event),
            (ev.reset, self.outlet.reset_data),
        ):
            event.connect(cb)
            self.subs.append((event, cb))
        return self.detach

    def detach(self) -> None:
        for event, cb in self.subs:
            event.disconnect(cb)
        self.subs.clear()

    def origin(self) -> None:
        self.outlet.set_time_origin(time.monotonic() - float(self.session.now_s()))

    def declare(self, info: Any) -> None:
        src = getattr(self.session, "source", None)
        for spec in getattr(src, "specs", None) or []:
            if getattr(spec, "sensor_id", None) == info.id and getattr(spec, "address", None):
                self.outlet.addresses[info.id] = str(spec.address)
        self.outlet.add_sensor(
            SensorDeclaration(
                info.id,
                placement=info.placement,
                sampling_rate_hz=info.sampling_rate_hz,
                name=info.name,
            )
        )

    def samples(self, blocks: dict[str, SamplesBlock]) -> None:
        for sid, b in blocks.items():
            if sid not in self.outlet.outlets:
                info = self.session.sensors.get(sid)
                if info is None:
                    continue
                self.declare(info)
            self.outlet.push_samples(sid, b.t_s, b.acc_mps2, b.gyr_radps)

    def source_changed(self, kind: str) -> None:
        if kind in ("live", "replay"):
            self.origin()
            self.outlet.push_marker("session_start", self.session.now_s(), source=kind)
        else:
            self.outlet.push_marker("session_stop")

    def test_started(self, snap: dict[str, Any]) -> None:
        self.outlet.push_marker("test_start", self.session.now_s(), test=snap.get("test"))

    def test_finished(self, summary: dict[str, Any]) -> None:
        self._push_fields("test_stop", summary, "end_s", ("test", "start_s", "ended_by"))

    def cue(self, kind: str, _remaining: Any = None) -> None:
        if kind in ("start", "stop"):
            run = getattr(self.session, "run", None)
            stage = run.snapshot().get("stage") if run is not None else None
            self.outlet.push_marker(f"stage_{kind}", self.session.now_s(), stage=stage)

    def marker(self, ev: dict[str, Any]) -> None:
        self._push_fields("marker", ev, "t_s", ("marker", "text", "stage"))

    def _push_fields(
        self, kind: str, ev: dict[str, Any], time_key: str, keys: tuple[str, ...]
    ) -> None:
        """A marker of ``kind`` at ``ev[time_key]`` carrying the event's ``keys``."""
        self.outlet.push_marker(kind, ev.get(time_key), **{k: ev.get(k) for k in keys})

    def metrics(self, m: dict[str, Any]) -> None:
        t = m.get("session_time_s")
        self.outlet.push_metrics(None if t is None else float(t), m)


def attach_to_session(session: Any, outlet: LslOutlet) -> Callable[[], None]:
    """Publish a :class:`poise.session.Session` (``poise gui --lsl``): its sensors, samples,
    markers, tests and live metrics. Returns a function that detaches.

    Runs on the session's owner thread (the events are emitted by ``Session.poll``). The
    samples event carries, per sensor, the samples since the previous poll (a
    :class:`poise.sinks.SamplesBlock`). The timeline is the session clock
    (``Session.now_s``): its origin is set when the session's source starts.
    """
    return _SessionPublisher(session, outlet).attach()


def publish_session(session: Any, name: str = "Poise") -> tuple[LslOutlet, Callable[[], None]]:
    """An :class:`LslOutlet` attached to ``session`` (``poise gui --lsl``): (outlet, detach)."""
    outlet = LslOutlet(name)
    return outlet, attach_to_session(session, outlet)

"""The one recorder: what a source delivers, written to a ``.poise`` recording.

:class:`Recorder` is a :class:`poise.sinks.SampleSink` around
:class:`sensors.recording.RecordingWriter`, used by the therapist's session
(:class:`poise.session.Session`), home mode (:class:`poise.home.HomeSession`) and
``poise record``. Raw packets are stored exactly as received, so a recording replays
through the same decoder as the live stream; every time given to it is on the session
clock.

How it opens
------------
* At the first packet (:meth:`push_packets`), with the sensors declared so far (the
  ``sensors`` callable, else the :meth:`add_sensor` calls); a sensor declared later is not
  recorded (the ``on_warning`` callback says so once).
* Or when a source that writes its packets itself asks (:meth:`open_recording`: the BLE
  stream hub): the source then writes packets, gaps and connection events
  (:attr:`source_writes`), the recorder's owner adds its own events (:meth:`write_event`).

Failures never reach the source's thread: a file that can not be opened or written stops
the recording (``on_error`` says what and where; :attr:`recording` turns false) and the
stream goes on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from poise.sinks import SampleSink, SensorDeclaration

if TYPE_CHECKING:
    from sensors.recording import RecordingWriter

log = logging.getLogger(__name__)

__all__ = ["Recorder", "new_recording_path"]


def new_recording_path(folder: Path, prefix: str) -> Path:
    """``folder/<prefix>-<local time>[-n].poise``, a name not taken yet."""
    import datetime as _dt

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path = folder / f"{prefix}-{stamp}.poise"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{prefix}-{stamp}-{n}.poise"
    return path


def _config_dict(config: Any, sampling_rate_hz: float) -> dict[str, Any]:
    if config is not None and hasattr(config, "to_dict"):
        return dict(config.to_dict())
    if isinstance(config, dict):
        return config
    from firmware_protocol.types import SensorConfig

    return SensorConfig(sampling_rate_hz=int(round(sampling_rate_hz))).to_dict()


class Recorder(SampleSink):
    """Writes a session into a ``.poise`` recording (see the module docstring).

    Parameters
    ----------
    path
        The file to create (refused if it exists unless ``overwrite``), or a callable giving
        it when the recording opens (a name with the time it starts).
    metadata
        Header metadata, or a callable giving it when the recording opens (the patient may
        be chosen after the source started). Its ``sensors`` are replaced.
    sensors
        Callable giving the header's sensor entries (``id``, ``name``, ``placement``,
        ``config``, ...) when the recording opens; default: the sensors declared with
        :meth:`add_sensor`, in order.
    max_sensors
        Record only the first sensors (home mode records its one sensor).
    overwrite
        Replace an existing file (``poise record --overwrite`` writes a temporary file).
    on_open, on_error, on_warning
        Called with the path when the file opens, and with a message when recording fails
        (it stops) or a sensor is not recorded. They may be called on the source's thread.
    """

    def __init__(
        self,
        path: Path | str | Callable[[], Path],
        metadata: dict[str, Any] | Callable[[], dict[str, Any]],
        *,
        sensors: Callable[[], list[dict[str, Any]]] | None = None,
        max_sensors: int | None = None,
        overwrite: bool = False,
        on_open: Callable[[Path], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_warning: Callable[[str], None] | None = None,
    ) -> None:
        self._path = path
        self._metadata = metadata
        self._sensors = sensors
        self.max_sensors = max_sensors
        self.overwrite = overwrite
        self._on_open = on_open
        self._on_error = on_error
        self._on_warning = on_warning
        self._lock = threading.RLock()
        self._declared: list[dict[str, Any]] = []
        self._unrecorded: set[str] = set()
        self.writer: RecordingWriter | None = None
        #: the file, once open
        self.path: Path | None = None
        #: sensor id -> index in the header
        self.index: dict[str, int] = {}
        #: the source writes packets, gaps and connection events itself
        self.source_writes = False
        self.failed = False
        self.closed = False

    # ------------------------------------------------------------------ state
    @property
    def recording(self) -> bool:
        """The file is open and being written."""
        return self.writer is not None and not self.failed and not self.closed

    @property
    def packets_written(self) -> int:
        """Packets in the file so far."""
        return 0 if self.writer is None else int(self.writer.packets_written)

    # ------------------------------------------------------------------ opening
    def open(
        self, sensors: list[dict[str, Any]] | None = None, *, raise_errors: bool = False
    ) -> RecordingWriter | None:
        """Open the file now (once), with ``sensors`` or the ones known so far.

        Returns the writer, or ``None`` when the recording failed or was closed. A file that
        can not be created is reported to ``on_error``, or raised with ``raise_errors``.
        """
        from sensors.recording import RecordingWriter

        with self._lock:
            if self.writer is not None or self.failed or self.closed:
                return None if self.failed else self.writer
            if sensors is None:
                sensors = self._sensors() if self._sensors is not None else list(self._declared)
            if self.max_sensors is not None:
                sensors = sensors[: self.max_sensors]
            md = dict(self._metadata() if callable(self._metadata) else self._metadata)
            md["sensors"] = sensors
            path = Path(self._path() if callable(self._path) else self._path)
            try:
                self.writer = RecordingWriter(path, md, overwrite=self.overwrite)
            except Exception as exc:
                self.failed = True
                if raise_errors:
                    raise
                log.exception("opening the recording failed")
                self._error(f"the session is not recorded: {exc}")
                return None
            self.path = path
            self.index = {str(s["id"]): i for i, s in enumerate(sensors)}
        if self._on_open is not None:
            self._on_open(path)
        return self.writer

    def open_recording(self, sensors: list[dict[str, Any]]) -> RecordingWriter | None:
        """Sink: a source that writes its packets itself (the stream hub) opens the file."""
        with self._lock:
            writer = self.open(sensors)
            self.source_writes = writer is not None
            return writer

    # ------------------------------------------------------------------ sink
    def add_sensor(self, sensor: SensorDeclaration) -> None:
        """Sink: remember the sensor for the header (the first declaration counts)."""
        with self._lock:
            if any(s["id"] == sensor.sensor_id for s in self._declared):
                return
            self._declared.append(
                {
                    "id": sensor.sensor_id,
                    "name": sensor.name or sensor.sensor_id,
                    "placement": sensor.placement or None,
                    "config": _config_dict(sensor.config, sensor.sampling_rate_hz),
                }
            )

    def push_packets(
        self, sensor_id: str, packets: Sequence[bytes], host_times_s: float | np.ndarray
    ) -> None:
        """Sink: store raw packets with their receive times; the first one opens the file."""
        with self._lock:
            if self.writer is None and not self.failed and not self.closed:
                self.open()
            if not self.recording or self.source_writes:
                return
            i = self.index.get(sensor_id)
            if i is None:
                if sensor_id not in self._unrecorded:
                    self._unrecorded.add(sensor_id)
                    if self._on_warning is not None:
                        self._on_warning(
                            f"sensor {sensor_id} joined after the recording started and is "
                            "not recorded; start a new session to record it"
                        )
                return
            times = np.broadcast_to(np.asarray(host_times_s, dtype=float), (len(packets),))

            def write(w: RecordingWriter) -> None:
                for p, t in zip(packets, times):
                    w.write_packet(i, p, float(t))

            self._write(write)

    def push_gap(
        self, sensor_id: str, start_s: float, end_s: float, samples: int, reason: str = ""
    ) -> None:
        """Sink: store a GAP record (unless the source writes its own)."""
        with self._lock:
            i = self.index.get(sensor_id)
            if i is None or self.source_writes or not self.recording:
                return
            self._write(
                lambda w: w.write_gap(
                    i,
                    samples=int(samples),
                    reason=reason or "lost",
                    start_s=float(start_s),
                    end_s=float(end_s),
                    t_s=float(end_s),
                )
            )

    # ------------------------------------------------------------------ owner's side
    def write_event(self, event: dict[str, Any]) -> None:
        """Store an EVENT record (``kind`` and ``t_s`` set) if the file is open."""
        with self._lock:
            if self.recording:
                self._write(lambda w: w.write_event(event))

    def flush(self) -> None:
        """Flush and fsync what is written."""
        with self._lock:
            if self.recording:
                self._write(lambda w: w.flush())

    def close(self, t_s: float | None = None, info: dict[str, Any] | None = None) -> None:
        """Write the END record (with ``info``) and close; nothing is recorded afterwards."""
        with self._lock:
            writer = None if self.closed else self.writer
            self.closed = True
            if writer is None:
                return
            try:
                writer.close(info=info, t_s=t_s)
            except Exception as exc:
                log.exception("closing the recording failed")
                self._error(f"closing the recording failed: {exc}")

    def _write(self, action: Callable[[RecordingWriter], Any]) -> None:
        writer = self.writer
        if writer is None:
            return
        try:
            action(writer)
        except Exception as exc:
            log.exception("writing the recording failed")
            self.failed = True
            self._error(f"recording stopped: writing {self.path} failed: {exc}")

    def _error(self, message: str) -> None:
        if self._on_error is not None:
            self._on_error(message)

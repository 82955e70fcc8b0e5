"""The sink seam: one protocol for everything that receives streamed sensor data.

A *source* (:class:`poise.sources.BleSource`, :class:`poise.sources.ScriptedSource`, the
replay :class:`poise.player.Player`) delivers into one :class:`SampleSink`, from its own
thread, through the methods below. Implementations:

* :class:`poise.session.Session` (the therapist's session: views, live analysis, tests);
* :class:`poise.home.HomeSession` (home mode: one sensor, exercise counting);
* :class:`poise.recorder.Recorder` (the ``.poise`` recording of a session, home mode and
  ``poise record``);
* anything else that wants the stream, e.g. a Lab Streaming Layer outlet.

A sink implements the methods it cares about: every method of :class:`SampleSink` does
nothing by default, so a new output subclasses the protocol explicitly
(``class Outlet(SampleSink)``, PEP 544) and overrides ``add_sensor`` and ``push_samples``;
a class with all the methods is a sink without subclassing.

An output that should not stand between a source and the session subscribes instead to
the session's ``samples`` event, which carries the data itself: one :class:`SamplesBlock`
per sensor with every sample that arrived since the previous poll (on the session's owner
thread, in time order, none dropped while the owner polls)::

    def on_samples(blocks: dict[str, SamplesBlock]) -> None:
        for block in blocks.values():
            outlet.push_chunk(block.rows(), block.t_s)

    session.events.samples.connect(on_samples)

Threading: the ``push_*``/``add_sensor``/``open_recording``/``reset_data`` methods are
called from the source's thread and must be thread-safe and quick (store, enqueue, return);
a sink does its work on its owner's thread.

Times are seconds on the *session clock* (the source's ``now_s``; data time in a replay).
Arrays are SI: ``acc_mps2`` and ``gyr_radps`` ``(n, 3)`` in the sensor frame, ``t_s``
``(n,)``; NaN rows never reach a sink (lost samples are reported with :meth:`push_gap`).
"""

from __future__ import annotations

import queue
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from firmware_protocol.types import SensorConfig
    from sensors.recording import RecordingWriter

__all__ = ["NullSink", "SampleSink", "SamplesBlock", "SensorDeclaration", "Source", "drain"]

_T = TypeVar("_T")


def drain(q: queue.SimpleQueue[_T]) -> Iterator[_T]:
    """What a sink's queue holds now, oldest first, without waiting (its owner's poll)."""
    while True:
        try:
            yield q.get_nowait()
        except queue.Empty:
            return


@dataclass(frozen=True)
class SensorDeclaration:
    """A sensor as a source declares it to a sink (:meth:`SampleSink.add_sensor`), before
    its samples arrive.

    Attributes
    ----------
    sensor_id
        The id the source's samples carry.
    placement
        Where it is worn (e.g. ``"lower-back"``), ``""`` when unknown.
    sampling_rate_hz
        Its sampling rate.
    config
        The configuration its driver chose, when known.
    name
        A name for people (``""``: the id).
    """

    sensor_id: str
    placement: str = ""
    sampling_rate_hz: float = 100.0
    config: SensorConfig | None = None
    name: str = ""


@dataclass(frozen=True)
class SamplesBlock:
    """Consecutive samples of one sensor on the session clock.

    Attributes
    ----------
    sensor_id
        The sensor, as declared with :meth:`SampleSink.add_sensor`.
    t_s
        ``(n,)`` sample times, seconds on the session clock, increasing.
    acc_mps2, gyr_radps
        ``(n, 3)`` acceleration (m/s^2, gravity included) and angular velocity (rad/s),
        sensor frame.
    """

    sensor_id: str
    t_s: np.ndarray
    acc_mps2: np.ndarray
    gyr_radps: np.ndarray

    @property
    def n_samples(self) -> int:
        """Samples in the block."""
        return int(self.t_s.shape[0])

    def rows(self) -> np.ndarray:
        """The block as ``(n, 7)`` rows ``[t_s, acc xyz, gyr xyz]``."""
        return np.column_stack([self.t_s, self.acc_mps2, self.gyr_radps])

    @classmethod
    def from_rows(cls, sensor_id: str, rows: np.ndarray) -> SamplesBlock:
        """A block from ``(n, 7)`` rows ``[t_s, acc xyz, gyr xyz]``."""
        return cls(sensor_id, rows[:, 0], rows[:, 1:4], rows[:, 4:7])


@runtime_checkable
class SampleSink(Protocol):
    """What a source delivers into (see the module docstring). All methods thread-safe;
    each does nothing unless a sink overrides it."""

    def add_sensor(self, sensor: SensorDeclaration) -> None:
        """Declare a sensor before its samples arrive."""
        return None

    def push_samples(
        self, sensor_id: str, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray
    ) -> None:
        """Decoded samples of one sensor (see the module docstring for units)."""
        return None

    def push_packets(
        self, sensor_id: str, packets: Sequence[bytes], host_times_s: float | np.ndarray
    ) -> None:
        """Raw packets as received, for the recording (one receive time, or one each)."""
        return None

    def push_gap(
        self, sensor_id: str, start_s: float, end_s: float, samples: int, reason: str = ""
    ) -> None:
        """``samples`` lost between ``start_s`` and ``end_s``: recorded and shown, never hidden."""
        return None

    def push_state(self, sensor_id: str, state: str, **info: Any) -> None:
        """A sensor's connection state (``"connecting"``, ``"streaming"``, ``"replay"``,
        ``"reconnecting"``, ``"disconnected"``, ``"failed"``, ``"ended"``) with details
        (``reason``, ``kind``, ``model``...)."""
        return None

    def push_stats(self, sensor_id: str, **stats: Any) -> None:
        """Link statistics: ``battery_pct``, ``rssi_dbm``, ``loss_pct``, ``packets_per_s``..."""
        return None

    def push_record_event(self, event: dict[str, Any]) -> None:
        """An EVENT record met while replaying a recording (``kind``, ``t_s``, ...)."""
        return None

    def push_error(self, message: str) -> None:
        """A source failure the user must see."""
        return None

    def push_warning(self, message: str) -> None:
        """Something the user should know, not fatal."""
        return None

    def reset_data(self, position_s: float = 0.0) -> None:
        """Forget buffered samples and analysis state (a replay seek to ``position_s``)."""
        return None

    def open_recording(self, sensors: list[dict[str, Any]]) -> RecordingWriter | None:
        """For a source that writes its packets itself (the BLE stream hub): open the
        recording with the header's ``sensors`` and return its writer, or ``None`` when
        this sink does not record. The source then writes packets, gaps and connection
        events; the sink adds its own events."""
        return None


class NullSink(SampleSink):
    """A sink that keeps nothing (a source's target before :meth:`Source.start`)."""


@runtime_checkable
class Source(Protocol):
    """A producer of sensor data that feeds one :class:`SampleSink` from its own thread.

    Implementations: :class:`poise.sources.BleSource`, :class:`poise.sources.ScriptedSource`,
    :class:`poise.sources.ReplaySource`, :class:`poise.home.DemoHomeSource`.

    Attributes
    ----------
    kind
        ``"live"`` (recorded by the session) or ``"replay"`` (never re-recorded).
    description
        What it is, for the recording header and the status bar.
    """

    kind: str
    description: str

    def start(self, sink: SampleSink) -> None:
        """Declare the sensors to ``sink`` and start delivering (returns at once)."""

    def stop(self) -> None:
        """Stop delivering; no sink method is called after this returns."""

    def now_s(self) -> float:
        """The session clock: seconds since the source started (data time in a replay)."""

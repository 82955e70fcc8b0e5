"""Replay a recording as a live stream: play, pause, seek, speed 0.5x-10x.

The player is a real component (the mne-lsl ``PlayerLSL`` habit): it pushes the samples,
gaps and events of a :class:`sensors.recording.Recording` into a *sink* in the same calls a
live source uses (:class:`poise.session.Session` is one), so the same views and the same
analysis run on a file as on sensors.

Time is the recording's own clock (seconds from the recording start). :meth:`Player.advance`
moves the position by ``wall_dt_s * speed`` and delivers everything in between; it is
deterministic and is what tests call. :meth:`Player.start` runs it on a background thread in
real time.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any, Literal

import numpy as np

from poise.sinks import SampleSink, SensorDeclaration

log = logging.getLogger(__name__)

#: Allowed replay speeds (inclusive range).
MIN_SPEED = 0.5
MAX_SPEED = 10.0


class Player:
    """Replays a recording into a sink.

    Parameters
    ----------
    recording
        A loaded recording (``metadata``, ``sensors``, ``events``), e.g. from
        ``sensors.recording.load_recording``, or one read in pieces
        (``sensors.longread.open_recording``: a week replays in bounded memory).
    speed
        Initial speed factor, ``MIN_SPEED`` to ``MAX_SPEED``.
    preroll_s
        After a seek, this much data before the new position is delivered at once (so plots
        and sliding analysis are filled) without replaying its events.
    tick_s
        Wall-clock period of the background thread.

    Attributes
    ----------
    position_s
        Current replay position (recording time).
    playing
        Whether the background clock advances the position.
    """

    def __init__(
        self,
        recording: Any,
        *,
        speed: float = 1.0,
        preroll_s: float = 5.0,
        tick_s: float = 0.01,
    ) -> None:
        if not getattr(recording, "sensors", None):
            raise ValueError("the recording has no sensor data to replay")
        self.recording = recording
        self.preroll_s = float(preroll_s)
        self.tick_s = float(tick_s)
        self._speed = 1.0
        self.set_speed(speed)
        self.position_s = 0.0
        self.playing = False
        self.finished = False
        self._sink: SampleSink | None = None
        self._lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        # events without a time (``append_event``'s default, "not tied to a moment") are
        # not replayed
        self._events = sorted(
            (e for e in (getattr(recording, "events", None) or []) if _finite(e.get("t_s"))),
            key=lambda e: float(e["t_s"]),
        )
        self._starts = {s.id: float(s.t_s[0]) if len(s.t_s) else 0.0 for s in recording.sensors}
        ends = [float(s.t_s[-1]) + 1.0 / _rate(s) for s in recording.sensors if len(s.t_s)]
        self.duration_s = max(ends) if ends else 0.0

    # ------------------------------------------------------------------ setup
    @property
    def speed(self) -> float:
        """Replay speed factor."""
        return self._speed

    def set_speed(self, speed: float) -> None:
        """Set the speed factor; outside 0.5-10 raises ``ValueError``."""
        speed = float(speed)
        if not (MIN_SPEED <= speed <= MAX_SPEED):
            raise ValueError(
                f"replay speed must be between {MIN_SPEED} and {MAX_SPEED}, got {speed}"
            )
        self._speed = speed

    def attach(self, sink: SampleSink) -> None:
        """Declare every sensor to ``sink`` and deliver from the current position on."""
        self._sink = sink
        for s in self.recording.sensors:
            sink.add_sensor(
                SensorDeclaration(
                    s.id,
                    placement=getattr(s, "placement", "") or "",
                    sampling_rate_hz=_rate(s),
                    config=getattr(s, "config", None),
                )
            )
            sink.push_state(s.id, "replay", **(getattr(s, "device", None) or {}))

    def now_s(self) -> float:
        """Current position: the session clock while replaying."""
        return self.position_s

    # ------------------------------------------------------------------ control
    def play(self) -> None:
        """Start (or resume) advancing the position in real time x speed."""
        if self.finished:
            self.seek(0.0)
        self.playing = True

    def pause(self) -> None:
        """Stop advancing; the position stays."""
        self.playing = False

    def seek(self, position_s: float) -> None:
        """Jump to ``position_s`` (clamped to the recording); the sink is reset and pre-filled."""
        with self._lock:
            pos = float(min(max(position_s, 0.0), self.duration_s))
            was_finished, self.finished = self.finished, pos >= self.duration_s
            if self._sink is not None:
                self._sink.reset_data(pos)
                if was_finished and not self.finished:
                    for s in self.recording.sensors:
                        self._sink.push_state(s.id, "replay")
                lo = max(0.0, pos - self.preroll_s)
                self._deliver(lo, pos, events=False, include_lo=True)
            self.position_s = pos

    def advance(self, wall_dt_s: float) -> float:
        """Move ``wall_dt_s * speed`` forward and deliver what lies in between.

        Returns the new position. Works whether or not :attr:`playing` is set (tests step
        the player by hand).
        """
        with self._lock:
            if self.finished:
                return self.position_s
            lo = self.position_s
            hi = min(lo + max(0.0, wall_dt_s) * self._speed, self.duration_s)
            if self._sink is not None:
                self._deliver(lo, hi, events=True, include_lo=lo == 0.0)
            self.position_s = hi
            if hi >= self.duration_s:
                self.finished = True
                self.playing = False
                if self._sink is not None:
                    for s in self.recording.sensors:
                        self._sink.push_state(s.id, "ended")
            return hi

    def run_to_end(self, step_s: float = 0.1) -> None:
        """Deliver the whole remaining recording at once (batch analysis, tests)."""
        while not self.finished:
            self.advance(step_s / self._speed)

    # ------------------------------------------------------------------ thread
    def start(self, sink: SampleSink | None = None) -> None:
        """Attach (if given) and start the real-time background thread (paused)."""
        if sink is not None:
            self.attach(sink)
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="poise-player", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the background thread (the position stays)."""
        self.playing = False
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
            self._thread = None

    def _run(self) -> None:
        last = time.monotonic()
        while not self._stop.wait(self.tick_s):
            now = time.monotonic()
            dt, last = now - last, now
            if self.playing:
                try:
                    self.advance(dt)
                except Exception:  # never kill the thread silently
                    log.exception("player failed at %.3f s", self.position_s)
                    self.playing = False

    # ------------------------------------------------------------------ delivery
    def _deliver(self, lo: float, hi: float, *, events: bool, include_lo: bool) -> None:
        sink = self._sink
        assert sink is not None
        if include_lo and lo <= 0.0:
            # from the start: also what lies before 0 (a first sample's clock-fitted time
            # can be a few ms before the recording start)
            lo = -np.inf
        # at the end: also the events and gaps after the last sample (a test stopped with the
        # session is written a moment after the last sample arrived)
        hi_ev = np.inf if hi >= self.duration_s else hi
        for s in self.recording.sensors:
            # a long recording's sensor (sensors.longread) finds and reads its rows itself
            t = s.t_s if hasattr(s, "rows") else np.asarray(s.t_s)
            side: Literal["left", "right"] = "left" if include_lo else "right"
            i0 = int(t.searchsorted(lo, side=side))
            i1 = int(t.searchsorted(hi, side="right"))
            if i1 > i0:
                if hasattr(s, "rows"):
                    sink.push_samples(s.id, *s.rows(i0, i1))
                else:
                    sink.push_samples(s.id, t[i0:i1], s.acc_mps2[i0:i1], s.gyr_radps[i0:i1])
            if events:
                for g in getattr(s, "gaps", None) or []:
                    if (lo < g.start_s <= hi_ev) or (include_lo and g.start_s == lo):
                        sink.push_gap(s.id, float(g.start_s), float(g.end_s), int(g.samples))
        if events:
            for e in self._events:
                t_e = float(e["t_s"])
                if (lo < t_e <= hi_ev) or (include_lo and t_e == lo):
                    sink.push_record_event(dict(e))


def _finite(x: Any) -> bool:
    try:
        return bool(np.isfinite(float(x)))
    except (TypeError, ValueError):
        return False


def _rate(sensor: Any) -> float:
    cfg = getattr(sensor, "config", None)
    if cfg is not None and getattr(cfg, "sampling_rate_hz", None):
        return float(cfg.sampling_rate_hz)
    t = np.asarray(sensor.t_s)
    if len(t) > 1:
        return float(1.0 / np.median(np.diff(t)))
    return 100.0

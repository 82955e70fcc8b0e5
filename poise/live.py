"""Live metrics for the session: glue between the stream and the streaming analysis.

:class:`LiveMetricsEngine` feeds the primary sensor's new samples to
:class:`analysis.sway.SlidingSway` (sway RMS, 95 % ellipse area over the last window) and,
when available, to :class:`analysis.gait.StreamingGait` (steps, cadence, speed). It also
keeps a short horizontal-acceleration trail (AP, ML) for the biofeedback plot.

The algorithms live in :mod:`analysis`; this module only routes data and names the values
the tiles show. A missing analysis piece makes its tiles show a dash, never a crash.

Notes
-----
The biofeedback trail is a display signal, not a measure: each new block is projected on the
body axes of :func:`analysis.orientation.frame_from_acc` over the sway window (forward: the
heading ``SlidingSway`` froze, else the sensor axis closest to horizontal), low-pass
filtered at ``trail_lowpass_hz`` (2nd-order Butterworth, causal with state), and shown with
the trail's mean removed. The measures shown as numbers come from ``SlidingSway``.

The engine is also where the views learn whether the patient is moving:
:attr:`LiveMetricsEngine.still_s` (seconds the trunk has been still at the end of the sway
window, :func:`analysis.clinical.base.still_tail_s`) and :meth:`LiveMetricsEngine.body_axes`
(the frame the signals are drawn in); the views draw what these say.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from analysis import dsp
from analysis.clinical.base import rest_mask, still_tail_s
from analysis.gait import StreamingGait
from analysis.orientation import frame_from_acc
from analysis.sway import SlidingSway

log = logging.getLogger(__name__)


class LiveMetricsEngine:
    """Streaming analysis of one sensor, polled by :class:`poise.session.Session`.

    Parameters
    ----------
    sampling_rate_hz
        Rate of the samples.
    sway_window_s
        Window of the live sway measures.
    trail_s
        Length of the biofeedback trail.
    trail_lowpass_hz
        Low-pass of the biofeedback trail.
    min_still_fraction
        The live sway is shown as not valid when less of the window than this is at rest
        (:func:`analysis.clinical.base.rest_mask`): standing up or stepping is not sway.
    sensor_height_m, height_m
        Sensor height above the ground, or the body height (0.53 x), for the step length
        and speed of :class:`analysis.gait.StreamingGait` (its default without either).
    """

    def __init__(
        self,
        sampling_rate_hz: float,
        sway_window_s: float = 10.0,
        trail_s: float = 5.0,
        trail_lowpass_hz: float = 2.0,
        min_still_fraction: float = 0.9,
        sensor_height_m: float | None = None,
        height_m: float | None = None,
    ) -> None:
        self.min_still_fraction = float(min_still_fraction)
        self.sampling_rate_hz = float(sampling_rate_hz)
        self.sway_window_s = float(sway_window_s)
        self.trail_s = float(trail_s)
        self._sos = dsp.butter(2, trail_lowpass_hz, "lowpass", self.sampling_rate_hz)
        self._sway = SlidingSway(window_s=sway_window_s, sampling_rate_hz=self.sampling_rate_hz)
        self._gait: StreamingGait | None = StreamingGait(
            sampling_rate_hz=self.sampling_rate_hz,
            sensor_height_m=_positive_or_none(sensor_height_m),
            height_m=_positive_or_none(height_m),
        )
        #: why a part of the analysis stopped (it failed on the data), by part
        self.available: dict[str, str] = {}
        n = max(4, int(round(self.trail_s * self.sampling_rate_hz)))
        self._trail = np.full((n, 2), np.nan)
        self._trail_total = 0
        self._win = np.full((max(16, int(sway_window_s * self.sampling_rate_hz)), 3), np.nan)
        self._gwin = np.full_like(self._win, np.nan)
        self._rest_checked_at: Any = None
        self._moving = False
        self._win_total = 0
        self._axes: tuple[np.ndarray, np.ndarray] | None = None
        self._axes_at = -np.inf
        self._zi: np.ndarray | None = None
        self._steps = 0  # shown: the running count's maximum so far
        self._step_count = 0
        self.metrics: dict[str, Any] = {}
        #: seconds the trunk has been still at the end of the sway window
        self.still_s = 0.0

    def reset(self, keep_heading: bool = False) -> None:
        """Forget everything (seek, new sensor); ``keep_heading`` keeps the body frame's
        forward direction (a replay seek: the sensor is worn as before)."""
        self._sway.reset(keep_heading=keep_heading)
        if self._gait is not None:
            self._gait.reset()
        self._trail.fill(np.nan)
        self._trail_total = 0
        self._win.fill(np.nan)
        self._gwin.fill(np.nan)
        self._win_total = 0
        self._rest_checked_at = None
        self._moving = False
        self._axes = None
        self._axes_at = -np.inf
        self._zi = None
        self._steps = 0
        self._step_count = 0
        self.metrics = {}
        self.still_s = 0.0

    @property
    def heading(self) -> np.ndarray | None:
        """The forward (AP) direction of the body frame in sensor coordinates, or ``None``."""
        return self._sway.heading_

    def estimate_heading(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> None:
        """Fix the forward direction from a window of data (the first ``sway_window_s`` of
        a recording: what a replay from the start finds)."""
        self._sway.estimate_heading(acc_mps2, gyr_radps)

    # ------------------------------------------------------------------ update
    def update(self, t_s: np.ndarray, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> dict:
        """Add a block; return the current metrics (keys with units, ``None`` if unknown)."""
        acc = np.asarray(acc_mps2, dtype=float)
        gyr = np.asarray(gyr_radps, dtype=float)
        if acc.shape[0] == 0:
            return self.metrics
        self._ring(self._win, acc)
        self._ring(self._gwin, gyr)
        self._win_total += acc.shape[0]
        self.still_s = still_tail_s(self._win, self._gwin, self.sampling_rate_hz)
        m: dict[str, Any] = dict(self.metrics)
        self._sway.update(acc, gyr)
        sm = self._sway.metrics_ or {}
        if sm:
            m["sway_valid"] = bool(sm.get("valid", False))
            m["sway_reason"] = sm.get("reason", "")
            if sm.get("window_end_s") != self._rest_checked_at:
                self._rest_checked_at = sm.get("window_end_s")
                self._moving = self._still_fraction() < self.min_still_fraction
            if m["sway_valid"] and self._moving:
                m["sway_valid"] = False
                m["sway_reason"] = "moving (standing up, stepping): not quiet stance"
            m["sway_rms_mps2"] = sm.get("rms_mps2")
            m["sway_rms_ap_mps2"] = sm.get("rms_ap_mps2")
            m["sway_rms_ml_mps2"] = sm.get("rms_ml_mps2")
            m["sway_ellipse_area_m2ps4"] = sm.get("ellipse_area_m2ps4")
        if self._gait is not None:
            try:
                g = _gait_metrics(self._gait, t_s, acc, gyr)
                self._step_count += g.pop("new_steps")
                # the tile never goes down: a withdrawn step (rare: a lobe at the newest data
                # that more data dissolves) holds it until the count is back above it
                self._steps = max(self._steps, self._step_count)
                g["steps"] = self._steps
                m.update(g)
            except Exception as exc:
                log.exception("streaming gait failed")
                self.available["gait"] = f"gait analysis failed: {exc}"
                self._gait = None
        self._update_trail(acc, float(t_s[-1]))
        self.metrics = m
        return m

    def _still_fraction(self) -> float:
        """Fraction of the sway window where the trunk is still (``rest_mask``)."""
        ok = np.isfinite(self._win).all(axis=1) & np.isfinite(self._gwin).all(axis=1)
        if ok.sum() < 16:
            return 1.0
        return float(rest_mask(self._win[ok], self._gwin[ok], self.sampling_rate_hz).mean())

    @staticmethod
    def _ring(buf: np.ndarray, rows: np.ndarray) -> None:
        n = buf.shape[0]
        rows = rows[-n:]
        k = rows.shape[0]
        buf[:-k] = buf[k:]
        buf[-k:] = rows

    def _update_trail(self, acc: np.ndarray, t_end_s: float) -> None:
        if self._axes is None or t_end_s - self._axes_at >= 1.0:
            self._axes = self._horizontal_axes()
            self._axes_at = t_end_s
        if self._axes is None:
            return
        ap_axis, ml_axis = self._axes
        ok = np.isfinite(acc).all(axis=1)
        if not ok.any():
            return
        h = np.column_stack([acc[ok] @ ap_axis, acc[ok] @ ml_axis])
        if self._zi is None:
            self._zi = dsp.sosfilt_zi(self._sos)[:, :, None] * h[0][None, None, :]
        y, self._zi = dsp.sosfilt(self._sos, h, axis=0, zi=self._zi)
        self._ring(self._trail, y)
        self._trail_total += y.shape[0]

    def _horizontal_axes(self) -> tuple[np.ndarray, np.ndarray] | None:
        frame = frame_from_acc(
            self._win,
            self._sway.heading_,
            min_samples=int(self.sampling_rate_hz),  # 1 s
            min_gravity_mps2=1.0,
        )
        return None if frame is None else (frame[1], frame[2])

    # ------------------------------------------------------------------ display
    def body_axes(self) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """Unit vectors (up, AP, ML) in the sensor frame used for the trail, or ``None`` yet.

        The views plot the signals along these axes, so the signal plots and the sway plot
        agree on what AP and ML are.
        """
        if self._axes is None:
            return None
        ap, ml = self._axes
        return np.cross(ap, ml), ap, ml

    @property
    def window_samples(self) -> int:
        """Samples in the sway window so far (at most the window's length)."""
        return min(self._win_total, self._win.shape[0])

    def trail(self) -> np.ndarray:
        """The biofeedback trail ``(n, 2)`` (AP, ML) in m/s^2, mean removed, oldest first."""
        n = min(self._trail_total, self._trail.shape[0])
        if n < 2:
            return np.empty((0, 2))
        t = self._trail[-n:]
        t = t[np.isfinite(t).all(axis=1)]
        if t.shape[0] < 2:
            return np.empty((0, 2))
        return t - t.mean(axis=0)


def _gait_metrics(gait: Any, t_s: np.ndarray, acc: np.ndarray, gyr: np.ndarray) -> dict:
    """Feed :class:`analysis.gait.StreamingGait`; name its live values for the tiles.

    ``new_steps`` is the number of steps this update emitted minus those it withdrew (the
    engine keeps the running count, reset with the engine, and shows its maximum so far, so
    the Steps tile never goes down). The stream emits a step once the next contact is seen
    (median 1.1-1.3 s after it) and never the stopping step, which the bout rules drop; a
    withdrawal is rare (a lobe at the newest data that more data dissolves). Cadence and
    speed are those of the bout in progress, else of the last finished bout (``None`` before
    any bout).
    """
    gait.update(acc, gyr)
    out: dict[str, Any] = {
        "new_steps": len(getattr(gait, "new_steps_", []) or [])
        - len(getattr(gait, "retracted_steps_", []) or [])
    }
    bout = getattr(gait, "current_bout_", None)
    walking = bout is not None
    if bout is None and getattr(gait, "bouts_", None):
        bout = gait.bouts_[-1]
    out["walking"] = walking
    if bout is not None:
        cad = getattr(bout, "cadence_spm", None)
        spd = getattr(bout, "walking_speed_mps", None)
        out["cadence_spm"] = float(cad) if cad is not None and np.isfinite(cad) else None
        out["speed_mps"] = float(spd) if spd is not None and np.isfinite(spd) else None
    return out


def _positive_or_none(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) and v > 0 else None


def make_live_metrics(
    sampling_rate_hz: float, sensor_height_m: float | None = None, height_m: float | None = None
) -> LiveMetricsEngine:
    """Default factory used by the session (heights from the patient's demographics)."""
    return LiveMetricsEngine(sampling_rate_hz, sensor_height_m=sensor_height_m, height_m=height_m)

"""Turns from the vertical-axis angular velocity of a lower-back IMU (El-Gohary et al. 2014).

The angular velocity about the true vertical (body-frame V, positive = counter-clockwise seen
from above = a left turn) is low-pass filtered (4th-order Butterworth, 0.5 Hz, zero phase);
every peak of its magnitude above 15 deg/s is a turn candidate, bounded by the last/first
samples where the magnitude falls below 5 deg/s. Candidates in the same direction less than
``merge_gap_s`` = 0.5 s apart are merged. The angle is the integral of the *unfiltered*
vertical angular velocity between the bounds. Turns are kept when they last 0.5-10 s and
turn at least ``min_angle_deg`` = 90 deg.

References
----------
El-Gohary M., Pearson S., McNames J., Mancini M., Horak F., Mellone S., Chiari L. (2014).
Continuous monitoring of turning in patients with movement disability. Sensors 14(1):356-369.

Mobilise-D / mobgap ``TdElGohary`` (filter cut-off 0.5 Hz, 15 and 5 deg/s thresholds).

Notes: differences to the original
----------------------------------
* The vertical axis is the tilt-tracked true vertical of :mod:`analysis.orientation` (the
  original projects to the global frame with a Kalman filter; Mobilise-D uses the raw sensor
  axis).
* Merge gap 0.5 s and minimum angle 90 deg follow the project's definition (GUIDE.md); the
  Mobilise-D implementation merges at 0.05 s and keeps turns from 45 deg.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from analysis.dsp import find_peaks
from analysis.gait._signal import butter_filtfilt

__all__ = ["Turn", "TurnDetector"]


@dataclass(frozen=True)
class Turn:
    """One turn; times from the start of the data, angle positive = left."""

    start_s: float
    end_s: float
    duration_s: float
    angle_deg: float
    peak_angular_velocity_dps: float
    direction: str

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(eq=False)
class TurnDetector:
    """El-Gohary (2014) turn detector (see module docstring).

    Parameters
    ----------
    lowpass_hz, peak_dps, boundary_dps, merge_gap_s : float
    duration_s : (float, float)
    min_angle_deg : float

    Attributes
    ----------
    turns_ : list of :class:`Turn`
    candidates_ : list of :class:`Turn`
        All merged candidates before the duration/angle filter.
    """

    lowpass_hz: float = 0.5
    peak_dps: float = 15.0
    boundary_dps: float = 5.0
    merge_gap_s: float = 0.5
    duration_s: tuple[float, float] = (0.5, 10.0)
    min_angle_deg: float = 90.0

    def detect(self, gyr_v_radps: np.ndarray, sampling_rate_hz: float) -> TurnDetector:
        """Detect turns in the vertical angular velocity (rad/s, no NaN); returns ``self``."""
        fs = float(sampling_rate_hz)
        w = np.degrees(np.asarray(gyr_v_radps, dtype=float))
        self.turns_, self.candidates_ = [], []
        if w.size < int(0.5 * fs) or not np.all(np.isfinite(w)):
            return self
        sm = np.abs(butter_filtfilt(w, self.lowpass_hz, fs, "lowpass"))
        peaks = find_peaks(sm, height=self.peak_dps)
        if peaks.size == 0:
            return self
        low = sm < self.boundary_dps
        low_idx = np.flatnonzero(low)
        if low_idx.size == 0:  # turning all the time: one candidate spanning everything
            starts, ends = np.zeros_like(peaks), np.full_like(peaks, w.size - 1)
        else:
            j = np.searchsorted(low_idx, peaks)
            starts = np.where(j > 0, low_idx[np.maximum(j - 1, 0)], 0)
            ends = np.where(j < low_idx.size, low_idx[np.minimum(j, low_idx.size - 1)], w.size - 1)
        angle_cum = np.r_[0.0, np.cumsum(w) / fs]  # angle_cum[i] = integral over [0, i)

        def angle(s, e):
            return angle_cum[e + 1] - angle_cum[s]

        sign = np.sign(np.array([angle(s, e) for s, e in zip(starts, ends)]))
        iv = sorted(set(zip(starts.tolist(), ends.tolist(), sign.tolist())))
        merged: list[list] = []
        for s, e, d in iv:
            if merged and merged[-1][2] == d and s - merged[-1][1] < self.merge_gap_s * fs:
                merged[-1][1] = max(merged[-1][1], e)
            elif merged and merged[-1][2] == d and s <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], e)
            else:
                merged.append([s, e, d])
        for s, e, _ in merged:
            a = float(angle(s, e))
            seg = w[s : e + 1]
            t = Turn(
                start_s=s / fs,
                end_s=e / fs,
                duration_s=(e - s) / fs,
                angle_deg=a,
                peak_angular_velocity_dps=float(np.max(np.abs(seg))) if seg.size else 0.0,
                direction="left" if a > 0 else "right",
            )
            self.candidates_.append(t)
            if (
                self.duration_s[0] <= t.duration_s <= self.duration_s[1]
                and abs(a) >= self.min_angle_deg
            ):
                self.turns_.append(t)
        return self

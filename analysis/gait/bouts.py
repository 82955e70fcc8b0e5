"""Gait sequences (where somebody may be walking) and walking bouts (Mobilise-D rules).

:class:`GaitSequenceDetector` follows Paraschiv-Ionescu et al. (2019), the Mobilise-D "GSD B"
algorithm: the acceleration norm (independent of the mounting) is band-passed, filtered with
a Mexican-hat wavelet centred at 1.2 Hz, and its maxima and minima beyond a threshold are
step candidates; runs of candidates closer than ``max_step_interval_s`` ("pulse trains") found
both in the maxima and in the minima are intersected, padded by ``padding`` x the mean step
time, kept if they hold ``min_n_steps`` candidates, and merged when less than ``max_gap_s``
apart.

:class:`WalkingBoutAssembler` applies the Mobilise-D walking-bout rules (Kluge et al. 2021;
Micó-Amigo et al. 2023) to the initial contacts: a stride runs from one initial contact to
the next of the same foot (IC i to IC i+2); it is valid when it lasts 0.2-4.2 s, is at
least 0.15 m long, no sample in it was lost and the trunk stayed upright (below); as in
mobgap (``StrideSelection`` then ``WbAssembly``) invalid strides are removed *before* the
bouts are assembled, so a bout ends when the next valid stride starts more than
``max_break_s`` = 3 s after the last one ended; the last stride before such a break (the
closing step, which starts no new stride) is dropped; a bout needs at least
``min_strides`` = 4 valid strides.

Upright posture (a physically motivated stride criterion added here, not part of the
Mobilise-D rules): walking is upright locomotion, so a stride is invalid when one of its
steps has the trunk's mean up direction more than ``max_trunk_inclination_deg`` = 45 deg
(half-way between upright and horizontal) from the walking posture of its group of
contacts (the normalised median of the steps' up directions). Bending to the floor or
reaching while shuffling (daily activities) then breaks a bout; ordinary trunk lean while
walking (10-25 deg in the shared trials) does not. The angle is relative, so the criterion
does not depend on how the sensor is mounted.

Calm trunk (also our addition): a stride is invalid when within one of its steps the trunk
pitches (flexes and extends) by more than ``max_step_tilt_deg`` = 30 deg. Walking moves the
trunk's sagittal inclination by a few degrees per step (4-12 deg in every straight walk
of the shared recordings, the slow MS walk included; up to 17 deg in daily-life turns),
while rising from a chair or sitting down flexes it by 30-50 deg (Schenkman et al. 1990),
so repeated chair rises, whose rhythm resembles a very slow walk, are not taken for one.

References
----------
Paraschiv-Ionescu A., Newman C. J., Carcreff L., Gerber C. N., Armand S., Aminian K. (2019).
Locomotion and cadence detection using a single trunk-fixed accelerometer: validity for
children with cerebral palsy in daily life-like conditions. J NeuroEng Rehabil 16:24.

Kluge F., Del Din S., Cereatti A., et al. (2021). Consensus based framework for digital
mobility monitoring. PLoS One 16(8):e0256541.

Micó-Amigo M. E., Bonci T., Paraschiv-Ionescu A., et al. (2023). Assessing real-world gait
with digital technology? Validation, insights and recommendations from the Mobilise-D
consortium. J NeuroEng Rehabil 20:78.

Notes: differences to the original
----------------------------------
* Native sampling rate instead of resampling to 40 Hz; the EPFL FIR and the Savitzky-Golay
  smoothing are replaced by one 4th-order zero-phase Butterworth band-pass (0.15-3.14 Hz).
* The wavelet is normalised to unit gain at its 1.2 Hz centre. The original threshold
  (0.1 g on the output of MATLAB's ``cwt(..., 10, 'gaus2')`` at 40 Hz, whose gain at the
  centre frequency is about 4.4) becomes 0.1 g / 4.4 = 0.22 m/s^2 here.
* Pulse trains: successive candidates at most ``max_step_interval_s`` apart (the original
  uses the train's mean step time plus a 1.5 s margin; a fixed limit is simpler to stream).
* Bouts are assembled from the contact array and a stride-validity mask (vectorised)
  rather than from a stride table with rule objects; the break rule measures, like mobgap's
  ``MaxBreakCriteria``, from the end of the last valid stride to the start of the next.
* ``remove_last_ic=True`` drops the last stride of every bout; mobgap's predefined
  ``WbAssembly`` leaves it in (``MaxBreakCriteria`` default ``remove_last_ic=False``). Our
  contact detector finds one trailing contact as the walker stops (in all four straight
  walks the bout would otherwise end about 0.5 s after the reference bout), so it is kept.
* The upright-posture criterion above is our addition.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.dsp import find_peaks
from analysis.gait._signal import butter_filtfilt, merge_intervals, ricker_unit_gain

__all__ = ["GaitSequenceDetector", "WalkingBoutAssembler"]


def _pulse_trains(
    peaks: np.ndarray, start_interval: float, margin: float, min_peaks: int
) -> np.ndarray:
    """[first, last] sample of every pulse train of step candidates (Paraschiv-Ionescu 2019).

    A train starts with two candidates less than ``start_interval`` apart and goes on while
    the next candidate comes at most the train's mean interval so far plus ``margin`` after
    the last one (so slow walkers' longer steps do not break it); trains with fewer than
    ``min_peaks`` candidates are dropped. One Python step per candidate (a few per second
    of walking), not per sample.
    """
    peaks = np.asarray(peaks)
    out = []
    i, k = 0, peaks.size
    while i < k - 1:
        if peaks[i + 1] - peaks[i] >= start_interval:
            i += 1
            continue
        j = i + 1
        while j + 1 < k and peaks[j + 1] - peaks[j] <= (peaks[j] - peaks[i]) / (j - i) + margin:
            j += 1
        if j - i + 1 >= min_peaks:
            out.append((peaks[i], peaks[j]))
        i = j + 1
    return np.asarray(out, dtype=float).reshape(-1, 2)


def _intersect(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.size == 0 or b.size == 0:
        return np.empty((0, 2))
    s = np.maximum(a[:, None, 0], b[None, :, 0])
    e = np.minimum(a[:, None, 1], b[None, :, 1])
    ok = e > s
    out = np.stack([s[ok], e[ok]], axis=1)
    return out[np.argsort(out[:, 0])]


@dataclass(eq=False)
class GaitSequenceDetector:
    """Paraschiv-Ionescu (2019) gait-sequence detector on the acceleration norm.

    Parameters
    ----------
    band_hz : (float, float)
    wavelet_centre_hz : float
    threshold_mps2 : float
        Minimum height of a step-candidate peak of the filtered norm.
    max_step_interval_s : float
    min_train_peaks : int
        Candidates a pulse train needs.
    padding : float
        Sequences are extended by this many mean step times on both sides.
    min_n_steps : int
    max_gap_s : float

    Attributes
    ----------
    gait_sequences_ : (k, 2) int array
        [start, end) sample ranges.
    filtered_signal_ : (n,) array
    """

    band_hz: tuple[float, float] = (0.15, 3.14)
    wavelet_centre_hz: float = 1.2
    threshold_mps2: float = 0.1 * 9.80665 / 4.4
    max_step_interval_s: float = 1.5
    min_train_peaks: int = 4
    padding: float = 0.75
    min_n_steps: int = 5
    max_gap_s: float = 3.5
    step_margin_s: float = 1.5

    def detect(self, acc_mps2: np.ndarray, sampling_rate_hz: float) -> GaitSequenceDetector:
        """Find gait sequences in (n, 3) acceleration (any frame, no NaN); returns ``self``."""
        fs = float(sampling_rate_hz)
        acc = np.asarray(acc_mps2, dtype=float)
        n = acc.shape[0]
        if n < 2 * fs:
            self.filtered_signal_ = np.zeros(n)
            self.gait_sequences_ = np.empty((0, 2), dtype=int)
            return self
        norm = np.linalg.norm(acc, axis=1)
        x = butter_filtfilt(norm - norm.mean(), self.band_hz, fs, "bandpass")
        x = ricker_unit_gain(x, self.wavelet_centre_hz, fs)
        self.filtered_signal_ = x
        maxima = find_peaks(x, height=self.threshold_mps2)
        minima = find_peaks(-x, height=self.threshold_mps2)
        max_iv = self.max_step_interval_s * fs
        margin = self.step_margin_s * fs
        tr_max = _pulse_trains(maxima, max_iv, margin, self.min_train_peaks)
        tr_min = _pulse_trains(minima, max_iv, margin, self.min_train_peaks)
        gs = _intersect(tr_max, tr_min)
        if gs.shape[0] == 0:
            self.gait_sequences_ = np.empty((0, 2), dtype=int)
            return self
        # steps per sequence and mean step time
        lo = np.searchsorted(maxima, gs[:, 0], side="left")
        hi = np.searchsorted(maxima, gs[:, 1], side="right")
        n_steps = hi - lo
        first, last = maxima[np.minimum(lo, maxima.size - 1)], maxima[np.maximum(hi - 1, 0)]
        mean_step = np.where(n_steps > 1, (last - first) / np.maximum(n_steps - 1, 1), 0.0)
        gs[:, 0] -= self.padding * mean_step
        gs[:, 1] += self.padding * mean_step
        gs = gs[n_steps >= self.min_n_steps]
        gs = merge_intervals(gs, self.max_gap_s * fs)
        gs = np.clip(np.round(gs), 0, n).astype(int)
        self.gait_sequences_ = gs[gs[:, 1] > gs[:, 0]]
        return self


@dataclass(eq=False)
class WalkingBoutAssembler:
    """Group initial contacts into walking bouts with the Mobilise-D rules.

    Parameters
    ----------
    max_break_s : float
        A bout ends when the next valid stride starts more than this after the last ended.
    min_strides : int
        Valid strides a bout needs.
    stride_time_s : (float, float)
        Valid stride duration range.
    min_stride_length_m : float
        Strides shorter than this are invalid (ignored when lengths are not given).
    remove_last_ic : bool
        Drop the last stride of every bout: its closing contact ends a bout that a break
        terminated and starts no new stride (mobgap ``MaxBreakCriteria(remove_last_ic=True)``).
    max_trunk_inclination_deg : float
        Strides whose steps lean further than this from the group's walking posture are
        invalid (used by :func:`analysis.gait.pipeline.upright_strides`).
    max_step_tilt_deg : float
        Strides with a step in which the trunk pitches further than this (peak to peak) are
        invalid (used by :func:`analysis.gait.pipeline.assemble_bouts`).

    Attributes
    ----------
    bouts_ : list of (int, int)
        Index range [first, last] into the initial-contact array for every bout.
    stride_valid_ : (k-2,) bool array
        Validity of the stride starting at each initial contact.
    """

    max_break_s: float = 3.0
    min_strides: int = 4
    stride_time_s: tuple[float, float] = (0.2, 4.2)
    min_stride_length_m: float = 0.15
    remove_last_ic: bool = True
    max_trunk_inclination_deg: float = 45.0
    max_step_tilt_deg: float = 30.0

    def assemble(
        self,
        ic_s: np.ndarray,
        stride_length_m: np.ndarray | None = None,
        stride_ok: np.ndarray | None = None,
    ) -> WalkingBoutAssembler:
        """Assemble bouts from initial-contact times (s, ascending); returns ``self``.

        ``stride_length_m[i]`` is the length of the stride from contact i to i+2 (NaN = unknown,
        counts as valid); ``stride_ok[i]`` False marks it invalid for any other reason (lost
        samples, trunk not upright).

        As in mobgap's ``StrideSelection`` + ``WbAssembly``, invalid strides are removed
        *before* the bouts are assembled: a bout is a run of valid strides in which the next
        valid stride starts at most ``max_break_s`` after the previous one ended.
        """
        t = np.asarray(ic_s, dtype=float)
        k = t.size
        self.bouts_ = []
        if k < 3:
            self.stride_valid_ = np.zeros(max(k - 2, 0), dtype=bool)
            return self
        dur = t[2:] - t[:-2]
        valid = (dur >= self.stride_time_s[0]) & (dur <= self.stride_time_s[1])
        if stride_length_m is not None:
            sl = np.asarray(stride_length_m, dtype=float)
            valid &= ~(sl < self.min_stride_length_m)
        if stride_ok is not None:
            valid &= np.asarray(stride_ok, dtype=bool)
        self.stride_valid_ = valid
        vi = np.flatnonzero(valid)  # valid stride i spans contacts i .. i+2
        if vi.size == 0:
            return self
        # break: next valid stride starts more than max_break_s after the previous one ended
        brk = np.flatnonzero(t[vi[1:]] - t[vi[:-1] + 2] > self.max_break_s)
        first = vi[np.r_[0, brk + 1]]
        last = vi[np.r_[brk, vi.size - 1]]
        for a, b in zip(first, last):
            if self.remove_last_ic:
                b = b - 1  # the closing stride of a bout ended by a break
            if b < a:
                continue
            if int(valid[a : b + 1].sum()) >= self.min_strides:
                self.bouts_.append((int(a), int(b + 2)))
        return self

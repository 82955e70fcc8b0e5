"""Sit-to-stand and stand-to-sit transitions from one lower-back IMU.

A postural transition between sitting and standing moves the lower back up or down by
about 0.25-0.45 m and is carried by a flexion-extension of the trunk (Schenkman et al.
1990). The detector uses both signatures, in a body frame that does not depend on how the
sensor is mounted (:class:`analysis.orientation.BodyFrameAligner`):

1. **Vertical velocity** (Pham et al. 2018 use the vertical displacement for the same
   purpose): the vertical acceleration (V minus gravity) is high-passed (0.05 Hz), integrated,
   and band-passed to 0.05-1.0 Hz. This keeps the 1-4 s transitions and suppresses the step
   oscillation of walking (~1.8 Hz). A *lobe* is a run of one sign with ``|v| > 0.06 m/s``;
   lobes with a peak of at least ``min_peak_velocity_mps`` and a displacement of at least
   ``min_height_change_m`` are candidates: upward = sit-to-stand, downward = stand-to-sit.
2. **Trunk tilt rate** (Najafi et al. 2002 detect transitions from the trunk pitch angular
   velocity): the horizontal components of the body-frame angular velocity (pitch and roll,
   whatever the heading), low-passed at 0.7 Hz, give the tilt-rate magnitude. Start and end
   of a transition are where this rate falls below ``max(min_rate, 15 % of its peak)``
   before and after the vertical lobe (searched up to ``search_s`` away, never past the
   neighbouring lobes): the start of trunk flexion and the end of trunk extension, as in
   Najafi et al. A candidate without trunk rotation (peak tilt rate below
   ``min_tilt_rate_radps``) is rejected (e.g. a squat with an upright trunk, an elevator).
3. Consecutive transitions must alternate (sit-to-stand, stand-to-sit, ...); of two of the
   same type the weaker is dropped (a bend to pick something up can look like a rise).
4. The height change is then re-measured over ``[start, end]`` by integrating the vertical
   acceleration twice with the vertical velocity forced to zero at both ends (linear
   de-trending of the velocity), and the flexion as the largest angle between the gravity
   direction at the start and during the transition.
5. Edges of the recording: the velocity filters run on the acceleration padded with 20 s
   of rest, and a movement under way at an edge is replaced by rest from its onset, so
   that the filters' transients never reach the transitions before it
   (:meth:`TransitionDetector._vertical_velocity`). A transition counts only when it is
   complete: its velocity lobe ends, and its trunk flexion begins and its extension ends,
   inside the recording. A recording that stops 0.2 s after a sit-down, or half-way
   through a rise, gives every transition completed before its end and not the cut one.

:class:`StreamingTransitions` is the live counterpart (causal filters, carried state, a
ring buffer; each transition reported about 0.5 s after it ends).

References
----------
Najafi B., Aminian K., Loew F., Blanc Y., Robert P. A. (2002). Measurement of stand-sit and
sit-stand transitions using a miniature gyroscope and its application in fall risk
evaluation in the elderly. IEEE Trans Biomed Eng 49(8):843-851.

Pham M. H., Warmerdam E., Elshehabi M., et al. (2018). Validation of a lower back
"wearable"-based sit-to-stand and stand-to-sit algorithm for patients with Parkinson's
disease and older adults in a home-like environment. Front Neurol 9:652 (the Mobilise-D
transition algorithm builds on it).

Schenkman M., Berger R. A., Riley P. O., Mann R. W., Hodge W. A. (1990). Whole-body
movements during rising to standing from sitting. Phys Ther 70(10):638-648.

Notes: differences to the original
----------------------------------
* Najafi et al. use a wavelet decomposition of the pitch gyroscope signal and classify the
  type from the sign pattern of the vertical acceleration; here the candidates come from the
  band-passed vertical *velocity* (its sign gives the type directly) and the gyroscope only
  sets start, end and the trunk-rotation check. The tilt rate is the magnitude of the
  horizontal angular velocity, so the sign of the AP axis (unknown without walking) does
  not matter.
* Pham et al. use a fixed pitch threshold on an orientation estimate; no thresholds of
  theirs are copied. The thresholds here are physical (see parameters) and were not fitted
  to any recording.
* Lying, and transitions through a squat without trunk rotation, are not handled.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import dsp
from analysis.orientation import STANDARD_GRAVITY_MPS2, BodyFrameAligner, fill_nan_rows

__all__ = ["StreamingTransitions", "Transition", "TransitionDetector", "detect_transitions"]

SIT_TO_STAND = "sit-to-stand"
STAND_TO_SIT = "stand-to-sit"


@dataclass(frozen=True)
class Transition:
    """One postural transition (times in s from the first sample).

    ``peak_s`` is the time of the peak vertical velocity (about half-way up or down).
    """

    type: str
    start_s: float
    end_s: float
    duration_s: float
    peak_tilt_rate_dps: float
    peak_vertical_velocity_mps: float
    height_change_m: float
    flexion_deg: float
    peak_s: float = float("nan")

    @property
    def midpoint_s(self) -> float:
        """Centre of the transition."""
        return 0.5 * (self.start_s + self.end_s)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "type": self.type,
            "start_s": round(float(self.start_s), 3),
            "end_s": round(float(self.end_s), 3),
            "duration_s": round(float(self.duration_s), 3),
            "peak_tilt_rate_dps": round(float(self.peak_tilt_rate_dps), 1),
            "peak_vertical_velocity_mps": round(float(self.peak_vertical_velocity_mps), 3),
            "height_change_m": round(float(self.height_change_m), 3),
            "flexion_deg": round(float(self.flexion_deg), 1),
            "peak_s": round(float(self.peak_s), 3),
        }


def _sos(kind: str, cutoff: float | tuple[float, float], fs: float) -> np.ndarray:
    return dsp.butter(2, cutoff, kind, fs)


def _filt(sos: np.ndarray, x: np.ndarray) -> np.ndarray:
    if len(x) <= 30:
        return x - x.mean() if x.ndim == 1 else x
    return dsp.sosfiltfilt(sos, x, axis=0, padlen=min(len(x) - 1, 3 * 30))


def _imu_arrays(acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both signals as float arrays of one (n, 3) shape, else a ValueError saying which."""
    acc = np.asarray(acc_mps2, dtype=float)
    gyr = np.asarray(gyr_radps, dtype=float)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc_mps2 must have shape (n, 3), got {acc.shape}")
    if gyr.shape != acc.shape:
        raise ValueError(f"gyr_radps shape {gyr.shape} differs from acc_mps2 {acc.shape}")
    return acc, gyr


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    d = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    return np.flatnonzero(d == 1), np.flatnonzero(d == -1)


@dataclass(eq=False)
class TransitionDetector:
    """Detect sit-to-stand and stand-to-sit transitions (see the module docstring).

    Parameters
    ----------
    min_peak_velocity_mps : float
        Smallest peak vertical velocity of a transition. Sit-to-stand peaks at 0.3-1.0 m/s
        at the lower back; walking's step oscillation is ~0.15 m/s before the band-pass and
        ~0.05 m/s after it.
    min_height_change_m : float
        Smallest vertical displacement (the lower back rises 0.25-0.45 m from a chair).
    min_tilt_rate_radps : float
        Smallest peak trunk tilt rate (flexion/extension) during a transition.
    min_rate_radps : float
        Absolute floor of the start/end threshold on the tilt rate.
    search_s : float
        How far before/after the vertical lobe the start/end may lie.
    max_duration_s : float
        Longest transition.
    boundary_cutoff_hz : float
        Low-pass of the pitch rate used to time start and end (wider than the 0.7 Hz used to
        find peak flexion, so the zero-phase filter smears the onsets less).
    enforce_alternation : bool
        One cannot stand up twice without sitting down in between: of two consecutive
        transitions of the same type, the weaker one (height change x peak vertical velocity)
        is dropped.
    aligner : BodyFrameAligner or None
        Body-frame estimator; default ``BodyFrameAligner(tau_s=0.3)``: a short
        complementary-filter time constant keeps the vertical free of the tilt drift that a
        long one accumulates during fast turns of a tilted sensor.
    pad_s : float
        Rest (zero vertical acceleration) added before and after the recording for the
        velocity filters, so their edge transients stay outside it (about six time
        constants of the 0.05-Hz high-pass); see :meth:`_vertical_velocity`.

    Attributes
    ----------
    transitions_ : list of Transition
    vertical_velocity_mps_ : (n,) array
        Band-passed vertical velocity used for the candidates.
    tilt_rate_radps_ : (n,) array
        Low-passed trunk tilt-rate magnitude.
    """

    min_peak_velocity_mps: float = 0.18
    min_height_change_m: float = 0.12
    min_tilt_rate_radps: float = 0.25
    min_rate_radps: float = 0.1
    search_s: float = 1.5
    max_duration_s: float = 6.0
    boundary_cutoff_hz: float = 2.5
    enforce_alternation: bool = True
    aligner: BodyFrameAligner | None = None
    pad_s: float = 20.0

    def detect(
        self, acc_mps2: np.ndarray, gyr_radps: np.ndarray, sampling_rate_hz: float
    ) -> TransitionDetector:
        """Find the transitions; returns ``self`` (results in ``transitions_``)."""
        acc, gyr = _imu_arrays(acc_mps2, gyr_radps)
        fs = float(sampling_rate_hz)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz!r}")
        n = acc.shape[0]
        self.transitions_: list[Transition] = []
        self.vertical_velocity_mps_ = np.zeros(n)
        self.tilt_rate_radps_ = np.zeros(n)
        if n < int(2 * fs):
            return self
        both, bad = fill_nan_rows(np.concatenate([acc, gyr], axis=1), copy=False)
        if bad.all():
            return self
        acc, gyr = both[:, :3], both[:, 3:]
        al = (self.aligner or BodyFrameAligner(tau_s=0.3)).align(acc, gyr, fs)
        av = al.acc_body_mps2_[:, 0]
        g_ref = float(np.median(av)) if np.isfinite(av).all() else STANDARD_GRAVITY_MPS2
        av = np.nan_to_num(av - g_ref)
        gb = np.nan_to_num(al.gyr_body_radps_)
        up = np.nan_to_num(al.gravity_sensor_)

        v = self._vertical_velocity(av, fs)
        tilt_c = _filt(_sos("lowpass", 0.7, fs), gb[:, 1:3])
        tilt_b = _filt(_sos("lowpass", self.boundary_cutoff_hz, fs), gb[:, 1:3])
        rate = np.hypot(tilt_c[:, 0], tilt_c[:, 1])
        self.vertical_velocity_mps_ = v
        self.tilt_rate_radps_ = rate

        lobes = self._lobes(v, fs)
        search = int(round(self.search_s * fs))
        for j, (s, e, sign) in enumerate(lobes):
            if s == 0 or e >= n:
                continue  # a movement cut by the edge: only a limit for its neighbours
            lo_lim = lobes[j - 1][1] if j > 0 else 0
            hi_lim = lobes[j + 1][0] if j + 1 < len(lobes) else n
            lo_lim = max(lo_lim, s - search)
            hi_lim = min(hi_lim, e + search)
            seg = rate[lo_lim:hi_lim]
            peak_rate = float(seg.max()) if len(seg) else 0.0
            if peak_rate < self.min_tilt_rate_radps:
                continue
            bounds = self._bounds(tilt_c, tilt_b, v, lo_lim, hi_lim, s, e, sign, fs)
            if bounds is None:
                continue
            start, end = bounds
            dur = (end - start) / fs
            if dur > self.max_duration_s:
                continue
            dz = self._height_change(av[start : end + 1], fs)
            if abs(dz) < self.min_height_change_m or np.sign(dz) != sign:
                continue
            g0 = up[start]
            cosang = np.clip(up[start : end + 1] @ g0, -1.0, 1.0)
            flex = float(np.degrees(np.arccos(cosang.min()))) if end > start else 0.0
            self.transitions_.append(
                Transition(
                    type=SIT_TO_STAND if sign > 0 else STAND_TO_SIT,
                    start_s=start / fs,
                    end_s=end / fs,
                    duration_s=dur,
                    peak_tilt_rate_dps=float(np.degrees(rate[start : end + 1].max())),
                    peak_vertical_velocity_mps=float(np.abs(v[s:e]).max()),
                    height_change_m=float(dz),
                    flexion_deg=flex,
                    peak_s=(s + int(np.argmax(np.abs(v[s:e])))) / fs,
                )
            )
        if self.enforce_alternation:
            self.transitions_ = _alternate(self.transitions_)
        return self

    def _vertical_velocity(self, av: np.ndarray, fs: float) -> np.ndarray:
        """Band-passed vertical velocity from the vertical acceleration (gravity removed).

        The 0.05-Hz high-pass has a time constant of about 3 s and rings for tens of
        seconds; run zero-phase (``sosfiltfilt``) on a recording that stops mid-motion, its
        edge transient (started from the odd extension of a non-stationary end) spreads
        backwards over the whole recording and merges or cancels the lobes of transitions
        long finished. So the acceleration is padded on both sides with ``pad_s`` of rest
        (zero vertical acceleration: the posture at the edge is held): the filters' own edges
        then lie in stationary data, and the velocity inside the recording is what it would
        be had the person stayed still. A movement still under way at an edge (its velocity
        runs on into the padding, with the sign it has at the edge) is replaced by rest from
        its onset, the last zero crossing of the velocity before it: held into the padding,
        its velocity would make the high-pass answer with an opposite lobe of about ``area x
        2 pi x 0.05 Hz`` before it, big enough to be taken for a transition or to hide one.
        As that opposite lobe also shifts the crossing late, this is repeated (up to six
        times, for the same movement only). The cut movement is then no candidate
        (:meth:`_lobes`, :meth:`_bounds`).
        """
        n = len(av)
        w = max(int(round(0.5 * fs)), 1)
        pad = max(int(round(self.pad_s * fs)), w)

        def velocity(lo: int, hi: int) -> np.ndarray:
            x = np.zeros(n + 2 * pad)
            x[pad + lo : pad + hi] = av[lo:hi]
            a_hp = _filt(_sos("highpass", 0.05, fs), x)
            return _filt(_sos("bandpass", (0.05, 1.0), fs), np.cumsum(a_hp) / fs)

        lo, hi = 0, n
        vp = velocity(lo, hi)
        sign_hi = sign_lo = 0.0
        for _ in range(6):
            v = vp[pad : pad + n]
            after = vp[pad + hi : pad + hi + w]
            before = vp[pad + lo - w : pad + lo]
            # the velocity's sign at the edge: inside the recording if clear, else just after
            e_hi = v[hi - 1] if abs(v[hi - 1]) > 0.06 else after[np.argmax(np.abs(after))]
            e_lo = v[lo] if abs(v[lo]) > 0.06 else before[np.argmax(np.abs(before))]
            moving_hi = abs(v[hi - 1]) > 0.06 or np.abs(after).max() > 0.06
            moving_lo = abs(v[lo]) > 0.06 or np.abs(before).max() > 0.06
            if moving_hi and sign_hi in (0.0, np.sign(e_hi)):
                # a movement under way at the end: rest from its onset on
                sign_hi = np.sign(e_hi)
                zc = np.flatnonzero(sign_hi * v[lo:hi] <= 0)
                hi = lo + (int(zc[-1]) + 1 if len(zc) else 0)
            elif moving_lo and sign_lo in (0.0, np.sign(e_lo)):
                sign_lo = np.sign(e_lo)  # the same for a movement under way at the start
                zc = np.flatnonzero(sign_lo * v[lo:hi] <= 0)
                lo = lo + (int(zc[0]) if len(zc) else hi - lo)
            else:
                break
            vp = velocity(lo, hi)
            if hi - lo < w:
                break
        v = vp[pad : pad + n]
        return v

    def _lobes(self, v: np.ndarray, fs: float) -> list[tuple[int, int, int]]:
        """Runs of one sign of the vertical velocity that look like a transition.

        A run still above the threshold at the first or last sample is a movement cut by
        the start or end of the recording: incomplete, not a transition, but returned
        (whatever its size) as the limit of its neighbours' search for start and end.
        """
        out: list[tuple[int, int, int]] = []
        n = len(v)
        for sign in (1, -1):
            starts, ends = _runs(sign * v > 0.06)
            # merge same-sign runs < 0.3 s apart
            if len(starts) > 1:
                keep = (starts[1:] - ends[:-1]) >= 0.3 * fs
                starts = np.concatenate([[starts[0]], starts[1:][keep]])
                ends = np.concatenate([ends[:-1][keep], [ends[-1]]])
            for s, e in zip(starts, ends):
                if s == 0 or e >= n:
                    out.append((int(s), int(e), sign))  # cut by the edge of the recording
                    continue
                seg = sign * v[s:e]
                if seg.max() < self.min_peak_velocity_mps:
                    continue
                if seg.sum() / fs < 0.6 * self.min_height_change_m:
                    continue
                out.append((int(s), int(e), sign))
        out.sort()
        return out

    def _bounds(
        self,
        tilt_c: np.ndarray,
        tilt_b: np.ndarray,
        v: np.ndarray,
        lo: int,
        hi: int,
        s: int,
        e: int,
        sign: int,
        fs: float,
    ) -> tuple[int, int] | None:
        """Start of trunk flexion and end of trunk extension around a vertical lobe.

        The pitch axis is the principal axis of the horizontal angular velocity in
        ``[lo, hi)``; its sign is set so that the trunk *extends* at the peak of the rise
        velocity (sit-to-stand) and *flexes* at the peak of the descent velocity
        (stand-to-sit), which holds for both movements (Schenkman et al. 1990). Then: peak
        flexion ``m`` (maximum of the integrated pitch rate before the rise peak, or around
        and after the descent peak), start = last sample before the flexion-rate peak whose
        flexion rate is below the threshold, end = first sample after the extension peak
        whose extension rate is below it.
        """
        w = tilt_c[lo:hi]
        if len(w) < 3:
            return None
        _u, _sv, vt = np.linalg.svd(w, full_matrices=False)
        axis = vt[0]
        p = w @ axis
        ls, le = s - lo, e - lo
        # peak vertical velocity: mid-rise (trunk extending) or mid-descent (flexing)
        pk = ls + int(np.argmax(sign * v[s:e]))
        h = max(int(0.15 * fs), 1)
        around = p[max(pk - h, 0) : pk + h + 1].mean()
        flip = around > 0 if sign > 0 else around < 0
        if flip:
            axis = -axis
            p = -p
        theta = np.cumsum(p) / fs
        if sign > 0:
            m_lo, m_hi = 0, max(pk, 1)
        else:
            m_lo, m_hi = max(pk - h, 0), min(le + int(0.3 * fs), len(p))
        m = m_lo + int(np.argmax(theta[m_lo:m_hi]))
        if m < 1 or m + 1 >= len(p):
            return None
        p = tilt_b[lo:hi] @ axis  # wider band for the timing
        thr = max(self.min_rate_radps, 0.1 * float(np.abs(p).max()))
        f = int(np.argmax(p[:m]))  # flexion-rate peak
        below = np.flatnonzero(p[:f] < thr)
        start = int(below[-1]) if len(below) else 0
        # extension: the first run of extension rate beyond the threshold after peak
        # flexion (not the fastest extension in the window, which a following movement,
        # cut by the end of the recording, may hold)
        ext = np.flatnonzero(p[m:] < -thr)
        if len(ext):
            run_end = np.flatnonzero(p[m + ext[0] :] >= -thr)
            r1 = m + ext[0] + (int(run_end[0]) if len(run_end) else len(p) - m - ext[0])
            x = m + int(ext[0]) + int(np.argmin(p[m + ext[0] : r1]))
        else:
            x = m + int(np.argmin(p[m:]))
        above = np.flatnonzero(p[x:] > -thr)
        if (not len(below) and lo == 0) or (not len(above) and hi == len(v)):
            return None  # flexion begun before the recording / extension not over at its end
        end = x + int(above[0]) if len(above) else len(p) - 1
        start = min(start, ls)
        end = max(end, le - 1)
        return lo + start, lo + end

    @staticmethod
    def _height_change(av: np.ndarray, fs: float) -> float:
        """Vertical displacement with zero vertical velocity at both ends (m)."""
        if len(av) < 3:
            return 0.0
        vel = np.concatenate([[0.0], np.cumsum(0.5 * (av[1:] + av[:-1])) / fs])
        vel -= np.linspace(0.0, vel[-1], len(vel))
        return float(np.trapezoid(vel, dx=1.0 / fs))


def _alternate(trs: list[Transition]) -> list[Transition]:
    """Drop the weaker of two consecutive transitions of the same type."""
    out: list[Transition] = []
    for t in trs:
        if out and out[-1].type == t.type:
            prev = out[-1]
            if (
                abs(t.height_change_m) * t.peak_vertical_velocity_mps
                > abs(prev.height_change_m) * prev.peak_vertical_velocity_mps
            ):
                out[-1] = t
            continue
        out.append(t)
    return out


def detect_transitions(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray, sampling_rate_hz: float, **params: Any
) -> list[Transition]:
    """Sit-to-stand / stand-to-sit transitions of a recording (see :class:`TransitionDetector`).

    Parameters
    ----------
    acc_mps2, gyr_radps : (n, 3) arrays
        Sensor-frame acceleration (m/s^2, gravity included) and angular velocity (rad/s).
    sampling_rate_hz : float
    **params
        Passed to :class:`TransitionDetector`.
    """
    return TransitionDetector(**params).detect(acc_mps2, gyr_radps, sampling_rate_hz).transitions_


@dataclass(eq=False)
class StreamingTransitions:
    """Sit-to-stand / stand-to-sit transitions from a live stream, block by block.

    The same signatures as :class:`TransitionDetector` (upward/downward vertical velocity
    lobe with trunk rotation), computed with *causal* filters whose state is carried from
    block to block, so each transition is reported shortly after its vertical movement ends
    instead of by re-running the offline detector on a growing window:

    1. up direction: the linearised complementary filter of
       :class:`analysis.orientation.BodyFrameAligner` (``tau_s``), as ``lfilter`` with
       carried state (two passes per block);
    2. vertical acceleration (projection on the up direction minus the first second's mean
       norm), high-passed at ``highpass_hz``, integrated, band-passed ``highpass_hz``-1.0 Hz:
       the vertical velocity (2nd-order Butterworth sections, ``sosfilt`` with carried
       ``zi``). A causal high-pass answers a 1-s lobe with an opposite lobe of about
       ``area x 2 pi x highpass_hz``: at the offline detector's 0.05 Hz that is 0.1-0.25
       m/s after every rise or sit (counted as a transition); at 0.02 Hz it stays below the
       0.06 m/s lobe threshold;
    3. tilt rate: the angular velocity perpendicular to the up direction, low-passed at
       0.7 Hz, its magnitude;
    4. a lobe is a run of ``|v| > 0.06 m/s`` (same-sign runs less than ``merge_gap_s``
       apart are one lobe); once it has been over for ``merge_gap_s`` it is a transition
       when its peak velocity, its displacement (integral of the lobe) and the peak tilt
       rate from ``search_s`` before it to its end pass the thresholds of the offline
       detector; consecutive transitions alternate (a second rise without a sit between is
       ignored).

    At the end of the stream, :meth:`finish` reports the lobes that ended before the last
    sample without waiting ``merge_gap_s`` (as the offline detector does for a recording
    that stops just after a sit-down); a lobe still under way is never reported.

    Everything runs on whole blocks (numpy/scipy vectorised); the lobe search looks at a
    ring buffer of the last ``buffer_s`` seconds. The first second is held back until the
    gravity reference and the filter states are set from it (so the result does not depend
    on the block size). The duration limit applies to the lobe's core (above a quarter of
    its peak): on real data a slow drift of the trunk-tilt projection before a rise can
    stretch the lobe itself to 7-8 s.

    Parameters
    ----------
    sampling_rate_hz : float
    min_peak_velocity_mps, min_height_change_m, min_tilt_rate_radps, search_s,
    max_duration_s : float
        As in :class:`TransitionDetector`.
    merge_gap_s : float
        Wait this long after a lobe before reporting it (a same-sign run within it is the
        same movement).
    lag_s : float
        Delay of the causal velocity lobe behind the movement (the 1-Hz low-pass's group
        delay, about 0.15 s); reported times are shifted back by it.
    highpass_hz : float
        High-pass corner of the vertical acceleration and velocity (see step 2).
    tau_s : float
        Complementary-filter time constant of the up direction.
    buffer_s : float
        Length of the ring buffer (must hold ``search_s`` + ``max_duration_s`` + the gap).

    Attributes
    ----------
    new_transitions_ : list of Transition
        Transitions completed by the last :meth:`update` (times in s from the first sample).
    transitions_ : list of Transition
        All reported transitions.
    count_ : int
        Number of sit-to-stand transitions so far.
    latency_s_ : list of float
        For each reported transition, how long after its ``end_s`` it was reported (data
        time; add the caller's block period for the wall-clock latency).

    References
    ----------
    As :class:`TransitionDetector` (Najafi et al. 2002; Pham et al. 2018).

    Notes: differences to the original
    ----------------------------------
    Besides those of :class:`TransitionDetector`: the filters are causal (one pass), so the
    velocity lobe lags the movement by the low-pass group delay (about 0.15 s) and is
    slightly smaller; the high-pass corner is 0.02 Hz instead of 0.05 Hz (see step 2);
    start and end are the lobe's (the offline detector refines them
    from the trunk rotation), shifted back by the measured lag ``lag_s``; the height change
    is the lobe's integral, not the double integral over the transition; the flexion angle
    is not computed (NaN). Reported types match the offline detector on the scenario
    recordings, synthetic signals with random mountings and the real mobgap lab trials
    (see ``tests/analysis/test_streaming_transitions.py``).
    """

    sampling_rate_hz: float
    min_peak_velocity_mps: float = 0.18
    min_height_change_m: float = 0.12
    min_tilt_rate_radps: float = 0.25
    search_s: float = 1.5
    max_duration_s: float = 6.0
    merge_gap_s: float = 0.3
    tau_s: float = 0.3
    buffer_s: float = 10.0
    lag_s: float = 0.15
    highpass_hz: float = 0.02

    def __post_init__(self) -> None:
        fs = float(self.sampling_rate_hz)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {self.sampling_rate_hz!r}")
        self._fs = fs
        self._n = 0  # samples seen
        self._cap = int(round(self.buffer_s * fs))
        self._v = np.zeros(0)
        self._rate = np.zeros(0)
        self._start = 0  # absolute index of the ring buffer's first sample
        self._done = 0  # lobes ending before this absolute index are handled
        self._g_ref: float | None = None
        self._startup: list[np.ndarray] = []
        self._g_filt: list[np.ndarray] | None = None
        self._last_acc = np.array([0.0, 0.0, STANDARD_GRAVITY_MPS2])
        self._last_gyr = np.zeros(3)
        self._sos_hp = _sos("highpass", self.highpass_hz, fs)
        self._sos_bp = _sos("bandpass", (self.highpass_hz, 1.0), fs)
        self._sos_lp = _sos("lowpass", 0.7, fs)
        self._z_hp: np.ndarray | None = None
        self._z_bp = np.zeros((self._sos_bp.shape[0], 2))
        self._z_lp = np.zeros((self._sos_lp.shape[0], 2, 3))
        self._vel = 0.0
        self._last_type: str | None = None
        self.transitions_: list[Transition] = []
        self.new_transitions_: list[Transition] = []
        self.latency_s_: list[float] = []
        self.count_ = 0

    def update(self, acc_mps2: np.ndarray, gyr_radps: np.ndarray) -> StreamingTransitions:
        """Add a block of samples (sensor frame, SI); returns ``self``."""
        acc, gyr = _imu_arrays(acc_mps2, gyr_radps)
        self.new_transitions_ = []
        m = acc.shape[0]
        if m == 0:
            return self
        # lost samples: hold the last good row (a gap reads as stillness)
        both = np.concatenate([acc, gyr], axis=1)
        if not np.isfinite(both).all():
            prev = np.concatenate([self._last_acc, self._last_gyr])[None]
            both, _bad = fill_nan_rows(np.concatenate([prev, both]))
            both = both[1:]
        acc, gyr = both[:, :3], both[:, 3:]
        self._last_acc, self._last_gyr = acc[-1].copy(), gyr[-1].copy()
        fs = self._fs
        if self._g_ref is None:  # start-up: the references need the first second
            self._startup.append(np.concatenate([acc, gyr], axis=1))
            if sum(len(x) for x in self._startup) < max(int(fs), 1):
                return self
            both = np.concatenate(self._startup)
            self._startup = []
            acc, gyr = both[:, :3], both[:, 3:]
            m = acc.shape[0]
        up = self._up(acc, gyr)
        av = np.einsum("ij,ij->i", acc, up)
        if self._g_ref is None:
            self._g_ref = float(np.linalg.norm(acc[: max(int(fs), 1)], axis=1).mean())
        av = av - self._g_ref
        if self._z_hp is None:
            # steady state for the first second's mean (not the first, noisy, sample: a
            # start-up offset would decay over 1 / (2 pi highpass_hz) s and integrate into a
            # velocity drift)
            self._z_hp = dsp.sosfilt_zi(self._sos_hp) * float(av[: max(int(fs), 1)].mean())
        a_hp, self._z_hp = dsp.sosfilt(self._sos_hp, av, zi=self._z_hp)
        vel = self._vel + np.cumsum(a_hp) / fs
        self._vel = float(vel[-1])
        v, self._z_bp = dsp.sosfilt(self._sos_bp, vel, zi=self._z_bp)
        gh = gyr - np.einsum("ij,ij->i", gyr, up)[:, None] * up
        ghl, self._z_lp = dsp.sosfilt(self._sos_lp, gh, axis=0, zi=self._z_lp)
        rate = np.linalg.norm(ghl, axis=1)
        self._v = np.concatenate([self._v, v])
        self._rate = np.concatenate([self._rate, rate])
        self._n += m
        self._find()
        if self._v.size > self._cap:  # ring buffer: keep the last buffer_s
            cut = self._v.size - self._cap
            self._v = self._v[cut:]
            self._rate = self._rate[cut:]
            self._start += cut
        return self

    def _up(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        """Causal up direction per sample (the orientation module's complementary filter)."""
        dt = 1.0 / self._fs
        alpha = self.tau_s / (self.tau_s + dt)
        a_dir = acc / np.maximum(np.linalg.norm(acc, axis=1, keepdims=True), 1e-9)
        if self._g_filt is None:
            g0 = a_dir[: max(int(0.5 * self._fs), 1)].mean(axis=0)
            g0 /= max(np.linalg.norm(g0), 1e-9)
            # steady state of y[n] = alpha y[n-1] + x[n] for x = (1 - alpha) g0: y = g0
            self._g_filt = [alpha * g0[None, :].copy() for _ in range(3)]
        b, a = [1.0], [1.0, -alpha]
        g, self._g_filt[0] = dsp.lfilter(b, a, (1.0 - alpha) * a_dir, axis=0, zi=self._g_filt[0])
        g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-9)
        for p in (1, 2):
            u = -np.cross(gyr, g)
            x = alpha * dt * u + (1.0 - alpha) * a_dir
            g, self._g_filt[p] = dsp.lfilter(b, a, x, axis=0, zi=self._g_filt[p])
            g /= np.maximum(np.linalg.norm(g, axis=1, keepdims=True), 1e-9)
        return g

    def finish(self) -> StreamingTransitions:
        """End of the stream: report the lobes that ended before the last sample.

        :meth:`update` waits ``merge_gap_s`` after a lobe (a same-sign run within it would
        be the same movement); at the end of the data no more can come, so a sit-down that
        ended 0.2 s before the stream stopped is reported now, as the offline detector
        reports it. A lobe still under way at the last sample (a rise cut half-way) is not.
        Returns ``self`` (the transitions in ``new_transitions_``).
        """
        self.new_transitions_ = []
        if self._g_ref is not None:
            self._find(final=True)
        return self

    def _find(self, final: bool = False) -> None:
        """Report the lobes that ended at least ``merge_gap_s`` ago (vectorised runs)."""
        fs = self._fs
        v, rate, s0 = self._v, self._rate, self._start
        gap = int(round(self.merge_gap_s * fs))
        # a lobe ending before the horizon is complete (at the end of the stream: any lobe
        # that ended before the last sample)
        horizon = self._n - (0 if final else gap)
        found: list[tuple[int, int, int]] = []
        for sign in (1, -1):
            starts, ends = _runs(sign * v > 0.06)
            if len(starts) > 1:
                keep = (starts[1:] - ends[:-1]) >= gap
                starts = np.concatenate([[starts[0]], starts[1:][keep]])
                ends = np.concatenate([ends[:-1][keep], [ends[-1]]])
            for s, e in zip(starts, ends):
                if s == 0 and s0 > 0:
                    continue  # began before the buffer: seen (or too long) already
                if s0 + e > horizon or s0 + e >= self._n or s0 + e <= self._done:
                    continue
                found.append((int(s), int(e), sign))
        found.sort(key=lambda x: x[1])
        for s, e, sign in found:
            seg = sign * v[s:e]
            lo = max(s - int(self.search_s * fs), 0)
            # the core of the lobe (above a quarter of its peak): a slow drift before or
            # after the movement may lengthen the lobe, not the movement
            core = np.flatnonzero(seg > 0.25 * seg.max())
            c0, c1 = s + int(core[0]), s + int(core[-1]) + 1
            ok = (
                seg.max() >= self.min_peak_velocity_mps
                and seg.sum() / fs >= 0.6 * self.min_height_change_m
                and rate[lo:e].max() >= self.min_tilt_rate_radps
                and (c1 - c0) / fs <= self.max_duration_s
            )
            self._done = max(self._done, s0 + e)
            if not ok:
                continue
            kind = SIT_TO_STAND if sign > 0 else STAND_TO_SIT
            if kind == self._last_type:
                continue  # one cannot stand up twice without sitting down
            self._last_type = kind
            start_s = (s0 + c0) / fs - self.lag_s
            end_s = (s0 + e) / fs - self.lag_s
            pk = s + int(np.argmax(seg))
            tr = Transition(
                type=kind,
                start_s=start_s,
                end_s=end_s,
                duration_s=end_s - start_s,
                peak_tilt_rate_dps=float(np.degrees(rate[lo:e].max())),
                peak_vertical_velocity_mps=float(seg.max()),
                height_change_m=float(sign * seg.sum() / fs),
                flexion_deg=float("nan"),
                peak_s=(s0 + pk) / fs - self.lag_s,
            )
            self.transitions_.append(tr)
            self.new_transitions_.append(tr)
            self.latency_s_.append(self._n / fs - end_s)
            if kind == SIT_TO_STAND:
                self.count_ += 1

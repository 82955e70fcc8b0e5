"""Step period and gait periodicity from the trunk's own rhythm, at any walking speed.

Walking is the only everyday activity in which the lower trunk repeats one movement pattern
every stride, with two steps per stride. :class:`GaitPeriodicity` measures that rhythm in
sliding windows, independently of how strong the steps' impacts are, so that it holds for
slow, short-stepped and irregular walking (0.15-2 m/s, step times 0.25-2.1 s) as well as for
brisk walking.

Method
------
1. Channels in the body frame (:class:`analysis.orientation.BodyFrameAligner`): vertical
   acceleration ``V`` (step-periodic: one vertical oscillation per step) and the
   stride-periodic channels ``S``: the horizontal acceleration (its medio-lateral part, the
   weight shift over the stance foot, alternates sign between a left and a right step; AP
   and ML are taken together, the sum of their autocovariances, which does not depend on the
   heading estimate) and the angular velocity about the vertical (pelvic yaw, which also
   alternates) (Zijlstra & Hof 2003; Moe-Nilssen & Helbostad 2004). Every channel is
   band-passed 0.25-4 Hz and decimated to about 20 Hz (the step rhythm lies below 4 Hz).
2. In each window (``window_s`` = 8 s, hop 0.5 s) the autocorrelation of every channel
   (the biased estimate, divided by the window length: a long lag, seen over less overlap,
   is tapered by ``(window - lag) / window``, which keeps a spurious long-lag peak from
   winning), each normalised by its own variance (Moe-Nilssen & Helbostad 2004), and their
   combination ``R = (R_V + mean(R_S)) / 2``. ``V`` repeats every step, ``S`` mainly every
   stride (its ML and yaw parts are in anti-phase after one step), so the first lag at
   which *all* channels repeat -- the fundamental period of ``R`` -- is the stride time,
   whatever the symmetry of the gait: in symmetric gait ``R_V`` peaks at the step and the
   stride, ``R_S`` at the stride; in strongly asymmetric gait (a hemiparetic or MS walk)
   ``R_V`` loses its step peak but both keep the stride peak.
3. Stride period = the first local maximum of ``R`` between ``min_stride_s`` and
   ``max_stride_s`` whose height is at least ``peak_fraction`` of the highest one (the usual
   rule of fundamental-period estimators, which guards against a multiple of the stride),
   refined by parabolic interpolation; step period = half of it. ``periodicity_`` is
   ``R`` at that lag.
4. A window is *gait-like* when its periodicity is at least ``min_periodicity`` (0.3: in
   the 8-s windows of standing and daily activities in the shared recordings it stays
   below 0.23) and the trunk moves more than sensor noise (``min_rms_v_mps2`` on the
   band-passed vertical acceleration or ``min_rms_gyr_radps`` on the yaw rate); its part
   that counts as walking is its central half where the trunk moves vertically at least
   ``min_relative_rms`` of the window's average.

References
----------
Moe-Nilssen R., Helbostad J. L. (2004). Estimation of gait cycle characteristics by trunk
accelerometry. J Biomech 37(1):121-126.

Zijlstra W., Hof A. L. (2003). Assessment of spatio-temporal gait parameters from trunk
accelerations during human walking. Gait Posture 18(2):1-10.

de Cheveigné A., Kawahara H. (2002). YIN, a fundamental frequency estimator for speech and
music. J Acoust Soc Am 111(4):1917-1930 (the first-peak-above-a-fraction rule that avoids
octave errors).

Notes: differences to the original
----------------------------------
* Moe-Nilssen & Helbostad autocorrelate the vertical (and AP) acceleration of a whole
  straight walk and read the step and stride regularity at lags they know; here the lag is
  the unknown, found per window from several channels at once, and the combination with the
  stride-periodic channels is our addition, so that asymmetric gait does not pass for a
  walk at half its cadence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.dsp import uniform_filter1d
from analysis.gait._signal import butter_filtfilt, merge_intervals
from analysis.gait._signal import runs as _runs

__all__ = ["GaitPeriodicity"]


@dataclass(eq=False)
class GaitPeriodicity:
    """Sliding-window stride/step period and gait-likeness (see module docstring).

    Parameters
    ----------
    window_s, hop_s : float
        Window length and hop.
    min_stride_s, max_stride_s : float
        Search range of the stride period (step times 0.25-2.1 s).
    peak_fraction : float
        The stride period is the first autocorrelation peak at least this fraction of the
        highest peak in the search range.
    min_periodicity : float
        Periodicity a gait-like window needs.
    min_rms_v_mps2, min_rms_gyr_radps : float
        Movement a gait-like window needs (band-passed vertical acceleration, or mean RMS of
        the stride channels' angular velocities), well above sensor noise at rest.
    band_hz : (float, float)
        Band-pass applied to every channel.
    target_rate_hz : float
        Channels are decimated to about this rate before the autocorrelation.
    min_relative_rms : float
        Of a gait-like window, the samples whose 1-s RMS of vertical acceleration reaches
        this fraction of the window's are gait-like.
    min_periodicity_for_period : float
        Only windows at least this periodic give step periods (:meth:`step_periods`): a
        weakly periodic window may take two strides for one (without a gyroscope, in the
        turns of a daily-life trial, it halved the cadence of a bout).

    Attributes
    ----------
    window_centre_s_ : (w,) array
        Centre of each window (s from the first sample).
    stride_period_s_ : (w,) array
        Stride period per window (NaN when no peak).
    step_period_s_ : (w,) array
        Half the stride period.
    periodicity_ : (w,) array
        Combined autocorrelation at the stride period.
    gait_like_ : (w,) bool array
    gait_like_intervals_ : (k, 2) int array
        [start, end) samples in the central halves of gait-like windows where the trunk
        moves vertically about as much as in the window as a whole (``min_relative_rms``).
    """

    window_s: float = 8.0
    hop_s: float = 0.5
    min_stride_s: float = 0.5
    max_stride_s: float = 4.2
    peak_fraction: float = 0.7
    min_periodicity: float = 0.3
    min_rms_v_mps2: float = 0.05
    min_rms_gyr_radps: float = 0.02
    band_hz: tuple[float, float] = (0.25, 4.0)
    target_rate_hz: float = 20.0
    min_relative_rms: float = 0.3
    min_periodicity_for_period: float = 0.45

    def detect(
        self,
        acc_body_mps2: np.ndarray,
        gyr_body_radps: np.ndarray | None,
        sampling_rate_hz: float,
        first_sample: int = 0,
    ) -> GaitPeriodicity:
        """Analyse body-frame acceleration and angular velocity (columns V, AP, ML; no NaN).

        ``first_sample`` is the index of the first row in the whole stream: windows sit on
        one grid (multiples of the hop from sample 0 of the stream), so a stream's trailing
        window gives the windows the whole recording gives. Returns ``self``.
        """
        fs = float(sampling_rate_hz)
        acc = np.asarray(acc_body_mps2, dtype=float)
        n = acc.shape[0]
        q = max(1, int(fs // self.target_rate_hz))
        f2 = fs / q
        w = int(round(self.window_s * f2))
        hop = max(int(round(self.hop_s * f2)), 1)
        max_lag = int(np.ceil(self.max_stride_s * f2)) + 1
        self._empty(n)
        if n < q * (w + 2) or w <= max_lag + 2:
            return self
        have_gyr = gyr_body_radps is not None and np.any(np.asarray(gyr_body_radps) != 0)
        cols = [acc[:, 0], acc[:, 1], acc[:, 2]]  # V, AP, ML
        if have_gyr:
            cols.append(np.asarray(gyr_body_radps, dtype=float)[:, 0])  # yaw
        x = np.stack(cols, axis=1)
        x = butter_filtfilt(x - x.mean(axis=0), self.band_hz, fs, "bandpass")
        x = x[(-first_sample) % q :: q]  # decimated on the stream's grid
        first = (first_sample + q - 1) // q  # stream index (decimated) of x[0]
        m = x.shape[0]
        starts = np.arange((-first) % hop, m - w + 1, hop)
        if starts.size == 0:
            return self
        view = np.lib.stride_tricks.sliding_window_view(x, w, axis=0)  # (m-w+1, c, w)
        nfft = 1 << int(np.ceil(np.log2(w + max_lag)))
        comb = np.empty((starts.size, max_lag + 1))
        var = np.empty((starts.size, x.shape[1]))
        for c0 in range(0, starts.size, 256):  # in chunks: small temporaries, no page faults
            seg = view[starts[c0 : c0 + 256]]
            seg = seg - seg.mean(axis=2, keepdims=True)
            spec = np.fft.rfft(seg, nfft, axis=2)
            ac = np.fft.irfft(spec.real**2 + spec.imag**2, nfft, axis=2)[:, :, : max_lag + 1]
            ac /= w  # biased estimate (see the module docstring)
            v0 = ac[:, :, 0]
            var[c0 : c0 + 256] = v0
            r_v = ac[:, 0] / np.maximum(v0[:, :1], 1e-12)
            # the horizontal plane as one channel (AP and ML autocovariances summed): the same
            # whatever the heading estimate, which a short stream window gets less well
            r_s = (ac[:, 1] + ac[:, 2]) / np.maximum(v0[:, 1:2] + v0[:, 2:3], 1e-12)
            if have_gyr:
                r_s = 0.5 * (r_s + ac[:, 3] / np.maximum(v0[:, 3:], 1e-12))
            comb[c0 : c0 + 256] = 0.5 * (r_v + r_s)
        lag, height = _first_dominant_peak(
            comb, int(np.floor(self.min_stride_s * f2)), self.peak_fraction
        )
        stride = lag / f2
        rms_v = np.sqrt(var[:, 0])
        rms_gyr = np.sqrt(var[:, 3]) if have_gyr else np.zeros(len(starts))
        moving = (rms_v >= self.min_rms_v_mps2) | (rms_gyr >= self.min_rms_gyr_radps)
        gait_like = np.isfinite(stride) & (height >= self.min_periodicity) & moving
        centre = ((starts + w / 2.0) * q + (-first_sample) % q) / fs
        self.window_centre_s_ = centre
        self.stride_period_s_ = stride
        self.step_period_s_ = stride / 2.0
        self.periodicity_ = height
        self.gait_like_ = gait_like
        # the gait-like part of a window: its central half, where the trunk moves up and down
        # as much as in the window on average (the autocorrelation is weighted by variance,
        # so a window of which three seconds are walking and five standing is periodic too;
        # the standing part, a weight shift or a turn on the spot before the first step, move
        # the trunk vertically far less than the steps)
        k = max(int(round(f2)), 1)  # 1-s moving RMS
        ms = np.sqrt(uniform_filter1d(x[:, :1] ** 2, k, axis=0))
        active = np.zeros(m, dtype=bool)
        mask = np.zeros(m, dtype=bool)
        for j in np.flatnonzero(gait_like):
            a, b = starts[j] + w // 4, starts[j] + w - w // 4
            mask[a:b] = True
            active[a:b] |= ms[a:b, 0] >= self.min_relative_rms * np.sqrt(var[j, 0])
        iv = _runs(mask & active).astype(float) * q + (-first_sample) % q
        self.gait_like_intervals_ = np.clip(merge_intervals(iv, q), 0, n).astype(int)
        return self

    def _empty(self, n: int) -> None:
        self.window_centre_s_ = np.empty(0)
        self.stride_period_s_ = np.empty(0)
        self.step_period_s_ = np.empty(0)
        self.periodicity_ = np.empty(0)
        self.gait_like_ = np.empty(0, dtype=bool)
        self.gait_like_intervals_ = np.empty((0, 2), dtype=int)

    def step_periods(self, regions: np.ndarray, sampling_rate_hz: float) -> np.ndarray:
        """Median step period (s) of the gait-like windows centred in each [start, end) region
        whose periodicity is at least ``min_periodicity_for_period``.

        NaN for a region without a gait-like window.
        """
        regions = np.asarray(regions, dtype=float).reshape(-1, 2)
        out = np.full(regions.shape[0], np.nan)
        sure = self.gait_like_ & (self.periodicity_ >= self.min_periodicity_for_period)
        c = self.window_centre_s_[sure] * float(sampling_rate_hz)
        p = self.step_period_s_[sure]
        for i, (s, e) in enumerate(regions):
            sel = (c >= s) & (c < e)
            if sel.any():
                out[i] = float(np.median(p[sel]))
        return out


def _first_dominant_peak(r: np.ndarray, min_lag: int, fraction: float):
    """Per row: lag (interpolated) and height of the first local maximum >= fraction * the highest.

    Rows without a positive local maximum at lags >= ``min_lag`` give NaN.
    """
    nw, nl = r.shape
    lag = np.full(nw, np.nan)
    height = np.full(nw, np.nan)
    if nl < 3:
        return lag, height
    mid = r[:, 1:-1]
    is_pk = (mid > r[:, :-2]) & (mid >= r[:, 2:])
    is_pk[:, : max(min_lag - 1, 0)] = False
    vals = np.where(is_pk, mid, -np.inf)
    best = vals.max(axis=1)
    ok = np.isfinite(best) & (best > 0)
    cand = is_pk & (mid >= fraction * best[:, None])
    j = np.argmax(cand, axis=1) + 1  # index into r
    rows = np.flatnonzero(ok)
    j = j[rows]
    a, b, c = r[rows, j - 1], r[rows, j], r[rows, j + 1]
    den = a - 2 * b + c
    with np.errstate(divide="ignore", invalid="ignore"):
        off = np.where(den < 0, 0.5 * (a - c) / den, 0.0)
    lag[rows] = j + np.clip(off, -0.5, 0.5)
    height[rows] = b
    return lag, height

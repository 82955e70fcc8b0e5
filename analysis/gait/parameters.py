"""Spatio-temporal and signal-based gait parameters from a lower-back IMU.

* :class:`StepLengthZijlstra`: step length by the inverted-pendulum model of Zijlstra & Hof
  (2003), ``L_step = K * 2 * sqrt(2 l h - h^2)``, with ``h`` the peak-to-peak vertical
  excursion of the sensor between two initial contacts and ``l`` the sensor height. The
  vertical displacement is obtained as in the Mobilise-D implementation (Soltani et al.
  2021): vertical acceleration high-passed at 0.1 Hz, integrated, velocity high-passed at
  1 Hz (both 4th-order Butterworth, zero phase), integrated. ``K = 4.587 / 4 = 1.147`` is the
  default of mobgap's ``SlZijlstra`` as used by the Mobilise-D pipelines (the factor fitted on
  the MS patients of the MS-Project data set, ``step_length_scaling_factor_ms_ms``; the
  all-participants factor ``ms_all`` = 4.739 / 4 is the documented alternative, 3 % larger);
  Zijlstra & Hof's own factor was 1.25 with their (different, 0.1 Hz-only) drift removal.
* :func:`autocorrelation_regularity`: step and stride regularity and symmetry from the
  unbiased autocorrelation of vertical acceleration (Moe-Nilssen & Helbostad 2004).
* :func:`harmonic_ratio`: per-stride harmonic ratio (Menz et al. 2003; Bellanca et al. 2013):
  even/odd harmonic amplitude ratio of the first 20 stride harmonics for V and AP, odd/even for
  ML.
* When the sensor height is unknown it is taken as 0.53 x body height (anthropometric L5
  height, used by Mobilise-D for the same purpose).

References
----------
Zijlstra W., Hof A. L. (2003). Assessment of spatio-temporal gait parameters from trunk
accelerations during human walking. Gait Posture 18(2):1-10.

Soltani A., Aminian K., Mazza C., et al. (2021). Algorithms for walking speed estimation using
a lower-back-worn inertial sensor: a cross-validation on speed ranges. IEEE TNSRE 29:1955-1964.

Moe-Nilssen R., Helbostad J. L. (2004). Estimation of gait cycle characteristics by trunk
accelerometry. J Biomech 37(1):121-126.

Menz H. B., Lord S. R., Fitzpatrick R. C. (2003). Acceleration patterns of the head and pelvis
when walking on level and irregular surfaces. Gait Posture 18(1):35-46.

Bellanca J. L., Lowry K. A., VanSwearingen J. M., Brach J. S., Redfern M. S. (2013). Harmonic
ratios: a quantification of step to step symmetry. J Biomech 46(4):828-831.

Kobsar D., Olson C., Paranjape R., Hadjistavropoulos T., Barden J. M. (2014). Evaluation of
age-related differences in the stride-to-stride fluctuations, regularity and symmetry of gait
using a waist-mounted tri-axial accelerometer. Gait Posture 39(1):553-557.

Notes: differences to the original
----------------------------------
* Step lengths with an implausible vertical excursion (``h >= l``) are NaN instead of the
  absolute value trick of the MATLAB code; outliers are removed with a Hampel filter
  (window 2 steps either side, 3 scaled MADs) per bout, as Mobilise-D does, but on steps,
  not on per-second values.
* Symmetry is reported as ``Ad1 / Ad2`` (Kobsar et al. 2014; 1 = symmetric). Moe-Nilssen &
  Helbostad report Ad1 and Ad2 only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.gait._signal import butter_filtfilt, nanpercentile_rows

__all__ = [
    "BODY_HEIGHT_TO_SENSOR_HEIGHT",
    "StepLengthZijlstra",
    "autocorrelation_regularity",
    "harmonic_ratio",
    "hampel",
]

BODY_HEIGHT_TO_SENSOR_HEIGHT = 0.53


def vertical_displacement(
    acc_v_mps2: np.ndarray,
    fs: float,
    regions: np.ndarray | None = None,
    slowdown: np.ndarray | None = None,
) -> np.ndarray:
    """Drift-removed vertical displacement (m) from vertical acceleration (Mobilise-D filters).

    Acceleration high-passed at 0.1 Hz, integrated, velocity high-passed at 1 Hz, integrated
    (Soltani et al. 2021). The 1-Hz cut-off sits below the step frequency of ordinary
    walking (1.6-2 Hz) but above that of slow walking (0.5-1 Hz), where it would remove
    most of the step's own vertical movement (a 4th-order zero-phase high-pass keeps 30 %
    of the amplitude at 0.9 Hz). In ``regions`` (k, 2) whose steps are ``slowdown`` times
    longer than those the filters were made for (see
    :class:`analysis.gait.InitialContactDetector`), the velocity cut-off is divided by the
    same factor.
    """
    a = np.asarray(acc_v_mps2, dtype=float)
    if a.size < 4:
        return np.zeros_like(a)
    a = butter_filtfilt(a - a.mean(), 0.1, fs, "highpass")
    v = np.cumsum(a) / fs
    out = np.cumsum(butter_filtfilt(v, 1.0, fs, "highpass")) / fs
    if regions is None or slowdown is None:
        return out
    # each cut-off over the whole signal, so that a region's values do not depend on where
    # the region ends (a stream's window ends inside a walk)
    by_factor: dict[float, np.ndarray] = {}
    for (s, e), f in zip(np.asarray(regions, dtype=int).reshape(-1, 2), slowdown):
        if not np.isfinite(f) or f <= 1.0 or e - s < 4:
            continue
        if f not in by_factor:
            by_factor[f] = np.cumsum(butter_filtfilt(v, 1.0 / f, fs, "highpass")) / fs
        d = by_factor[f]
        out[s:e] = d[s:e] - d[s] + out[s]
    return out


def hampel(x: np.ndarray, half_window: int = 2, n_sigmas: float = 3.0) -> np.ndarray:
    """Hampel filter: values further than n_sigmas scaled MADs from the local median -> median."""
    x = np.asarray(x, dtype=float)
    n = x.size
    if n == 0:
        return x.copy()
    pad = np.pad(x, half_window, mode="edge")
    win = np.lib.stride_tricks.sliding_window_view(pad, 2 * half_window + 1)
    med = nanpercentile_rows(win, 50.0)
    mad = 1.4826 * nanpercentile_rows(np.abs(win - med[:, None]), 50.0)
    out = x.copy()
    bad = np.abs(x - med) > n_sigmas * mad
    bad &= np.isfinite(med)
    out[bad] = med[bad]
    return out


@dataclass(eq=False)
class StepLengthZijlstra:
    """Inverted-pendulum step length (Zijlstra & Hof 2003; see module docstring).

    Parameters
    ----------
    scaling_factor : float
        ``K`` in ``K * 2 * sqrt(2 l h - h^2)``.

    Attributes
    ----------
    step_length_m_ : (k-1,) array
        Length of the step from contact i to i+1 (NaN if not computable).
    excursion_m_ : (k-1,) array
        Vertical excursion ``h`` per step.
    """

    scaling_factor: float = 4.587 / 4.0

    def calculate(
        self,
        displacement_m: np.ndarray,
        ic: np.ndarray,
        sensor_height_m: float,
    ) -> StepLengthZijlstra:
        """Step lengths for consecutive initial contacts (sample indices); returns ``self``.

        ``displacement_m`` is the output of :func:`vertical_displacement`.
        """
        ic = np.asarray(ic, dtype=int)
        d = np.asarray(displacement_m, dtype=float)
        if ic.size < 2:
            self.excursion_m_ = np.empty(0)
            self.step_length_m_ = np.empty(0)
            return self
        # peak-to-peak inside each [ic_i, ic_{i+1}]: contiguous steps, so one reduceat
        starts, ends = ic[:-1], ic[1:]
        h = np.full(starts.size, np.nan)
        ok = (ends > starts) & (starts >= 0) & (ends < d.size)
        if ok.all() and np.all(starts[1:] == ends[:-1]):
            seg = d[starts[0] : ends[-1] + 1]
            idx = ic - starts[0]
            # reduceat spans [ic_i, ic_{i+1}); add the closing sample: ptp(d[s:e+1])
            hi = np.maximum(np.maximum.reduceat(seg, idx)[:-1], seg[idx[1:]])
            lo = np.minimum(np.minimum.reduceat(seg, idx)[:-1], seg[idx[1:]])
            h = hi - lo
        else:
            for j in np.flatnonzero(ok):
                h[j] = np.ptp(d[starts[j] : ends[j] + 1])
        l_m = float(sensor_height_m)
        arg = 2 * l_m * h - h * h
        sl = np.where((arg > 0) & (h < l_m), self.scaling_factor * 2 * np.sqrt(np.abs(arg)), np.nan)
        self.excursion_m_ = h
        self.step_length_m_ = sl
        return self


def _unbiased_autocorr(x: np.ndarray, max_lag: int) -> np.ndarray:
    x = np.asarray(x, dtype=float) - np.mean(x)
    n = x.size
    nfft = 1 << int(np.ceil(np.log2(2 * n)))
    f = np.fft.rfft(x, nfft)
    ac = np.fft.irfft(f * np.conj(f), nfft)[: max_lag + 1]
    ac = ac / np.arange(n, n - max_lag - 1, -1)
    return ac / ac[0] if ac[0] > 0 else np.zeros_like(ac)


def autocorrelation_regularity(
    acc_v_mps2: np.ndarray, fs: float, step_time_s: float
) -> tuple[float, float, float]:
    """Step regularity Ad1, stride regularity Ad2 and symmetry Ad1/Ad2 (Moe-Nilssen 2004).

    The peaks are searched within +-25 % of the expected step and stride lags given by the
    mean step time from the initial contacts.
    """
    x = np.asarray(acc_v_mps2, dtype=float)
    if not np.isfinite(step_time_s) or step_time_s <= 0:
        return (np.nan, np.nan, np.nan)
    lag1 = step_time_s * fs
    max_lag = int(np.ceil(2.5 * lag1))
    if x.size < 2 * max_lag or not np.all(np.isfinite(x)):
        return (np.nan, np.nan, np.nan)
    ac = _unbiased_autocorr(x, max_lag)
    a1 = ac[int(0.75 * lag1) : int(np.ceil(1.25 * lag1)) + 1].max()
    a2 = ac[int(1.5 * lag1) : min(int(np.ceil(2.5 * lag1)) + 1, ac.size)].max()
    sym = a1 / a2 if a2 > 0 else np.nan
    return (float(a1), float(a2), float(sym))


def harmonic_ratio(
    acc_body_mps2: np.ndarray, stride_bounds: np.ndarray, n_harmonics: int = 20
) -> np.ndarray:
    """Mean harmonic ratio (V, AP, ML) over strides (Menz 2003; Bellanca 2013).

    ``stride_bounds`` is (k, 2) sample [start, end) of each stride. Every stride is
    resampled to 128 samples over its own cycle; V and AP use
    sum(even)/sum(odd) harmonic amplitudes, ML sum(odd)/sum(even).
    """
    a = np.asarray(acc_body_mps2, dtype=float)
    b = np.asarray(stride_bounds, dtype=int).reshape(-1, 2)
    if b.shape[0] == 0:
        return np.full(3, np.nan)
    m = 128  # samples per resampled stride (>= 2 * n_harmonics + 1)
    s, e = b[:, 0], b[:, 1]
    # strides of at least 8 samples, all finite (a count of non-finite rows before each)
    bad_before = np.r_[0, np.cumsum(~np.all(np.isfinite(a), axis=1))]
    ok = e - s >= 8
    ok[ok] = bad_before[e[ok]] == bad_before[s[ok]]
    s, e = s[ok], e[ok]
    if s.size == 0:
        return np.full(3, np.nan)
    # all strides at once, (strides, m, axes): each resampled on its own samples, as
    # np.interp over s..e-1 would (times past the last sample take its value; interp
    # returns a sample's own value at its time), so the values are those of one stride
    # at a time, to the bit
    tt = np.minimum(s[:, None] + (e - s)[:, None] * np.arange(m) / m, (e - 1)[:, None])
    xp = np.arange(a.shape[0])
    seg = np.stack([np.interp(tt, xp, a[:, c]) for c in range(3)], axis=2)
    spec = np.abs(np.fft.rfft(seg - seg.mean(1, keepdims=True), axis=1))[:, 1 : n_harmonics + 1]
    even = spec[:, 1::2].sum(1)
    odd = spec[:, 0::2].sum(1)
    with np.errstate(divide="ignore", invalid="ignore"):
        hr = np.stack([even[:, 0] / odd[:, 0], even[:, 1] / odd[:, 1], odd[:, 2] / even[:, 2]], 1)
    return np.nanmean(hr, axis=0)

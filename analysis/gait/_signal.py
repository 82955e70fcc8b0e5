"""Small vectorised signal helpers shared by the gait algorithms (internal)."""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from analysis import dsp


@lru_cache(maxsize=256)
def butter_sos(order: int, cutoff_hz, fs: float, btype: str) -> tuple[np.ndarray, np.ndarray]:
    """Butterworth second-order sections and their unit-step initial state (cached).

    The design and the steady state are the same for every call with the same parameters
    (a live analysis filters the same band many times a second), so they are computed once.
    """
    sos = dsp.butter(order, cutoff_hz, btype, fs)
    return sos, dsp.sosfilt_zi(sos)


def butter_filtfilt(
    x: np.ndarray, cutoff_hz, fs: float, btype: str, order: int = 4, axis: int = 0
) -> np.ndarray:
    """Zero-phase Butterworth filter (second-order sections); short inputs are padded by reflection.

    The same computation as :func:`scipy.signal.sosfiltfilt` (odd extension of ``padlen``
    samples, forward and backward passes started from the steady state of the edge value),
    with the design cached by :func:`butter_sos`.
    """
    x = np.asarray(x, dtype=float)
    if isinstance(cutoff_hz, (tuple, list)):
        hi = min(cutoff_hz[1], 0.45 * fs)
        cutoff_hz = (float(cutoff_hz[0]), float(hi))
    else:
        cutoff_hz = float(min(cutoff_hz, 0.45 * fs))
    sos, zi = butter_sos(int(order), cutoff_hz, float(fs), btype)
    n = x.shape[axis]
    if n < 2:
        return x.copy()
    padlen = min(3 * (2 * len(sos) + 1), n - 1)
    x = np.moveaxis(x, axis, 0)
    left = 2 * x[:1] - x[padlen:0:-1]
    right = 2 * x[-1:] - x[-2 : -padlen - 2 : -1]
    ext = np.concatenate([left, x, right])
    zshape = (zi.shape[0], 2) + (1,) * (ext.ndim - 1)
    z = zi.reshape(zshape)
    y, _ = dsp.sosfilt(sos, ext, axis=0, zi=z * ext[:1])
    y = y[::-1]
    y, _ = dsp.sosfilt(sos, y, axis=0, zi=z * y[:1])
    y = y[::-1][padlen : padlen + n]
    return np.moveaxis(y, 0, axis)


def gaussian_derivative_kernel(sigma_s: float, fs: float, order: int) -> np.ndarray:
    """Sampled derivative of a Gaussian (``order`` 0, 1 or 2), support +-5 sigma."""
    sigma = sigma_s * fs
    half = max(int(np.ceil(5 * sigma)), 1)
    t = np.arange(-half, half + 1, dtype=float)
    g = np.exp(-0.5 * (t / sigma) ** 2)
    if order == 0:
        k = g
    elif order == 1:
        k = -t / sigma**2 * g
    elif order == 2:
        k = (t**2 / sigma**4 - 1 / sigma**2) * g
    else:  # pragma: no cover - internal misuse
        raise ValueError("order must be 0, 1 or 2")
    return k


def ricker_unit_gain(x: np.ndarray, centre_hz: float, fs: float) -> np.ndarray:
    """Filter with a Ricker (Mexican-hat) wavelet peaking at ``centre_hz``, unit gain there.

    Ricker peak frequency is ``1 / (sqrt(2) pi sigma)``.
    """
    sigma_s = 1.0 / (np.sqrt(2.0) * np.pi * centre_hz)
    k = -gaussian_derivative_kernel(sigma_s, fs, 2)
    t = (np.arange(k.size) - k.size // 2) / fs
    gain = np.abs(np.sum(k * np.exp(-2j * np.pi * centre_hz * t)))
    k = k / gain
    return convolve_same(x, k)


def convolve_same(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """'same'-length convolution of ``x`` with an odd-length kernel, edges reflected."""
    x = np.asarray(x, dtype=float)
    if x.size == 0:
        return x.copy()
    half = k.size // 2
    xp = np.pad(x, half, mode="reflect" if x.size > 1 else "edge")
    return dsp.convolve_valid(xp, k)


def negative_lobes(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every closed negative lobe of ``x``: (first sample, first sample after, minimum).

    A lobe starts with a +/- zero crossing and ends with the next -/+ one; lobes still open
    at either end of ``x`` are not returned.
    """
    x = np.asarray(x, dtype=float)
    none = np.empty(0, dtype=int)
    if x.size < 3:
        return none, none, none
    pos = x >= 0
    change = np.flatnonzero(pos[1:] != pos[:-1]) + 1  # first sample after the crossing
    if change.size < 2:
        return none, none, none
    down = change[~pos[change]]  # entering a negative lobe
    up = change[pos[change]]  # leaving it
    if up.size and down.size and up[0] < down[0]:
        up = up[1:]
    m = min(down.size, up.size)
    down, up = down[:m], up[:m]
    if m == 0:
        return none, none, none
    # vectorised argmin per lobe: lexsort by (value) inside segment labels
    seg = np.zeros(x.size, dtype=int)
    np.add.at(seg, down, 1)
    np.add.at(seg, up, -1)
    inside = np.cumsum(seg) > 0
    idx = np.flatnonzero(inside)
    label = np.searchsorted(down, idx, side="right") - 1
    order = np.lexsort((x[idx], label))
    first = np.r_[True, label[order][1:] != label[order][:-1]]
    return down, up, idx[order][first]


def minima_between_zero_crossings(x: np.ndarray) -> np.ndarray:
    """Index of the minimum of every negative lobe that starts with a +/- and ends with a -/+ crossing."""
    return negative_lobes(x)[2]


def nanpercentile_rows(a: np.ndarray, q: float) -> np.ndarray:
    """Percentile ``q`` (0-100, linear interpolation) of every row of ``a``, ignoring NaN.

    The same values as ``np.nanpercentile(a, q, axis=1)`` (NaN for a row without a value),
    vectorised: that function loops over rows in Python.
    """
    a = np.asarray(a, dtype=float)
    if a.ndim != 2 or a.shape[0] == 0:
        return np.nanpercentile(a, q, axis=-1) if a.size else np.empty(0)
    srt = np.sort(a, axis=1)  # NaN last
    cnt = np.sum(np.isfinite(a), axis=1)
    pos = np.maximum(cnt - 1, 0) * (q / 100.0)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, np.maximum(cnt - 1, 0))
    rows = np.arange(a.shape[0])
    frac = pos - lo
    out = srt[rows, lo] + frac * (srt[rows, hi] - srt[rows, lo])
    out[cnt == 0] = np.nan
    return out


def runs(mask: np.ndarray) -> np.ndarray:
    """(k, 2) array of [start, end) index pairs of True runs."""
    m = np.asarray(mask, dtype=bool)
    if m.size == 0:
        return np.empty((0, 2), dtype=int)
    d = np.diff(np.r_[0, m.astype(np.int8), 0])
    return np.stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)], axis=1)


def merge_intervals(iv: np.ndarray, max_gap: float) -> np.ndarray:
    """Merge sorted [start, end] intervals whose gap is < ``max_gap`` (same units)."""
    iv = np.asarray(iv, dtype=float).reshape(-1, 2)
    if iv.shape[0] == 0:
        return iv
    iv = iv[np.argsort(iv[:, 0])]
    run_end = np.maximum.accumulate(iv[:, 1])
    new = np.r_[True, iv[1:, 0] - run_end[:-1] >= max_gap]
    starts = iv[new, 0]
    ends = np.maximum.reduceat(iv[:, 1], np.flatnonzero(new))
    return np.stack([starts, ends], axis=1)

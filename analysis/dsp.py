"""Butterworth filters, IIR filtering and peak finding without importing ``scipy.signal``.

Why: importing ``scipy.signal`` costs about 1 s and 100 MB (scipy 1.17 loads scipy.stats,
optimize, interpolate and its docstring machinery with it), more than the gait analysis of
an hour of data. The analysis needs a handful of its functions; they are here, giving the
same results:

* :func:`butter` - digital Butterworth design as second-order sections, in numpy: the same
  poles, zeros, gain, pairing and section order as ``scipy.signal.butter(...,
  output="sos")`` (analog prototype, pre-warped bilinear transform; the section with the
  poles nearest the unit circle last, each pole pair with its nearest zeros, the gain in
  the first section). Equal to scipy's coefficients (tests).
* :func:`sosfilt_zi`, :func:`lfilter_zi` - steady-state initial conditions, in numpy.
* :func:`sosfilt`, :func:`lfilter` (order <= 2), :func:`sosfiltfilt` - the filtering loop
  itself is scipy's compiled kernel (``scipy/signal/_sosfilt``), loaded from its file
  without running the ``scipy.signal`` package (whose ``__init__`` is what costs the
  second); if that private module cannot be loaded (another scipy layout), the public
  ``scipy.signal.sosfilt`` is used: slower to import, same numbers. Results are bit for
  bit scipy's (tests).
* :func:`find_peaks` - local maxima (the middle of a flat top) at or above a height, the
  indices ``scipy.signal.find_peaks(x, height=h)[0]`` gives (tests).
* :func:`uniform_filter1d` - moving mean with repeated edges, as
  ``scipy.ndimage.uniform_filter1d(..., mode="nearest")`` to rounding (scipy.ndimage costs
  another 0.2 s to import).
* :func:`convolve_valid` - FFT convolution, ``mode="valid"``, numpy's FFT.

A numpy-only IIR filter was tried first (blocks of samples as matrix products, the block
states by a doubling scan, one refinement pass for poles near z = 1): it matched scipy to
1e-12 but took 0.4 s for a 4th-order band-pass over an hour at 100 Hz on the 2-core
benchmark machine, against 0.01-0.03 s for scipy's per-sample C loop; the gait analysis
filters an hour about a dozen times, so it would have cost more than the import saves.

References
----------
Butterworth design by the bilinear transform with pre-warping: A. V. Oppenheim and R. W.
Schafer, *Discrete-Time Signal Processing*, 3rd ed., 2010, ch. 7; section pairing as
scipy's ``zpk2sos`` (``pairing="nearest"``). Differences to scipy: odd-order low/high-pass
designs (a real pole) are not implemented (the project uses orders 2 and 4) and raise.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


# ------------------------------------------------------------------------------ design
def _digital_zpk(order: int, cutoff, btype: str, fs: float):
    """Zeros, poles and gain of a digital Butterworth filter (z-plane)."""
    if order < 1:
        raise ValueError(f"filter order must be >= 1, got {order}")
    wn = np.atleast_1d(np.asarray(cutoff, dtype=float)) * 2.0 / fs  # 1 = Nyquist
    if np.any(wn <= 0) or np.any(wn >= 1):
        raise ValueError(f"cutoff {cutoff} Hz must lie between 0 and fs/2 = {fs / 2} Hz")
    warped = 4.0 * np.tan(np.pi * wn / 2.0)  # pre-warped analog frequencies (fs = 2)
    m = np.arange(-order + 1, order, 2)
    p = -np.exp(1j * np.pi * m / (2 * order))  # analog prototype, cutoff 1 rad/s
    if btype == "lowpass":
        if wn.size != 1:
            raise ValueError("a low-pass filter takes one cutoff")
        p = warped[0] * p
        z = np.empty(0, dtype=complex)
        k = warped[0] ** order
    elif btype == "highpass":
        if wn.size != 1:
            raise ValueError("a high-pass filter takes one cutoff")
        k = float(np.real(1.0 / np.prod(-p)))
        p = warped[0] / p
        z = np.zeros(order, dtype=complex)
    elif btype == "bandpass":
        if wn.size != 2 or not wn[0] < wn[1]:
            raise ValueError(f"a band-pass filter takes (low, high) cutoffs, got {cutoff}")
        wo = np.sqrt(warped[0] * warped[1])
        bw = warped[1] - warped[0]
        p_lp = p * bw / 2.0
        root = np.sqrt(p_lp**2 - wo**2)
        p = np.concatenate((p_lp + root, p_lp - root))
        z = np.zeros(order, dtype=complex)
        k = bw**order
    else:
        raise ValueError(f"btype must be lowpass, highpass or bandpass, got {btype!r}")
    # bilinear transform, fs = 2
    k = k * float(np.real(np.prod(4.0 - z) / np.prod(4.0 - p)))
    zz = (4.0 + z) / (4.0 - z)
    pz = (4.0 + p) / (4.0 - p)
    zz = np.concatenate((zz, -np.ones(len(pz) - len(zz))))
    return zz.real, pz, k


@lru_cache(maxsize=256)
def _butter_cached(order: int, cutoff: tuple[float, ...], btype: str, fs: float) -> np.ndarray:
    zeros, poles, k = _digital_zpk(order, cutoff if len(cutoff) > 1 else cutoff[0], btype, fs)
    tol = 100 * np.finfo(float).eps
    upper = poles[poles.imag > tol * np.abs(poles)]  # one pole of each conjugate pair
    real = poles[np.abs(poles.imag) <= tol * np.abs(poles)].real
    if real.size:
        raise NotImplementedError(
            f"{btype} Butterworth of order {order} has a real pole: only even-order "
            "low/high-pass (and band-pass with complex poles) are implemented"
        )
    zeros = list(zeros)
    pairs = list(upper)
    sos = np.zeros((len(pairs), 6))
    for si in range(len(pairs) - 1, -1, -1):  # poles nearest the unit circle go last
        i = int(np.argmin([abs(1 - abs(q)) for q in pairs]))
        p1 = pairs.pop(i)
        z1 = zeros.pop(int(np.argmin([abs(z - p1) for z in zeros])))
        z2 = zeros.pop(int(np.argmin([abs(z - p1) for z in zeros])))
        sos[si] = [1.0, -(z1 + z2), z1 * z2, 1.0, -2.0 * p1.real, p1.real**2 + p1.imag**2]
    sos[0, :3] *= k
    sos.flags.writeable = False
    return sos


def butter(order: int, cutoff, btype: str, fs: float) -> np.ndarray:
    """Digital Butterworth filter as second-order sections (``(n_sections, 6)``).

    Parameters
    ----------
    order
        Filter order (band-pass: of each edge, as scipy counts it).
    cutoff
        Cutoff in Hz; ``(low, high)`` for a band-pass.
    btype
        ``"lowpass"``, ``"highpass"`` or ``"bandpass"``.
    fs
        Sampling rate in Hz.

    Returns
    -------
    numpy.ndarray
        ``[b0, b1, b2, 1, a1, a2]`` per section, as ``scipy.signal.butter(order, cutoff,
        btype, fs=fs, output="sos")`` gives it (read-only, cached).
    """
    c = tuple(float(v) for v in np.atleast_1d(cutoff))
    return _butter_cached(int(order), c, btype, float(fs))


# ------------------------------------------------------------------------ steady states
def lfilter_zi(b, a) -> np.ndarray:
    """Initial state of :func:`lfilter` for the steady state of a unit step input."""
    b = np.atleast_1d(np.asarray(b, dtype=float))
    a = np.atleast_1d(np.asarray(a, dtype=float))
    a = np.trim_zeros(a, "f")
    b, a = b / a[0], a / a[0]
    n = max(len(a), len(b))
    if n == 1:
        return np.empty(0)
    a = np.r_[a, np.zeros(n - len(a))]
    b = np.r_[b, np.zeros(n - len(b))]
    companion = np.zeros((n - 1, n - 1))
    companion[0] = -a[1:]
    companion[np.arange(1, n - 1), np.arange(n - 2)] = 1.0
    return np.linalg.solve(np.eye(n - 1) - companion.T, b[1:] - a[1:] * b[0])


def sosfilt_zi(sos: np.ndarray) -> np.ndarray:
    """Initial states ``(n_sections, 2)`` of :func:`sosfilt` for a unit step's steady state."""
    sos = np.asarray(sos, dtype=float)
    zi = np.empty((sos.shape[0], 2))
    scale = 1.0
    for s in range(sos.shape[0]):
        b, a = sos[s, :3], sos[s, 3:]
        zi[s] = scale * lfilter_zi(b, a)
        scale *= b.sum() / a.sum()
    return zi


# ------------------------------------------------------------------------------ filtering
_SOSFILT = None  # scipy's compiled per-sample loop, or False: use scipy.signal.sosfilt


def _sosfilt_kernel():
    """scipy's compiled ``_sosfilt(sos, x, zi)`` (in place on C-ordered float64 arrays),
    loaded from its file without importing the ``scipy.signal`` package; None if that fails."""
    global _SOSFILT
    if _SOSFILT is None:
        _SOSFILT = False
        try:
            import importlib.machinery
            import importlib.util
            import sys

            import scipy

            name = "scipy.signal._sosfilt"
            mod = sys.modules.get(name)
            if mod is None:
                folder = [scipy.__path__[0] + "/signal"]  # no os/pathlib in analysis/
                found = importlib.machinery.PathFinder.find_spec("_sosfilt", folder)
                origin = found.origin if found is not None else None
                spec = importlib.util.spec_from_file_location(name, origin) if origin else None
                if spec is None or spec.loader is None:
                    raise ImportError(f"{name} is not where scipy 1.x keeps it")
                mod = importlib.util.module_from_spec(spec)
                spec.loader.exec_module(mod)
                sys.modules.setdefault(name, mod)
            _SOSFILT = mod._sosfilt
        except Exception:  # another scipy layout: the public function, same numbers
            _SOSFILT = False
    return _SOSFILT or None


def sosfilt(sos: np.ndarray, x: np.ndarray, axis: int = -1, zi: np.ndarray | None = None):
    """Filter ``x`` along ``axis`` with second-order sections (``scipy.signal.sosfilt``).

    Parameters
    ----------
    sos
        ``(n_sections, 6)`` coefficients.
    x
        Signal (any shape).
    axis
        Axis of the samples.
    zi
        Initial states: ``(n_sections,) + x.shape`` with ``axis`` of length 2; None: zero.

    Returns
    -------
    y or (y, zf)
        The output (shape of ``x``) and, when ``zi`` is given, the final states.
    """
    kernel = _sosfilt_kernel()
    if kernel is None:  # pragma: no cover - only with a scipy of another layout
        from scipy import signal

        return signal.sosfilt(sos, x, axis=axis, zi=zi)
    sos = np.asarray(sos, dtype=float)
    if sos.ndim != 2 or sos.shape[1] != 6:
        raise ValueError(f"sos must have shape (n_sections, 6), got {sos.shape}")
    ns = sos.shape[0]
    x = np.asarray(x, dtype=float)
    axis = axis % x.ndim
    state_shape = list(x.shape)
    state_shape[axis] = 2
    zshape = (ns, *state_shape)
    if zi is None:
        z = np.zeros(zshape)
    else:
        z = np.asarray(zi, dtype=float)
        if z.shape != zshape:
            raise ValueError(f"zi must have shape {zshape}, got {z.shape}")
    sos_c = np.array(sos, order="C")  # a writable copy: the kernel takes memoryviews
    if x.ndim == 1:  # the streaming analyses' short calls: no axis shuffling
        y = np.array(x, dtype=float)[None, :]
        zc = np.array(z, dtype=float, order="C")[None]
        kernel(sos_c, y, zc)
        return y[0] if zi is None else (y[0], zc[0])
    if x.ndim == 2 and axis == 0:
        y = np.array(x.T, dtype=float, order="C")
        zc = np.array(z.transpose(2, 0, 1), dtype=float, order="C")
        kernel(sos_c, y, zc)
        return y.T if zi is None else (y.T, zc.transpose(1, 2, 0))
    xm = np.moveaxis(x, axis, -1)
    zm = np.moveaxis(z, (0, axis + 1), (-2, -1))
    x_shape, z_shape = xm.shape, zm.shape
    y = np.array(xm.reshape(-1, xm.shape[-1]), dtype=float, order="C")  # a copy, filtered in place
    zc = np.array(zm.reshape(-1, ns, 2), dtype=float, order="C")
    kernel(sos_c, y, zc)
    y = np.moveaxis(y.reshape(x_shape), -1, axis)
    if zi is None:
        return y
    return y, np.moveaxis(zc.reshape(z_shape), (-2, -1), (0, axis + 1))


def lfilter(b, a, x: np.ndarray, axis: int = -1, zi: np.ndarray | None = None):
    """IIR filter of order 1 or 2 along ``axis`` (``scipy.signal.lfilter``), states included.

    Run as one second-order section with zero-padded coefficients: for order 1 the same
    arithmetic as scipy's transposed direct form II (bit for bit); for order 2 its additions
    come in another order (equal to rounding). ``zi`` has ``order`` states along ``axis``.
    """
    b = np.atleast_1d(np.asarray(b, dtype=float))
    a = np.atleast_1d(np.asarray(a, dtype=float))
    order = max(len(a), len(b)) - 1
    if not 1 <= order <= 2:
        raise ValueError(f"lfilter here takes order 1 or 2, got {order}")
    if a[0] != 1.0:
        b, a = b / a[0], a / a[0]
    coef = np.zeros((1, 6))
    coef[0, : len(b)] = b
    coef[0, 3 : 3 + len(a)] = a
    if zi is None:
        return sosfilt(coef, x, axis=axis)
    x = np.asarray(x, dtype=float)
    zi = np.asarray(zi, dtype=float)
    ax = axis % x.ndim
    z = np.zeros((1, *x.shape[:ax], 2, *x.shape[ax + 1 :]))
    idx = (0,) + (slice(None),) * ax + (slice(0, order),)
    z[idx] = zi
    y, zf = sosfilt(coef, x, axis=ax, zi=z)
    return y, zf[idx]


def sosfiltfilt(sos: np.ndarray, x: np.ndarray, axis: int = -1, padlen: int | None = None):
    """Zero-phase filter along ``axis`` (``scipy.signal.sosfiltfilt`` with ``padtype="odd"``).

    The signal is extended at both ends by ``padlen`` samples (odd extension), filtered
    forward from the steady state of its first value and backward from that of the forward
    output's last value; ``padlen`` defaults to scipy's.
    """
    sos = np.asarray(sos, dtype=float)
    x = np.asarray(x, dtype=float)
    ns = sos.shape[0]
    if padlen is None:
        trailing = min(int((sos[:, 2] == 0).sum()), int((sos[:, 5] == 0).sum()))
        padlen = 3 * (2 * ns + 1 - trailing)
    xm = np.moveaxis(x, axis, 0)
    n = xm.shape[0]
    if n <= padlen:
        raise ValueError(f"the signal ({n} samples) must be longer than padlen ({padlen})")
    if padlen > 0:
        left = 2 * xm[:1] - xm[padlen:0:-1]
        right = 2 * xm[-1:] - xm[-2 : -padlen - 2 : -1]
        ext = np.concatenate([left, xm, right])
    else:
        ext = xm
    zi = sosfilt_zi(sos).reshape((ns, 2) + (1,) * (ext.ndim - 1))
    y, _ = sosfilt(sos, ext, axis=0, zi=zi * ext[:1])
    y = y[::-1]
    y, _ = sosfilt(sos, y, axis=0, zi=zi * y[:1])
    y = y[::-1]
    if padlen > 0:
        y = y[padlen:-padlen]
    return np.moveaxis(y, 0, axis)


# ------------------------------------------------------------------------- peaks, means
def find_peaks(x: np.ndarray, height: float | None = None) -> np.ndarray:
    """Indices of local maxima of a 1-D signal at or above ``height``.

    A flat top counts once, at its middle sample (the left one of two); the first and last
    samples are never peaks; NaN is never a peak. The same indices as
    ``scipy.signal.find_peaks(x, height=height)[0]``.
    """
    x = np.asarray(x, dtype=float)
    if x.ndim != 1:
        raise ValueError("find_peaks takes a 1-D signal")
    if x.size < 3:
        return np.empty(0, dtype=np.intp)
    new = np.r_[True, x[1:] != x[:-1]]  # first sample of each run of equal values
    start = np.flatnonzero(new)
    end = np.r_[start[1:] - 1, x.size - 1]
    v = x[start]
    peak = np.zeros(v.size, dtype=bool)
    peak[1:-1] = (v[:-2] < v[1:-1]) & (v[2:] < v[1:-1])
    idx = (start[peak] + end[peak]) // 2
    if height is not None:
        idx = idx[x[idx] >= height]
    return idx.astype(np.intp)


def uniform_filter1d(x: np.ndarray, size: int, axis: int = -1) -> np.ndarray:
    """Moving mean over ``size`` samples along ``axis``, edges repeated.

    Sample ``i`` averages ``x[i - size // 2 : i - size // 2 + size]``, as
    ``scipy.ndimage.uniform_filter1d(x, size, axis, mode="nearest")`` (to rounding). The
    window sums come from a cumulative sum of the signal minus its mean, so that rounding
    stays at the level of the signal's spread, not its length times its mean.
    """
    x = np.asarray(x, dtype=float)
    size = int(size)
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    xm = np.moveaxis(x, axis, 0)
    if xm.shape[0] == 0:
        return x.copy()
    left = size // 2
    right = size - left - 1
    ext = np.concatenate([np.repeat(xm[:1], left, axis=0), xm, np.repeat(xm[-1:], right, axis=0)])
    mu = ext.mean(axis=0)
    c = np.concatenate([np.zeros((1,) + ext.shape[1:]), np.cumsum(ext - mu, axis=0)])
    out = (c[size:] - c[:-size]) / size + mu
    # a mean lies within its values' range: keep rounding from leaving it (a moving mean of
    # squares must not come out at -1e-17, whose square root is NaN)
    np.clip(out, xm.min(axis=0), xm.max(axis=0), out=out)
    return np.moveaxis(out, 0, axis)


def convolve_valid(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """``mode="valid"`` convolution of 1-D ``x`` with ``k`` (FFT, numpy only)."""
    x = np.asarray(x, dtype=float)
    k = np.asarray(k, dtype=float)
    n = x.size + k.size - 1
    nfft = 1 << max(int(n - 1).bit_length(), 0)
    full = np.fft.irfft(np.fft.rfft(x, nfft) * np.fft.rfft(k, nfft), nfft)[:n]
    lo = min(x.size, k.size) - 1
    return full[lo : lo + abs(x.size - k.size) + 1]

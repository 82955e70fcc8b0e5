"""Sensor frame -> body frame (V, AP, ML), whatever way the sensor was strapped on.

Conventions
-----------
Body frame columns are, in this order:

* ``V``  vertical, positive **up** (against gravity). A sensor at rest reads about
  ``+9.81 m/s^2`` on V: accelerations are specific force, gravity is *not* removed
  (subtract :data:`STANDARD_GRAVITY_MPS2` from V for the dynamic part).
* ``AP`` anterior-posterior, positive **forward** (the walking direction).
* ``ML`` medio-lateral, ``ML = V x AP``, positive to the person's **right**; (V, AP, ML) is a
  right-handed frame. Angular velocity about V is positive for a counter-clockwise
  rotation seen from above, i.e. a turn to the **left**.

The frame is body-fixed: it turns with the person (AP is always "forward for the trunk"),
but V follows gravity sample by sample (tilt is tracked by a complementary filter), so V is
the true vertical even when the trunk leans.

Method
------
1. **Gravity direction** (:func:`gravity_direction`): mean specific force over quiet periods
   (moving SD of the acceleration norm below a threshold); the whole-recording mean if there
   is no quiet second.
2. **Tilt during movement**: a first-order complementary filter (Higgins 1975; Mahony et al.
   2008) blends the gyroscope-propagated gravity vector (``dg/dt = -omega x g`` in the
   sensor frame) with the measured acceleration direction, time constant ``tau_s``.
3. **Heading (AP)**: the horizontal direction of the step-band acceleration that co-varies
   with vertical velocity. In inverted-pendulum walking forward speed is lowest when the
   trunk is highest (Cavagna et al. 1977), so forward acceleration is in anti-phase with
   vertical velocity: ``AP = -normalise(E[a_h * v_V])``. The ML sway is at stride frequency
   and cancels out over left and right steps, so this one covariance gives both the axis and
   its sign. When there is too little walking for that, the axis falls back to
   ``heading_hint_sensor`` if given, else to the principal axis of the horizontal
   low-frequency acceleration (PCA as in Kunze et al. 2009; sign not identifiable, chosen
   deterministically) and ``heading_source_`` says so.

References
----------
Higgins W. T. (1975). A comparison of complementary and Kalman filtering. IEEE Trans.
Aerosp. Electron. Syst. AES-11(3):321-325.

Mahony R., Hamel T., Pflimlin J.-M. (2008). Nonlinear complementary filters on the special
orthogonal group. IEEE Trans. Autom. Control 53(5):1203-1218.

Cavagna G. A., Heglund N. C., Taylor C. R. (1977). Mechanical work in terrestrial
locomotion: two basic mechanisms for minimizing energy expenditure. Am J Physiol 233:R243-61.

Kunze K., Lukowicz P., Partridge K., Begole B. (2009). Which way am I facing: inferring
horizontal device orientation from an accelerometer signal. ISWC 2009, 149-150.

Moe-Nilssen R. (1998). A new method for evaluating motor control in gait under real-life
environmental conditions. Part 1: the instrument. Clin Biomech 13:320-327 (tilt correction
of trunk accelerations).

Notes: differences to the original
----------------------------------
* The complementary filter is linearised so it runs as two vectorised IIR passes
  (``scipy.signal.lfilter``) instead of a per-sample loop: the cross product ``omega x g``
  uses the previous pass's estimate of ``g``. For tilt rates of a walking trunk the
  difference to the non-linear filter is far below a degree (tested against a synthetic
  rotation).
* Heading from the vertical-velocity covariance replaces Kunze's PCA + sign heuristics; PCA
  remains only as the fallback when nobody walks.
* NaN rows (lost samples) are linearly interpolated for the filters and are NaN again in the
  outputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis import dsp
from analysis.dsp import uniform_filter1d

__all__ = [
    "STANDARD_GRAVITY_MPS2",
    "BodyFrameAligner",
    "body_axes",
    "fill_nan_rows",
    "frame_from_acc",
    "gravity_direction",
    "horizontal_basis",
]

STANDARD_GRAVITY_MPS2 = 9.80665


def fill_nan_rows(x: np.ndarray, copy: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Linearly interpolate rows that contain a NaN; return (filled copy, bool mask of bad rows).

    Leading/trailing bad rows take the nearest good value. If no row is good the result is
    all zeros. ``copy=False``: a caller that owns ``x`` (a temporary) and does not write to
    the result gets ``x`` itself back when no row is bad (an hour of 6 axes at 100 Hz is
    17 MB a copy).
    """
    x = np.asarray(x, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    bad = ~np.all(np.isfinite(x), axis=1)
    if not bad.any():
        return (x.copy() if copy else x), bad
    out = x.copy()
    good = np.flatnonzero(~bad)
    if good.size == 0:
        return np.zeros_like(x), bad
    idx = np.arange(x.shape[0])
    for c in range(x.shape[1]):
        out[bad, c] = np.interp(idx[bad], good, x[good, c])
    return out, bad


def _check_xyz(arr: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(arr, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3:
        raise ValueError(f"{name} must have shape (n, 3), got {arr.shape}")
    return arr


def _quiet_mask(acc: np.ndarray, sampling_rate_hz: float, window_s: float, sd_mps2: float):
    norm = np.sqrt(_dot_columns(acc.T, acc.T))  # np.linalg.norm(acc, axis=1), to the bit
    w = max(int(round(window_s * sampling_rate_hz)), 1)
    m = uniform_filter1d(norm, w)
    m2 = uniform_filter1d(norm * norm, w)
    sd = np.sqrt(np.maximum(m2 - m * m, 0.0))
    return sd < sd_mps2


def gravity_direction(
    acc_mps2: np.ndarray,
    sampling_rate_hz: float | None = None,
    *,
    quiet_window_s: float = 1.0,
    quiet_sd_mps2: float = 0.2,
) -> np.ndarray:
    """Unit vector pointing **up** (against gravity), in the sensor frame.

    The one gravity estimate of Poise: the body frame of a recording, the tests' horizontal
    planes and the live analysis all take it from here.

    Parameters
    ----------
    acc_mps2 : (n, 3) array
        Accelerometer specific force in m/s^2, sensor frame. NaN values are ignored.
    sampling_rate_hz : float or None
        With a rate, the mean over quiet periods (below); without one, the mean of the whole
        window (a short window of standing, as the live analysis and the balance tests have).
    quiet_window_s, quiet_sd_mps2 : float
        A sample is quiet when the SD of the acceleration norm over ``quiet_window_s``
        around it is below ``quiet_sd_mps2``. If at least one window's worth of samples is
        quiet, their mean gives the direction; otherwise the whole-recording mean (the
        zero-frequency component of a low-pass filter) does.

    Returns
    -------
    (3,) unit vector; ``[nan, nan, nan]`` if the input has no finite row or zero mean.
    """
    acc = _check_xyz(acc_mps2, "acc_mps2")
    ok = np.all(np.isfinite(acc), axis=1)
    if not np.isfinite(acc).any(axis=0).all():
        return np.full(3, np.nan)
    if sampling_rate_hz is None:
        mean = np.nanmean(acc, axis=0)
    else:
        a = acc[ok]
        quiet = _quiet_mask(a, sampling_rate_hz, quiet_window_s, quiet_sd_mps2)
        if quiet.sum() >= max(quiet_window_s * sampling_rate_hz, 1):
            mean = a[quiet].mean(axis=0)
        elif a.shape[0]:
            mean = a.mean(axis=0)
        else:
            return np.full(3, np.nan)
    n = np.linalg.norm(mean)
    if not np.isfinite(n) or n < 1e-9:
        return np.full(3, np.nan)
    return mean / n


def horizontal_basis(up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two horizontal unit vectors ``(e1, e2)`` completing ``up`` to a right-handed frame.

    ``e1 = up x a`` with ``a`` the sensor axis nearest the horizontal plane, ``e2 = up x
    e1``: a fixed basis for what does not depend on the walking direction (the total sway
    of a balance test, the plane in which the heading is searched).
    """
    e1 = np.cross(up, np.eye(3)[np.argmin(np.abs(up))])
    e1 /= np.linalg.norm(e1)
    return e1, np.cross(up, e1)


def body_axes(up: np.ndarray, forward: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """The AP and ML unit vectors (sensor frame) of a body frame with vertical ``up``.

    AP is ``forward`` made horizontal; without a usable forward direction (``None``, or
    within 18 degrees of the vertical) it is the sensor axis nearest the horizontal plane,
    z when x is up (the mounting of the guide: x up, y side, z forward). ``ML = up x AP``.
    """
    if forward is None or abs(float(np.dot(forward, up))) > 0.95:
        forward = np.eye(3)[int(np.argmin(np.abs(up)))]
        if abs(up[0]) > 0.8:
            forward = np.array([0.0, 0.0, 1.0])
    ap = forward - np.dot(forward, up) * up
    ap = ap / np.linalg.norm(ap)
    return ap, np.cross(up, ap)


def frame_from_acc(
    acc_mps2: np.ndarray,
    forward: np.ndarray | None = None,
    *,
    min_samples: int = 10,
    min_gravity_mps2: float = 5.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """``(up, AP, ML)`` unit vectors in the sensor frame from a window of acceleration.

    Up is the mean acceleration's direction (:func:`gravity_direction` without a rate),
    AP and ML come from :func:`body_axes` with ``forward``. ``None`` with fewer than
    ``min_samples`` finite rows or a mean below ``min_gravity_mps2`` (no clear gravity).
    This is the frame the live view draws every sensor's signals in.
    """
    acc = np.asarray(acc_mps2, dtype=float)
    ok = np.isfinite(acc).all(axis=1)
    if ok.sum() < min_samples:
        return None
    mean = acc[ok].mean(axis=0)
    norm = float(np.linalg.norm(mean))
    if norm < min_gravity_mps2:
        return None
    up = mean / norm
    ap, ml = body_axes(up, forward)
    return up, ap, ml


# The per-sample vector arithmetic below runs on components: (3, n) arrays, one contiguous
# row per axis, instead of numpy's row-wise reductions and np.cross on (n, 3) arrays, which
# spend most of their time on the short axis. The arithmetic is the same, term for term
# (a row's dot product is ((x0 y0 + x1 y1) + x2 y2), as np.sum(..., axis=1) adds three
# terms), so the results are identical to the bit. Products with a constant vector stay
# matrix products on (n, 3) arrays (``g @ fwd``, :func:`_matvec`): BLAS adds those in its
# own order.


def _unit_columns(x: np.ndarray) -> np.ndarray:
    """(3, n) vectors (one per column) scaled to unit length, as a new C-ordered array;
    vectors shorter than 1e-12 are kept as they are."""
    n = np.sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2])
    n[n < 1e-12] = 1.0
    return np.divide(x, n, out=np.empty(x.shape))


#: Rows per matrix-vector product in :func:`_matvec`.
_MATVEC_ROWS = 1 << 15


def _matvec(a: np.ndarray, v: np.ndarray) -> np.ndarray:
    """``a @ v`` for a tall (n, 3) ``a``, computed in blocks of ``_MATVEC_ROWS`` rows.

    OpenBLAS spreads a product of more than about 150 000 x 3 over its threads, whose
    workers then spin for tens of milliseconds waiting for more work: 30-40 ms of CPU
    (the other core) for a product that takes 1 ms on one thread. A block this size runs on
    the calling thread; every row is the same dot product as in one call (the same kernel,
    the same values to the bit, C- or F-ordered; tests).
    """
    n = a.shape[0]
    if n <= _MATVEC_ROWS:
        return a @ v
    out = np.empty(n)
    for i in range(0, n, _MATVEC_ROWS):
        out[i : i + _MATVEC_ROWS] = a[i : i + _MATVEC_ROWS] @ v
    return out


def _cross_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a x b`` of (3, n) vectors, as :func:`numpy.cross` computes it."""
    out = np.empty(np.broadcast_shapes(a.shape, b.shape))
    for i, j, k in ((0, 1, 2), (1, 2, 0), (2, 0, 1)):
        np.multiply(a[j], b[k], out=out[i])
        out[i] -= a[k] * b[j]
    return out


def _dot_columns(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-column dot product of (3, n) vectors (``np.sum(a.T * b.T, axis=1)``)."""
    d = a[0] * b[0]
    d += 0.0  # numpy's sum starts from +0.0: a first product of -0.0 becomes +0.0
    d += a[1] * b[1]
    d += a[2] * b[2]
    return d


def _complementary_gravity(
    acc: np.ndarray, gyr: np.ndarray, fs: float, tau_s: float, g0: np.ndarray, passes: int = 2
) -> np.ndarray:
    """Linearised complementary filter: per-sample up-vector in the sensor frame (n, 3)."""
    dt = 1.0 / fs
    alpha = tau_s / (tau_s + dt)
    a_dir = _unit_columns(acc.T)  # (3, n)
    b, a = [1.0], [1.0, -alpha]
    zi_unit = dsp.lfilter_zi(b, a)  # steady state for a unit step
    zi = (zi_unit * (1 - alpha))[None, :] * g0[:, None]  # per axis, as (3, 1)
    # first estimate: plain low-pass of the acceleration direction
    g = _unit_columns(dsp.lfilter([1.0 - alpha], a, a_dir, axis=-1, zi=zi)[0])
    w = np.ascontiguousarray(gyr.T)
    a_part = (1.0 - alpha) * a_dir
    for _ in range(passes):
        # u = -(gyr x g): dg/dt for a world-fixed vector seen from the rotating sensor;
        # x = alpha * dt * u + (1 - alpha) * a_dir, in place
        x = _cross_columns(w, g)
        np.negative(x, out=x)
        x *= alpha * dt
        x += a_part
        g = _unit_columns(dsp.lfilter(b, a, x, axis=-1, zi=zi)[0])
    # (n, 3) in the memory order of ``acc``: the matrix products with it (``g @ fwd``) go
    # through BLAS, whose kernels for C- and F-ordered matrices round differently
    out = np.empty_like(acc)
    out[...] = g.T
    return out


@dataclass(eq=False)
class BodyFrameAligner:
    """Rotate sensor-frame IMU data into the body frame (V up, AP forward, ML right).

    See the module docstring for conventions, method, references and differences to the
    originals.

    Parameters
    ----------
    tau_s : float
        Complementary-filter time constant (s): below ``1/(2 pi tau_s)`` Hz the tilt comes
        from the accelerometer, above it from the gyroscope.
    step_band_hz : (float, float)
        Band of the step-frequency content used for the heading.
    min_heading_correlation : float
        Below this normalised covariance between horizontal acceleration and vertical
        velocity there is too little walking to tell the heading; the fallback is used.
    min_step_rms_mps2 : float
        Only samples whose step-band vertical acceleration (2 s moving RMS) reaches this
        level count as walking for the heading; at least 3 s of them are needed. Lower-back
        vertical acceleration in walking is typically 1-2 m/s^2 RMS (Moe-Nilssen 1998).
    forward_sensor : (3,) array or None
        Known forward direction in the sensor frame (e.g. an earlier estimate, in streaming):
        the heading is not estimated, ``heading_source_`` is ``"given"``.
    heading_hint_sensor : (3,) array or None
        Forward direction in the sensor frame to use when walking cannot tell it (e.g. from
        the known placement). Projected onto the horizontal plane.
    quiet_window_s, quiet_sd_mps2 : float
        Passed to :func:`gravity_direction`.

    Attributes
    ----------
    acc_body_mps2_ : (n, 3) array
        Acceleration in the body frame, columns V, AP, ML (gravity included on V).
    gyr_body_radps_ : (n, 3) array
        Angular velocity in the body frame, columns V, AP, ML.
    rotation_ : (3, 3) array
        Constant sensor->body rotation for the mean posture: rows are the V, AP, ML axes in
        sensor coordinates, so ``rotation_ @ v_sensor`` gives body coordinates.
    gravity_sensor_ : (n, 3) array
        Per-sample up direction in the sensor frame (from the complementary filter).
    up_sensor_, forward_sensor_ : (3,) arrays
        Mean up and forward directions in the sensor frame.
    heading_source_ : str
        ``"walking"``, ``"given"``, ``"hint"``, ``"pca"`` or ``"none"`` (no usable data).
    heading_correlation_ : float
        Normalised covariance used for the walking heading (0..1).
    """

    tau_s: float = 1.0
    step_band_hz: tuple[float, float] = (0.7, 4.0)
    min_heading_correlation: float = 0.15
    heading_hint_sensor: np.ndarray | None = None
    min_step_rms_mps2: float = 0.5
    forward_sensor: np.ndarray | None = None
    quiet_window_s: float = 1.0
    quiet_sd_mps2: float = 0.2

    # ------------------------------------------------------------------ action
    def align(
        self, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
    ) -> BodyFrameAligner:
        """Estimate the body frame and rotate the data into it; returns ``self``.

        ``gyr_radps`` may be None (accelerometer only: tilt then comes from a low-pass of
        the acceleration direction alone).
        """
        acc = _check_xyz(acc_mps2, "acc_mps2")
        n = acc.shape[0]
        if gyr_radps is None:
            gyr = np.zeros_like(acc)
        else:
            gyr = _check_xyz(gyr_radps, "gyr_radps")
            if gyr.shape[0] != n:
                raise ValueError(f"acc has {n} rows but gyr has {gyr.shape[0]}")
        if not sampling_rate_hz or sampling_rate_hz <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz}")
        fs = float(sampling_rate_hz)
        self.sampling_rate_hz_ = fs

        filled, bad = fill_nan_rows(np.concatenate([acc, gyr], axis=1), copy=False)
        acc_f, gyr_f = filled[:, :3], filled[:, 3:]
        up = gravity_direction(
            acc[~bad] if (~bad).any() else acc,
            fs,
            quiet_window_s=self.quiet_window_s,
            quiet_sd_mps2=self.quiet_sd_mps2,
        )
        if n == 0 or not np.all(np.isfinite(up)):
            self._set_empty(n)
            return self

        g = _complementary_gravity(acc_f, gyr_f, fs, self.tau_s, up)
        self.gravity_sensor_ = g
        fwd = None
        if self.forward_sensor is not None:
            f0 = np.asarray(self.forward_sensor, dtype=float)
            f0 = f0 - (f0 @ up) * up
            if np.linalg.norm(f0) > 1e-9:
                fwd, src, corr = f0 / np.linalg.norm(f0), "given", float("nan")
        if fwd is None:
            fwd, src, corr = self._heading(acc_f, g, up, fs)
        self.heading_source_ = src
        self.heading_correlation_ = corr
        self.up_sensor_ = up
        self.forward_sensor_ = fwd
        self.rotation_ = np.vstack([up, fwd, np.cross(up, fwd)])

        # per-sample frame: V follows gravity, AP = forward projected off V (on (3, n)
        # components, see _unit_columns)
        gf = _matvec(g, fwd)
        gt = g.T
        ap = np.empty((3, n))
        for c in range(3):
            np.multiply(gf, gt[c], out=ap[c])
            np.subtract(fwd[c], ap[c], out=ap[c])
        ap = _unit_columns(ap)
        ml = _cross_columns(gt, ap)
        acc_body = np.empty((n, 3))
        gyr_body = np.empty((n, 3))
        for out, x in ((acc_body, acc_f.T), (gyr_body, gyr_f.T)):
            for j, axis in enumerate((gt, ap, ml)):
                out[:, j] = _dot_columns(x, axis)
        acc_body[bad] = np.nan
        gyr_body[bad] = np.nan
        if gyr_radps is None:
            gyr_body[:] = np.nan
        self.acc_body_mps2_ = acc_body
        self.gyr_body_radps_ = gyr_body
        return self

    # ---------------------------------------------------------------- helpers
    def _set_empty(self, n: int) -> None:
        self.acc_body_mps2_ = np.full((n, 3), np.nan)
        self.gyr_body_radps_ = np.full((n, 3), np.nan)
        self.gravity_sensor_ = np.full((n, 3), np.nan)
        self.rotation_ = np.full((3, 3), np.nan)
        self.up_sensor_ = np.full(3, np.nan)
        self.forward_sensor_ = np.full(3, np.nan)
        self.heading_source_ = "none"
        self.heading_correlation_ = 0.0

    def _heading(
        self, acc: np.ndarray, g: np.ndarray, up: np.ndarray, fs: float
    ) -> tuple[np.ndarray, str, float]:
        n = acc.shape[0]
        e1, e2 = horizontal_basis(up)
        a_v = _dot_columns(acc.T, g.T)
        a_h = acc - a_v[:, None] * g
        h = np.stack([_matvec(a_h, e1), _matvec(a_h, e2)], axis=1)
        corr = 0.0
        lo, hi = self.step_band_hz
        hi = min(hi, 0.45 * fs)
        if n > 3 * fs and lo < hi:
            sos = dsp.butter(2, [lo, hi], "bandpass", fs)
            av = dsp.sosfiltfilt(sos, a_v - a_v.mean())
            v_v = dsp.sosfiltfilt(sos, np.cumsum(av) / fs)
            w = max(int(round(2.0 * fs)), 1)
            active = np.sqrt(uniform_filter1d(av * av, w)) >= self.min_step_rms_mps2
            if active.sum() >= 3 * fs:
                # filtered as two rows (the same filter per column); the means below add
                # over rows of a C-ordered (k, 2) array, as before
                hb = dsp.sosfiltfilt(sos, (h - h.mean(0)).T, axis=-1)
                hb, v_v = np.ascontiguousarray(hb[:, active].T), v_v[active]
                c = (hb * v_v[:, None]).mean(0)
                denom = np.sqrt((hb**2).sum(1).mean() * (v_v**2).mean())
                corr = float(np.linalg.norm(c) / denom) if denom > 0 else 0.0
            if corr >= self.min_heading_correlation:
                d = -c / np.linalg.norm(c)
                return d[0] * e1 + d[1] * e2, "walking", corr
        if self.heading_hint_sensor is not None:
            hint = np.asarray(self.heading_hint_sensor, dtype=float)
            hint = hint - (hint @ up) * up
            if np.linalg.norm(hint) > 1e-9:
                return hint / np.linalg.norm(hint), "hint", corr
        # PCA of low-frequency horizontal acceleration (sway); sign not identifiable
        hc = h - h.mean(0) if n else h
        if n >= 2 and np.any(hc):
            evals, evecs = np.linalg.eigh(hc.T @ hc)
            d = evecs[:, np.argmax(evals)]
        else:
            d = np.array([1.0, 0.0])
        fwd = d[0] * e1 + d[1] * e2
        if fwd[np.argmax(np.abs(fwd))] < 0:
            fwd = -fwd
        return fwd, "pca", corr

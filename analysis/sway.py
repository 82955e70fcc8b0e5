"""Postural sway from one lower-back IMU (instrumented sway, "ISway").

Pipeline (:class:`SwayAnalyzer`)
--------------------------------
1. **Checks**: shapes, share of missing samples (NaN rows = recording gaps, linearly
   interpolated when below ``max_missing_fraction``), duration, activity (a recording that
   looks like walking is *not* analysed: validity ``wrong_activity``), sensor moved
   (gravity turned > 15 deg in the sensor frame), patient stepped (a burst of trunk
   movement: acceleration-norm SD or gyro norm above the rest thresholds).
2. **Tilt correction, mount-agnostic**: :class:`analysis.orientation.BodyFrameAligner`
   finds the up direction (gravity) and a forward direction in the sensor frame; its mean
   posture rotation ``rotation_`` (rows V, AP, ML) projects the acceleration onto the
   horizontal AP and ML axes. This is the *static* tilt correction of Moe-Nilssen (1998):
   the constant gravity component is removed exactly, whatever the mounting. In quiet
   stance nobody walks, so the aligner cannot see the walking direction; it then uses
   ``heading_hint_sensor`` (e.g. from the known placement) or the principal sway axis
   (PCA), which is taken as AP (AP sway dominates in quiet stance of most people).
   The *total* measures (RMS, path, ellipse, frequency measures) do not depend on the
   heading at all; only the AP/ML split does.
3. **Offset and filter**: the mean of each horizontal axis is removed (residual tilt),
   then a zero-phase 4th-order Butterworth low-pass at 3.5 Hz (``scipy.signal.sosfiltfilt``,
   i.e. 8th-order magnitude response, -6 dB at 3.5 Hz) as in Mancini et al. (2012). Sway
   lives below 2 Hz; the low-pass removes sensor noise and heel/foot tremor, which would
   otherwise dominate the derivative-based measures (path length, jerk). No high-pass by
   default (``highpass_hz`` can add one): the offset removal already takes out the static
   tilt, and a high-pass would bias the low-frequency measures (F50, ellipse).

Measures (``AP[n]``, ``ML[n]`` the filtered horizontal acceleration, ``N`` samples at
``fs``, duration ``T = N / fs``, ``RD[n] = sqrt(AP^2 + ML^2)``), after Prieto et al. (1996)
with acceleration in place of the centre of pressure as in Mancini et al. (2012):

* ``rms_mps2 = sqrt(mean(RD^2))``; ``rms_ap_mps2 = sqrt(mean(AP^2))``, ``rms_ml_mps2``.
* ``mean_distance_mps2 = mean(RD)`` (Prieto MDIST); ``_ap``/``_ml``: ``mean(|AP|)``.
* ``range_mps2``: largest distance between any two points of the (AP, ML) trajectory
  (convex-hull diameter); ``range_ap_mps2 = max(AP) - min(AP)``, ``range_ml_mps2``.
* ``path_length_mps2 = sum_n sqrt((AP[n+1]-AP[n])^2 + (ML[n+1]-ML[n])^2)``: the length of
  the acceleration trajectory, the sum of distances between consecutive samples (Prieto
  TOTEX), m/s^2; per axis the sum of ``|diff|``.
* ``mean_velocity_mps3 = path_length_mps2 / T`` (Prieto MVELO), m/s^3. The CLI contract of
  issue 5 names this key ``mean_velocity_mps2``; that key is emitted too, with the same
  value, and its true unit is m/s^3 (see docs/clinical.md).
* ``jerk_m2ps5 = 0.5 * integral( (dAP/dt)^2 + (dML/dt)^2 ) dt`` over the trial, exactly as
  in Mancini et al. (2012, Table 2), m^2/s^5 (derivatives by central differences). It grows
  with the trial length; ``jerk_rate_m2ps6 = jerk_m2ps5 / T`` is duration-free.
* ``ellipse_area_m2ps4 = 2 pi F_0.95(2, N-2) sqrt(s_AP^2 s_ML^2 - s_APML^2)``: the 95 %
  confidence (prediction) ellipse of the (AP, ML) points (Prieto AREA-CE; F ~ 3.00).
* ``sway_area_m2ps5 = sum |AP[n+1] ML[n] - AP[n] ML[n+1]| / (2 T)`` (Prieto AREA-SW): area
  swept per unit time, m^2/s^5 as in Mancini's Table 2.
* ``mean_frequency_hz = path_length / (2 pi mean_distance T)`` (Prieto MFREQ).
* Frequency measures from the Welch power spectral density ``G(f)`` (Hann windows of
  ``psd_segment_s``, 50 % overlap, linear detrend) of AP plus that of ML (the PSD of the
  2-D signal, total power = sum of both axes), inside ``band_hz`` = 0.15-5 Hz (Prieto), with
  spectral moments ``mu_k = sum f^k G(f) df``:
  ``total_power_m2ps4 = mu_0``; ``f50_hz``/``f95_hz`` the frequencies below which 50 % /
  95 % of ``mu_0`` lie (cumulative power through each bin placed at the bin centre, linearly
  interpolated between centres);
  ``centroidal_frequency_hz = sqrt(mu_2 / mu_0)``;
  ``frequency_dispersion = sqrt(1 - mu_1^2 / (mu_0 mu_2))`` (0 for a pure tone, unitless).
  The same per axis with suffixes ``_ap``/``_ml``.

References
----------
Mancini M., Salarian A., Carlson-Kuhta P., Zampieri C., King L., Chiari L., Horak F. B.
(2012). ISway: a sensitive, valid and reliable measure of postural control. J NeuroEng
Rehabil 9:59.

Prieto T. E., Myklebust J. B., Hoffmann R. G., Lovett E. G., Myklebust B. M. (1996).
Measures of postural steadiness: differences between healthy young and elderly adults.
IEEE Trans Biomed Eng 43(9):956-966.

Moe-Nilssen R. (1998). A new method for evaluating motor control in gait under real-life
environmental conditions. Part 1: the instrument. Clin Biomech 13:320-327.

Notes: differences to the original
----------------------------------
* Prieto computed the frequency measures on the resultant-distance series ``RD``; RD is a
  rectified signal whose spectrum doubles the sway frequency and adds harmonics. Here the
  spectrum is that of the 2-D signal (AP PSD + ML PSD), so a sway at 0.4 Hz reports 0.4 Hz.
* Tilt correction is static (mean posture): the horizontal signal contains, besides the
  linear acceleration of L5, the projection ``g sin(theta)`` of trunk tilt changes, as
  in other accelerometric sway studies. ``tilt_correction="dynamic"`` uses the aligner's
  per-sample gravity (complementary filter), which removes that projection but also
  attenuates horizontal acceleration below ``1 / (2 pi tau_s)`` Hz.
* ``ellipse_area`` uses the F quantile with ``N - 2`` degrees of freedom as Prieto did,
  although consecutive samples are not independent (F is ~3.00 for any N > 120 anyway).
* Mancini used the APDM sensor's orientation; here the body frame comes from the signal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis import dsp
from analysis.clinical import base
from analysis.clinical.base import ClinicalResult, Validity
from analysis.orientation import BodyFrameAligner, body_axes, gravity_direction
from analysis.ringbuffer import RingBuffer

__all__ = [
    "SwayAnalyzer",
    "SwayResult",
    "SlidingSway",
    "sway_measures",
    "spectral_measures",
    "SWAY_CLI_KEYS",
    "TEST_KEY",
]

#: Keys the CLI must print for ``poise analyze --test sway`` (issue 5 contract).
SWAY_CLI_KEYS = (
    "rms_mps2",
    "rms_ap_mps2",
    "rms_ml_mps2",
    "path_length_mps2",
    "mean_velocity_mps2",
    "jerk_m2ps5",
    "ellipse_area_m2ps4",
    "centroidal_frequency_hz",
    "frequency_dispersion",
    "f95_hz",
)

_SPECTRAL_KEYS = (
    "total_power_m2ps4",
    "f50_hz",
    "f95_hz",
    "centroidal_frequency_hz",
    "frequency_dispersion",
)


#: The clinical test of quiet-stance sway (its registry entry: :mod:`analysis.clinical.stance`).
TEST_KEY = "sway"


@dataclass(kw_only=True)
class SwayResult(ClinicalResult):
    """Sway measures of one trial (see the module docstring for every definition)."""

    test: str = TEST_KEY
    duration_s: float | None = None
    sampling_rate_hz: float | None = None
    rms_mps2: float | None = None
    rms_ap_mps2: float | None = None
    rms_ml_mps2: float | None = None
    range_mps2: float | None = None
    range_ap_mps2: float | None = None
    range_ml_mps2: float | None = None
    mean_distance_mps2: float | None = None
    mean_distance_ap_mps2: float | None = None
    mean_distance_ml_mps2: float | None = None
    path_length_mps2: float | None = None
    path_length_ap_mps2: float | None = None
    path_length_ml_mps2: float | None = None
    mean_velocity_mps3: float | None = None
    mean_velocity_mps2: float | None = None  # contract alias of mean_velocity_mps3 (m/s^3)
    mean_velocity_ap_mps3: float | None = None
    mean_velocity_ml_mps3: float | None = None
    jerk_m2ps5: float | None = None
    jerk_ap_m2ps5: float | None = None
    jerk_ml_m2ps5: float | None = None
    jerk_rate_m2ps6: float | None = None
    ellipse_area_m2ps4: float | None = None
    sway_area_m2ps5: float | None = None
    mean_frequency_hz: float | None = None
    total_power_m2ps4: float | None = None
    f50_hz: float | None = None
    f95_hz: float | None = None
    centroidal_frequency_hz: float | None = None
    frequency_dispersion: float | None = None
    total_power_ap_m2ps4: float | None = None
    f50_ap_hz: float | None = None
    f95_ap_hz: float | None = None
    centroidal_frequency_ap_hz: float | None = None
    frequency_dispersion_ap: float | None = None
    total_power_ml_m2ps4: float | None = None
    f50_ml_hz: float | None = None
    f95_ml_hz: float | None = None
    centroidal_frequency_ml_hz: float | None = None
    frequency_dispersion_ml: float | None = None
    heading_source: str | None = None
    sensor_tilt_deg: float | None = None


# --------------------------------------------------------------------------- core measures


def spectral_measures(
    freq_hz: np.ndarray, psd: np.ndarray, band_hz: tuple[float, float] = (0.15, 5.0)
) -> dict[str, float]:
    """Prieto (1996) frequency measures of a one-sided PSD inside ``band_hz``.

    Returns a dict with ``total_power_m2ps4`` (for a PSD in (m/s^2)^2/Hz), ``f50_hz``,
    ``f95_hz``, ``centroidal_frequency_hz`` and ``frequency_dispersion``; NaN when the band
    holds no power.
    """
    f = np.asarray(freq_hz, dtype=np.float64)
    p = np.asarray(psd, dtype=np.float64)
    nan = dict.fromkeys(_SPECTRAL_KEYS, float("nan"))
    if len(f) < 2:
        return nan
    df = float(f[1] - f[0])
    sel = (f >= band_hz[0]) & (f <= band_hz[1])
    fb, pb = f[sel], p[sel]
    mu0 = float(pb.sum() * df)
    if len(fb) == 0 or mu0 <= 0:
        return nan
    mu1 = float((fb * pb).sum() * df)
    mu2 = float((fb * fb * pb).sum() * df)
    # cumulative power through bin k, placed at the bin centre f_k (the discrete definition
    # "smallest f_k whose cumulative power reaches q"), linearly interpolated between centres
    cum = np.cumsum(pb) * df / mu0
    f50 = float(np.interp(0.5, cum, fb))
    f95 = float(np.interp(0.95, cum, fb))
    disp = 1.0 - mu1 * mu1 / (mu0 * mu2) if mu2 > 0 else float("nan")
    return {
        "total_power_m2ps4": mu0,
        "f50_hz": f50,
        "f95_hz": f95,
        "centroidal_frequency_hz": float(np.sqrt(mu2 / mu0)),
        "frequency_dispersion": float(np.sqrt(max(disp, 0.0))),
    }


def _welch(x: np.ndarray, fs: float, segment_s: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy import signal  # lazily: ~1 s to import, only the spectral measures need it

    nper = int(min(len(x), max(16, round(segment_s * fs))))
    return signal.welch(x, fs=fs, window="hann", nperseg=nper, detrend="linear", axis=0)


def sway_measures(
    ap_mps2: np.ndarray,
    ml_mps2: np.ndarray,
    sampling_rate_hz: float,
    *,
    band_hz: tuple[float, float] = (0.15, 5.0),
    psd_segment_s: float = 60.0,
) -> dict[str, float]:
    """All sway measures of an already filtered, zero-mean horizontal acceleration.

    Parameters
    ----------
    ap_mps2, ml_mps2
        AP and ML acceleration (m/s^2), same length ``N >= 4``.
    sampling_rate_hz
        Sampling rate.
    band_hz, psd_segment_s
        Band of the frequency measures and the Welch segment length.

    Returns
    -------
    dict
        Keys as the fields of :class:`SwayResult` (units in the names).
    """
    from scipy import spatial, stats  # lazily: only the sway measures need them

    ap = np.asarray(ap_mps2, dtype=np.float64)
    ml = np.asarray(ml_mps2, dtype=np.float64)
    fs = float(sampling_rate_hz)
    n = len(ap)
    if n < 4 or len(ml) != n:
        raise ValueError(f"sway needs two equal series of >= 4 samples, got {n} and {len(ml)}")
    dur = n / fs
    rd = np.hypot(ap, ml)
    dap, dml = np.diff(ap), np.diff(ml)
    path = float(np.hypot(dap, dml).sum())
    path_ap = float(np.abs(dap).sum())
    path_ml = float(np.abs(dml).sum())
    mdist = float(rd.mean())
    # jerk: 0.5 * integral of |da/dt|^2 dt (Mancini 2012)
    jap = np.gradient(ap) * fs
    jml = np.gradient(ml) * fs
    jerk_ap = float(0.5 * np.sum(jap * jap) / fs)
    jerk_ml = float(0.5 * np.sum(jml * jml) / fs)
    cov = np.cov(np.vstack([ap, ml]))
    det = max(float(np.linalg.det(cov)), 0.0)
    fq = float(stats.f.ppf(0.95, 2, max(n - 2, 1)))
    pts = np.column_stack([ap, ml])
    try:
        hull = spatial.ConvexHull(pts)
        hv = pts[hull.vertices]
        diff = hv[:, None, :] - hv[None, :, :]
        rng = float(np.sqrt((diff**2).sum(-1)).max())
    except spatial.QhullError:  # collinear (1-D) sway
        proj = pts @ (np.linalg.eigh(cov)[1][:, -1])
        rng = float(np.ptp(proj))
    f, p = _welch(pts, fs, psd_segment_s)
    tot = spectral_measures(f, p.sum(axis=1), band_hz)
    sap = spectral_measures(f, p[:, 0], band_hz)
    sml = spectral_measures(f, p[:, 1], band_hz)
    out: dict[str, float] = {
        "duration_s": dur,
        "sampling_rate_hz": fs,
        "rms_mps2": float(np.sqrt(np.mean(rd * rd))),
        "rms_ap_mps2": float(np.sqrt(np.mean(ap * ap))),
        "rms_ml_mps2": float(np.sqrt(np.mean(ml * ml))),
        "range_mps2": rng,
        "range_ap_mps2": float(np.ptp(ap)),
        "range_ml_mps2": float(np.ptp(ml)),
        "mean_distance_mps2": mdist,
        "mean_distance_ap_mps2": float(np.abs(ap).mean()),
        "mean_distance_ml_mps2": float(np.abs(ml).mean()),
        "path_length_mps2": path,
        "path_length_ap_mps2": path_ap,
        "path_length_ml_mps2": path_ml,
        "mean_velocity_mps3": path / dur,
        "mean_velocity_mps2": path / dur,
        "mean_velocity_ap_mps3": path_ap / dur,
        "mean_velocity_ml_mps3": path_ml / dur,
        "jerk_m2ps5": jerk_ap + jerk_ml,
        "jerk_ap_m2ps5": jerk_ap,
        "jerk_ml_m2ps5": jerk_ml,
        "jerk_rate_m2ps6": (jerk_ap + jerk_ml) / dur,
        "ellipse_area_m2ps4": float(2.0 * np.pi * fq * np.sqrt(det)),
        "sway_area_m2ps5": float(np.abs(ap[1:] * ml[:-1] - ap[:-1] * ml[1:]).sum() / (2 * dur)),
        "mean_frequency_hz": path / (2 * np.pi * mdist * dur) if mdist > 0 else float("nan"),
    }
    out.update(tot)
    for suffix, meas in (("ap", sap), ("ml", sml)):
        out[f"total_power_{suffix}_m2ps4"] = meas["total_power_m2ps4"]
        out[f"f50_{suffix}_hz"] = meas["f50_hz"]
        out[f"f95_{suffix}_hz"] = meas["f95_hz"]
        out[f"centroidal_frequency_{suffix}_hz"] = meas["centroidal_frequency_hz"]
        out[f"frequency_dispersion_{suffix}"] = meas["frequency_dispersion"]
    return out


def _design_filter(fs: float, lowpass_hz: float, highpass_hz: float | None, order: int):
    nyq = fs / 2
    lp = min(lowpass_hz, 0.95 * nyq)
    if highpass_hz:
        return dsp.butter(order, [highpass_hz, lp], "bandpass", fs)
    return dsp.butter(order, lp, "lowpass", fs)


def _filter(x: np.ndarray, sos: np.ndarray) -> np.ndarray:
    x = x - x.mean(axis=0)
    padlen = min(3 * (2 * len(sos) + 1), len(x) - 1)
    return dsp.sosfiltfilt(sos, x, axis=0, padlen=padlen)


# --------------------------------------------------------------------------- analyzer


@dataclass(eq=False)
class SwayAnalyzer:
    """Sway measures of one quiet-stance trial from a lower-back IMU (any mounting).

    Parameters
    ----------
    lowpass_hz : float
        Zero-phase Butterworth low-pass cut-off (Mancini 2012: 3.5 Hz).
    highpass_hz : float or None
        Optional high-pass (band-pass with ``lowpass_hz``); None = offset removal only.
    filter_order : int
        Butterworth order (applied forward and backward).
    band_hz : (float, float)
        Band for the frequency measures (Prieto 1996: 0.15-5 Hz).
    psd_segment_s : float
        Welch segment length (s); shorter trials use one segment of the whole trial.
    tilt_correction : {"static", "dynamic"}
        Mean-posture rotation (default) or the aligner's per-sample gravity.
    heading_hint_sensor : (3,) array or None
        Forward direction in the sensor frame, if known (otherwise PCA, see module doc).
    min_duration_s : float
        Shorter trials are flagged ``too_short`` (numbers still computed).
    max_missing_fraction : float
        More missing samples than this gives ``missing_data`` without numbers.
    check_activity : bool
        Flag walking (``wrong_activity``), stepping and sensor movement.
    rest_acc_std_mps2, rest_gyr_radps, step_min_s : float
        A burst of movement longer than ``step_min_s`` with acceleration-norm SD above
        ``rest_acc_std_mps2`` or mean gyro norm above ``rest_gyr_radps`` (0.5-s windows)
        counts as a step (see :func:`analysis.clinical.base.rest_mask`).
    max_tilt_change_deg : float
        Gravity turning more than this in the sensor frame (2-s windows) = sensor moved.

    Attributes
    ----------
    result_ : SwayResult
    ap_mps2_, ml_mps2_ : arrays
        Filtered horizontal acceleration (None when not computed).
    psd_freq_hz_, psd_m2ps4phz_ : arrays
        Frequencies and the (AP, ML) Welch PSD, shape (k, 2).
    step_segments_ : list of Segment
        Detected bursts of movement (steps, grabs).
    """

    lowpass_hz: float = 3.5
    highpass_hz: float | None = None
    filter_order: int = 4
    band_hz: tuple[float, float] = (0.15, 5.0)
    psd_segment_s: float = 60.0
    tilt_correction: str = "static"
    heading_hint_sensor: np.ndarray | None = None
    min_duration_s: float = 5.0
    max_missing_fraction: float = 0.1
    check_activity: bool = True
    rest_acc_std_mps2: float = 0.35
    rest_gyr_radps: float = 0.35
    step_min_s: float = 0.3
    max_tilt_change_deg: float = 15.0

    def calculate(
        self, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
    ) -> SwayAnalyzer:
        """Compute the sway measures of one trial; returns ``self`` (results in ``result_``)."""
        if self.tilt_correction not in ("static", "dynamic"):
            raise ValueError(
                f"tilt_correction must be 'static' or 'dynamic', got {self.tilt_correction!r}"
            )
        acc, gyr, fs = base.check_imu(acc_mps2, gyr_radps, sampling_rate_hz)
        self.ap_mps2_ = self.ml_mps2_ = None
        self.psd_freq_hz_ = self.psd_m2ps4phz_ = None
        self.step_segments_: list[base.Segment] = []
        n = len(acc)
        dur = n / fs
        if n < max(8, int(fs)):
            self.result_ = SwayResult.invalid_result(
                base.TOO_SHORT,
                f"{dur:.1f} s of data; sway needs at least {self.min_duration_s:g} s",
                duration_s=dur,
                sampling_rate_hz=fs,
            )
            return self
        both, missing = base.fill_gaps(np.hstack([acc, gyr if gyr is not None else acc * 0]))
        if missing > self.max_missing_fraction:
            self.result_ = SwayResult.invalid_result(
                base.MISSING_DATA,
                f"{100 * missing:.0f} % of the samples are missing "
                f"(limit {100 * self.max_missing_fraction:.0f} %)",
                duration_s=dur,
                sampling_rate_hz=fs,
            )
            return self
        acc = both[:, :3]
        gyr = both[:, 3:] if gyr is not None else None

        validity = Validity.ok(
            f"{100 * missing:.1f} % missing samples interpolated" if missing > 0 else ""
        )
        if self.check_activity:
            if base.looks_like_walking(acc, fs):
                self.result_ = SwayResult.invalid_result(
                    base.WRONG_ACTIVITY,
                    "the recording looks like walking (periodic trunk acceleration at step "
                    "frequency), not quiet stance; no sway measures computed",
                    duration_s=dur,
                    sampling_rate_hz=fs,
                )
                return self
            validity = validity & self._movement_validity(acc, gyr, fs)
            if validity.code == base.WRONG_ACTIVITY:
                self.result_ = SwayResult(validity=validity, duration_s=dur, sampling_rate_hz=fs)
                return self
        if dur < self.min_duration_s:
            validity = (
                Validity.invalid(
                    base.TOO_SHORT,
                    f"{dur:.1f} s recorded, at least {self.min_duration_s:g} s needed",
                )
                & validity
            )

        aligner = BodyFrameAligner(heading_hint_sensor=self.heading_hint_sensor).align(acc, gyr, fs)
        if self.tilt_correction == "static":
            horiz = acc @ aligner.rotation_[1:].T
        else:
            horiz = aligner.acc_body_mps2_[:, 1:]
        up = aligner.up_sensor_
        # angle between the sensor's dominant axis and the vertical (information only)
        tilt_deg = float(np.degrees(np.arccos(np.clip(np.abs(up).max(), -1, 1))))
        sos = _design_filter(fs, self.lowpass_hz, self.highpass_hz, self.filter_order)
        filt = _filter(horiz, sos)
        ap, ml = filt[:, 0], filt[:, 1]
        meas = sway_measures(ap, ml, fs, band_hz=self.band_hz, psd_segment_s=self.psd_segment_s)
        f, p = _welch(filt, fs, self.psd_segment_s)
        self.ap_mps2_, self.ml_mps2_ = ap, ml
        self.psd_freq_hz_, self.psd_m2ps4phz_ = f, p
        self.aligner_ = aligner
        self.result_ = SwayResult(
            validity=validity,
            heading_source=aligner.heading_source_,
            sensor_tilt_deg=tilt_deg,
            **meas,  # type: ignore[arg-type]  # only the float measures (sway_measures' keys)
        )
        return self

    def _movement_validity(self, acc: np.ndarray, gyr: np.ndarray | None, fs: float) -> Validity:
        still, moves = base.movement_bursts(
            acc, gyr, fs, self.rest_acc_std_mps2, self.rest_gyr_radps, self.step_min_s
        )
        self.step_segments_ = moves
        if moves and (~still).mean() > 0.5:
            return Validity.invalid(
                base.WRONG_ACTIVITY,
                f"the trunk moved during {100 * (~still).mean():.0f} % of the recording; "
                "this is not quiet stance",
            )
        moved, angle = base.sensor_moved(acc, fs, max_angle_deg=self.max_tilt_change_deg)
        if moved:
            return Validity.invalid(
                base.SENSOR_MOVED,
                f"gravity turned by {angle:.0f} deg in the sensor frame during the trial "
                "(sensor slipped or patient bent over)",
            )
        if moves:
            times = ", ".join(f"{s.start_s:.1f}-{s.end_s:.1f} s" for s in moves[:5])
            return Validity.invalid(
                base.STEPPED,
                f"{len(moves)} burst(s) of movement (step or grab) at {times}",
            )
        return Validity.ok()


# --------------------------------------------------------------------------- live


@dataclass(eq=False)
class SlidingSway:
    """Live sway measures over the last ``window_s`` seconds, at bounded cost.

    Incoming blocks go into a fixed ring buffer of ``window_s * sampling_rate_hz`` samples
    (vectorised copies, no per-sample loop). At most every ``update_interval_s`` the
    measures are recomputed on the buffer: static tilt correction with the window's mean
    gravity, the heading frozen from the first full window (or ``heading_hint_sensor``), the
    same filter and :func:`sway_measures` as :class:`SwayAnalyzer`. The cost per
    recomputation is O(window) and independent of the session length.

    Parameters
    ----------
    window_s : float
        Window length (s).
    sampling_rate_hz : float
        Rate of the incoming samples.
    update_interval_s : float
        Minimum time (of data) between two recomputations.
    min_fill_s : float
        No measures before this much data is buffered.
    lowpass_hz, filter_order, band_hz : see :class:`SwayAnalyzer`.
    heading_hint_sensor : (3,) array or None

    Attributes
    ----------
    metrics_ : dict or None
        Latest measures (keys as :class:`SwayResult`, plus ``window_end_s`` and ``valid``).
    """

    window_s: float = 10.0
    sampling_rate_hz: float = 100.0
    update_interval_s: float = 0.5
    min_fill_s: float = 3.0
    lowpass_hz: float = 3.5
    filter_order: int = 4
    band_hz: tuple[float, float] = (0.15, 5.0)
    heading_hint_sensor: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.window_s <= 0 or self.sampling_rate_hz <= 0:
            raise ValueError("window_s and sampling_rate_hz must be positive")
        # the sway measures import scipy's signal, spatial and stats lazily (about 1 s):
        # a live window imports them here, when it is made, not at its first update
        import scipy.signal  # noqa: F401
        import scipy.spatial  # noqa: F401
        import scipy.stats  # noqa: F401

        self._n = max(16, int(round(self.window_s * self.sampling_rate_hz)))
        self._acc_ring = RingBuffer(self._n, 3, fill=0.0)
        self._gyr_ring = RingBuffer(self._n, 3, fill=0.0)
        self._last_compute = -np.inf
        self._sos = _design_filter(self.sampling_rate_hz, self.lowpass_hz, None, self.filter_order)
        self._forward: np.ndarray | None = None
        self.metrics_: dict[str, Any] | None = None

    def reset(self, keep_heading: bool = False) -> SlidingSway:
        """Forget all buffered data; ``keep_heading`` keeps the frozen forward direction
        (a replay seek: the sensor is still worn the same way)."""
        self._acc_ring.clear()
        self._gyr_ring.clear()
        self._last_compute = -np.inf
        if not keep_heading:
            self._forward = None
        self.metrics_ = None
        return self

    @property
    def heading_(self) -> np.ndarray | None:
        """The frozen forward (AP) direction in sensor coordinates, ``None`` until known."""
        return None if self._forward is None else self._forward.copy()

    def estimate_heading(self, acc_mps2: Any, gyr_radps: np.ndarray | None = None) -> SlidingSway:
        """Freeze the forward direction from a window of data, as the first full window
        does (a replay that starts mid-file takes it from the file's start). Returns self."""
        acc, _ = base.fill_gaps(np.asarray(acc_mps2, dtype=np.float64).reshape(-1, 3))
        gyr = np.zeros_like(acc) if gyr_radps is None else np.asarray(gyr_radps, dtype=float)
        self._forward = self._heading(acc, gyr)
        return self

    def _heading(self, acc: np.ndarray, gyr: np.ndarray) -> np.ndarray:
        al = BodyFrameAligner(heading_hint_sensor=self.heading_hint_sensor)
        return al.align(acc, np.nan_to_num(gyr), self.sampling_rate_hz).forward_sensor_

    def update(self, acc_mps2: Any, gyr_radps: np.ndarray | None = None) -> SlidingSway:
        """Add a block ``(k, 3)`` of samples (or an object with ``acc_mps2``/``gyr_radps``).

        Returns ``self``; the latest measures are in ``metrics_``.
        """
        if hasattr(acc_mps2, "acc_mps2"):
            gyr_radps = getattr(acc_mps2, "gyr_radps", None)
            acc_mps2 = acc_mps2.acc_mps2
        acc = np.asarray(acc_mps2, dtype=np.float64).reshape(-1, 3)
        gyr = (
            np.zeros_like(acc)
            if gyr_radps is None
            else np.asarray(gyr_radps, dtype=np.float64).reshape(-1, 3)
        )
        if gyr.shape != acc.shape:
            raise ValueError(f"gyr block shape {gyr.shape} differs from acc {acc.shape}")
        if len(acc) == 0:
            return self
        self._acc_ring.write(acc)
        self._gyr_ring.write(gyr)
        now = self._acc_ring.total / self.sampling_rate_hz
        if (
            self._acc_ring.filled / self.sampling_rate_hz >= self.min_fill_s
            and now - self._last_compute >= self.update_interval_s
        ):
            self._compute(now)
        return self

    def _window(self) -> tuple[np.ndarray, np.ndarray]:
        return self._acc_ring.latest(), self._gyr_ring.latest()

    def _compute(self, now: float) -> None:
        fs = self.sampling_rate_hz
        acc, gyr = self._window()
        acc, missing = base.fill_gaps(acc)
        if missing >= 1.0:
            self.metrics_ = {"valid": False, "reason": "no data in the window"}
            return
        up = gravity_direction(acc)
        if self._forward is None and self._acc_ring.filled == self._n:
            self._forward = self._heading(acc, gyr)
        fwd = self._forward
        if (fwd is None or abs(float(fwd @ up)) > 0.95) and self.heading_hint_sensor is not None:
            fwd = np.asarray(self.heading_hint_sensor, dtype=float)
        ap_axis, ml_axis = body_axes(up, fwd)
        horiz = np.column_stack([acc @ ap_axis, acc @ ml_axis])
        filt = _filter(horiz, self._sos)
        m: dict[str, Any] = sway_measures(
            filt[:, 0], filt[:, 1], fs, band_hz=self.band_hz, psd_segment_s=self.window_s
        )
        walking = base.looks_like_walking(acc, fs)
        m["window_end_s"] = now
        m["valid"] = not walking
        m["reason"] = "walking, not quiet stance" if walking else ""
        self.metrics_ = m
        self._last_compute = now

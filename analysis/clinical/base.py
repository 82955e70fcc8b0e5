"""Shared types and helpers of the instrumented clinical tests.

Every test result in :mod:`analysis.clinical` (and :mod:`analysis.sway`,
:mod:`analysis.fallrisk`, :mod:`analysis.endurance`) is a dataclass that

* derives from :class:`ClinicalResult` with ``@dataclass(kw_only=True)``,
* carries a :class:`Validity` (``valid``, machine-readable ``code``, human ``reason``),
* names every numeric field with its unit (``time_s``, ``rms_mps2``, ``speed_mps``),
* turns into JSON-ready values with :meth:`Record.to_dict` (numpy scalars become
  Python numbers, arrays become lists, NaN/inf become ``None``); the parts of a result
  (one trial, one side, one stage) are :class:`Record` dataclasses too.

A recording of the wrong activity for a test must say so instead of returning numbers:
build the result with :meth:`ClinicalResult.invalid_result` (or leave the metrics ``None``)
and a :class:`Validity` whose code is :data:`WRONG_ACTIVITY`.

Helpers shared by the tests (all vectorised, no I/O):

* :func:`check_imu` validates ``(n, 3)`` acc/gyr arrays and the sampling rate,
  :func:`fill_gaps` interpolates NaN rows (gaps in a recording) and reports their share;
* :func:`moving_mean`, :func:`moving_std` centred sliding statistics (cumulative sums);
* :func:`rest_mask` marks samples where the body is still (low gyro norm and low
  acceleration variability), :func:`segments_from_mask` turns a mask into
  :class:`Segment` objects, merging short gaps and dropping short segments;
  :func:`movement_bursts` gives both: the still mask and the bursts of movement between;
* :func:`dominant_frequency_hz` and :func:`looks_like_walking` (periodic trunk
  acceleration at step frequency) for "wrong activity" checks;
* :func:`sensor_moved` checks whether gravity turned in the sensor frame during a
  segment that should be still (the sensor slipped or the patient bent over);
  :func:`still_tail_s`: how long the trunk has been still at the end of a window (the
  live analysis' "is the patient moving").

The thresholds are defaults chosen for a lower-back IMU; every function takes them as
parameters so that a test can document its own.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

GRAVITY_MPS2 = 9.80665

# Machine-readable validity codes (the ``reason`` text says the details).
OK = "ok"
TOO_SHORT = "too_short"
SENSOR_MOVED = "sensor_moved"
STEPPED = "stepped"
WRONG_ACTIVITY = "wrong_activity"
MISSING_DATA = "missing_data"
NOT_DETECTED = "not_detected"
VALIDITY_CODES = (OK, TOO_SHORT, SENSOR_MOVED, STEPPED, WRONG_ACTIVITY, MISSING_DATA, NOT_DETECTED)


@dataclass(frozen=True)
class Validity:
    """Whether a result can be trusted, and why not.

    Parameters
    ----------
    valid
        True when the numbers may be reported.
    reason
        Human-readable explanation ("" when valid, or a note such as a short gap).
    code
        One of :data:`VALIDITY_CODES`.
    """

    valid: bool
    reason: str = ""
    code: str = OK

    @classmethod
    def ok(cls, reason: str = "") -> Validity:
        """A valid result, with an optional note."""
        return cls(True, reason, OK)

    @classmethod
    def invalid(cls, code: str, reason: str) -> Validity:
        """An invalid result with its code and reason."""
        if code not in VALIDITY_CODES or code == OK:
            raise ValueError(
                f"invalid validity code {code!r}; expected one of {VALIDITY_CODES[1:]}"
            )
        return cls(False, reason, code)

    def __and__(self, other: Validity) -> Validity:
        """Combine two validities: the first invalid one wins; notes are joined."""
        if not self.valid:
            return self
        if not other.valid:
            return other
        reason = "; ".join(r for r in (self.reason, other.reason) if r)
        return Validity(True, reason, OK)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"valid": bool(self.valid), "code": self.code, "reason": self.reason}


def to_jsonable(value: Any) -> Any:
    """Convert numpy types, dataclasses and containers to JSON-ready Python values.

    The JSON cleaner of Poise's results (the analyses' ``to_dict``, ``poise analyze``, the
    store): NaN and infinities become ``None`` (JSON has no NaN), numpy scalars and arrays
    Python numbers and lists, tuples lists, objects with ``to_dict()`` and dataclasses their
    dicts, dict keys strings, paths their text. Anything else is a ``TypeError``.
    (:mod:`sensors` cannot import :mod:`analysis`: the recording format keeps its own
    guard for what is written to a file.)
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if isinstance(value, np.ndarray):
        return [to_jsonable(v) for v in value.tolist()]
    if hasattr(value, "to_dict") and callable(value.to_dict):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if hasattr(value, "__fspath__"):
        return str(value.__fspath__())
    raise TypeError(f"cannot convert {type(value).__name__} to JSON")


@dataclass
class Record:
    """Base of the result dataclasses (a test's result, one trial, one side, one stage).

    ``to_dict()`` gives the fields in their order, JSON-ready (:func:`to_jsonable`: NaN
    becomes ``None``, a :class:`Validity` its dict); fields whose names start with ``_``
    are internal and not exported.
    """

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict of the fields, units in the key names."""
        return {
            f.name: to_jsonable(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if not f.name.startswith("_")
        }


@dataclass(kw_only=True)
class ClinicalResult(Record):
    """Base of every test result: a validity plus unit-named metric fields.

    Subclass with ``@dataclass(kw_only=True)`` and give every metric a default of ``None``
    so that an invalid result can be built without numbers::

        @dataclass(kw_only=True)
        class TugResult(ClinicalResult):
            test: str = KEY
            total_time_s: float | None = None

    ``to_dict()`` gives ``{"test": ..., "validity": {...}, <metric fields>...}``.
    Fields whose names start with ``_`` are internal and not exported.
    """

    test: str = "unknown"
    validity: Validity = field(default_factory=Validity.ok)

    @classmethod
    def invalid_result(cls, code: str, reason: str, **known: Any):
        """A result without numbers (metrics ``None``) and an invalid validity.

        ``known`` may pass fields that are still meaningful (e.g. ``duration_s``).
        """
        return cls(validity=Validity.invalid(code, reason), **known)

    @property
    def valid(self) -> bool:
        """Shortcut for ``validity.valid``."""
        return self.validity.valid


@dataclass(frozen=True)
class Segment:
    """A time span of a recording, ``start_s`` inclusive, ``end_s`` exclusive."""

    start_s: float
    end_s: float

    @property
    def duration_s(self) -> float:
        """Length of the segment in seconds."""
        return self.end_s - self.start_s

    def slice(self, sampling_rate_hz: float) -> slice:
        """Sample slice of the segment for data starting at t = 0."""
        return slice(
            int(round(self.start_s * sampling_rate_hz)), int(round(self.end_s * sampling_rate_hz))
        )

    def to_dict(self) -> dict[str, float]:
        """JSON-ready form."""
        return {"start_s": float(self.start_s), "end_s": float(self.end_s)}


# --------------------------------------------------------------------------- norms


def normalise_sex(sex: object) -> str | None:
    """``"m"``/``"f"`` from the spellings people use (``male``, ``Woman``...), else None."""
    s = str(sex or "").strip().lower()
    return {"m": "m", "male": "m", "man": "m", "f": "f", "female": "f", "woman": "f"}.get(s)


def age_band(bands: list[dict[str, Any]], age_y: float | None) -> dict[str, Any] | None:
    """The band of a normative table (``age_min_y``/``age_max_y``, inclusive, in whole
    years) that holds ``age_y``, or None.

    Ages are in completed years: 64.5 belongs to the 60-64 band (``age_min_y <= age_y <
    age_max_y + 1``), so a fractional age never falls between two bands.
    """
    if age_y is None:
        return None
    for b in bands:
        if b.get("age_min_y", -np.inf) <= age_y < b.get("age_max_y", np.inf) + 1:
            return b
    return None


def age_group(band: dict[str, Any], sex: str | None = None) -> str:
    """A normative band's ages as the results and plots print them (``"70-79 y"``), with the
    sex in front when given (``"women 70-79 y"``; ``sex`` is ``"m"`` or ``"f"``)."""
    ages = f"{band['age_min_y']}-{band['age_max_y']} y"
    return ages if sex is None else f"{'men' if sex == 'm' else 'women'} {ages}"


# --------------------------------------------------------------------------- input checks


def check_imu(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
) -> tuple[np.ndarray, np.ndarray | None, float]:
    """Validate IMU arrays; return float64 copies.

    Raises
    ------
    ValueError
        With what is wrong (shape, length mismatch, rate).
    """
    fs = float(sampling_rate_hz)
    if not math.isfinite(fs) or fs <= 0:
        raise ValueError(f"sampling_rate_hz must be a positive number, got {sampling_rate_hz!r}")
    acc = np.asarray(acc_mps2, dtype=np.float64)
    if acc.ndim != 2 or acc.shape[1] != 3:
        raise ValueError(f"acc_mps2 must have shape (n, 3), got {acc.shape}")
    gyr = None
    if gyr_radps is not None:
        gyr = np.asarray(gyr_radps, dtype=np.float64)
        if gyr.shape != acc.shape:
            raise ValueError(f"gyr_radps shape {gyr.shape} differs from acc_mps2 shape {acc.shape}")
    return acc, gyr, fs


def fill_gaps(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Linearly interpolate NaN rows (recording gaps) of an ``(n, k)`` array.

    Returns
    -------
    filled, missing_fraction
        The filled copy and the share of rows that had a NaN. Leading/trailing gaps are
        held at the nearest valid value. An all-NaN input is returned unchanged with
        fraction 1.0.
    """
    x = np.array(x, dtype=np.float64, copy=True)
    if x.ndim == 1:
        x = x[:, None]
        squeeze = True
    else:
        squeeze = False
    bad = ~np.all(np.isfinite(x), axis=1)
    frac = float(bad.mean()) if len(bad) else 0.0
    if bad.any() and not bad.all():
        idx = np.arange(len(x))
        good = ~bad
        for k in range(x.shape[1]):
            x[bad, k] = np.interp(idx[bad], idx[good], x[good, k])
    return (x[:, 0] if squeeze else x), frac


# --------------------------------------------------------------------------- sliding stats


def moving_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving mean along axis 0 with an odd-or-even ``window`` (samples), same length.

    Edges use the available samples (shrinking window). Vectorised with cumulative sums.
    """
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    window = max(1, int(window))
    if n == 0:
        return x.copy()
    half_lo = window // 2
    half_hi = window - half_lo
    c = np.concatenate([np.zeros((1,) + x.shape[1:]), np.cumsum(x, axis=0)], axis=0)
    idx = np.arange(n)
    lo = np.clip(idx - half_lo, 0, n)
    hi = np.clip(idx + half_hi, 0, n)
    cnt = (hi - lo).reshape((-1,) + (1,) * (x.ndim - 1))
    return (c[hi] - c[lo]) / cnt


def moving_std(x: np.ndarray, window: int) -> np.ndarray:
    """Centred moving standard deviation along axis 0 (same length as ``x``)."""
    x = np.asarray(x, dtype=np.float64)
    mu = moving_mean(x, window)
    mu2 = moving_mean(x * x, window)
    return np.sqrt(np.maximum(mu2 - mu * mu, 0.0))


# --------------------------------------------------------------------------- rest / activity


def rest_mask(
    acc_mps2: np.ndarray,
    gyr_radps: np.ndarray | None,
    sampling_rate_hz: float,
    *,
    window_s: float = 0.5,
    acc_std_max_mps2: float = 0.35,
    gyr_max_radps: float = 0.35,
) -> np.ndarray:
    """Boolean mask of samples where the trunk is still (standing, sitting or lying quietly).

    A sample is at rest when, over a centred window of ``window_s``, the standard deviation
    of the acceleration norm is below ``acc_std_max_mps2`` and the mean gyroscope norm is
    below ``gyr_max_radps``. Quiet stance of older adults stays well below both defaults
    (lower-back sway RMS is typically 0.02-0.2 m/s^2, trunk angular velocity < 0.1 rad/s);
    a step or a grab exceeds them.
    """
    acc, gyr, fs = check_imu(acc_mps2, gyr_radps, sampling_rate_hz)
    w = max(3, int(round(window_s * fs)))
    acc_n = np.linalg.norm(np.nan_to_num(acc), axis=1)
    still = moving_std(acc_n, w) < acc_std_max_mps2
    if gyr is not None:
        gyr_n = np.linalg.norm(np.nan_to_num(gyr), axis=1)
        still &= moving_mean(gyr_n, w) < gyr_max_radps
    return still


def segments_from_mask(
    mask: np.ndarray,
    sampling_rate_hz: float,
    *,
    min_duration_s: float = 0.0,
    merge_gap_s: float = 0.0,
) -> list[Segment]:
    """Runs of True in ``mask`` as :class:`Segment` (seconds from sample 0).

    Runs separated by fewer than ``merge_gap_s`` of False are merged first; then runs
    shorter than ``min_duration_s`` are dropped.
    """
    m = np.asarray(mask, dtype=bool)
    fs = float(sampling_rate_hz)
    if m.size == 0:
        return []
    d = np.diff(np.concatenate([[0], m.astype(np.int8), [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    if len(starts) == 0:
        return []
    if merge_gap_s > 0 and len(starts) > 1:
        gaps = starts[1:] - ends[:-1]
        keep = gaps >= merge_gap_s * fs
        starts = np.concatenate([[starts[0]], starts[1:][keep]])
        ends = np.concatenate([ends[:-1][keep], [ends[-1]]])
    dur = ends - starts
    sel = dur >= min_duration_s * fs
    return [Segment(s / fs, e / fs) for s, e in zip(starts[sel], ends[sel])]


def movement_bursts(
    acc_mps2: np.ndarray,
    gyr_radps: np.ndarray | None,
    sampling_rate_hz: float,
    acc_std_max_mps2: float = 0.35,
    gyr_max_radps: float = 0.35,
    min_duration_s: float = 0.3,
    merge_gap_s: float = 0.0,
) -> tuple[np.ndarray, list[Segment]]:
    """Where the trunk is still, and the bursts of movement in between.

    The still mask is :func:`rest_mask` with the two thresholds; a burst (a step, a grab,
    a lift of the foot) is a run of not-still samples of at least ``min_duration_s``, runs
    closer than ``merge_gap_s`` merged first (:func:`segments_from_mask`). The balance
    tests judge a stance by them.

    Returns
    -------
    still, bursts
        The boolean mask and the bursts as :class:`Segment` objects.
    """
    still = rest_mask(
        acc_mps2,
        gyr_radps,
        sampling_rate_hz,
        acc_std_max_mps2=acc_std_max_mps2,
        gyr_max_radps=gyr_max_radps,
    )
    bursts = segments_from_mask(
        ~still, sampling_rate_hz, min_duration_s=min_duration_s, merge_gap_s=merge_gap_s
    )
    return still, bursts


def dominant_frequency_hz(
    x: np.ndarray, sampling_rate_hz: float, fmin_hz: float = 0.5, fmax_hz: float = 4.0
) -> tuple[float, float]:
    """Dominant frequency of a 1-D signal in a band and the share of power there.

    Returns
    -------
    frequency_hz, power_fraction
        Peak of the Welch PSD within ``[fmin_hz, fmax_hz]`` and the fraction of the
        (detrended) signal power inside that band.
    """
    x = np.asarray(x, dtype=np.float64)
    fs = float(sampling_rate_hz)
    if len(x) < 8:
        return float("nan"), 0.0
    from scipy import signal  # lazily: ~1 s to import, only this measure needs it

    nper = int(min(len(x), max(8, round(4 * fs))))
    f, p = signal.welch(x - x.mean(), fs=fs, nperseg=nper, detrend="linear")
    band = (f >= fmin_hz) & (f <= fmax_hz)
    tot = float(p[f > 0.1].sum())
    if not band.any() or tot <= 0:
        return float("nan"), 0.0
    k = np.argmax(np.where(band, p, -np.inf))
    return float(f[k]), float(p[band].sum() / tot)


def looks_like_walking(
    acc_mps2: np.ndarray,
    sampling_rate_hz: float,
    *,
    min_rms_mps2: float = 0.8,
    min_band_fraction: float = 0.4,
) -> bool:
    """True when the acceleration looks like gait: strong and periodic at 1.2-3.0 Hz.

    Uses the norm of the acceleration (mount-agnostic). Walking at the lower back has
    vertical RMS around 1-3 m/s^2 dominated by the step frequency (1.5-2.2 Hz); quiet
    stance is below 0.2 m/s^2.
    """
    acc = np.asarray(acc_mps2, dtype=np.float64)
    n = np.linalg.norm(fill_gaps(acc)[0], axis=1)
    n = n - n.mean()
    if len(n) < sampling_rate_hz * 2:
        return False
    rms = float(np.sqrt(np.mean(n * n)))
    if rms < min_rms_mps2:
        return False
    _f, frac = dominant_frequency_hz(n, sampling_rate_hz, 1.2, 3.0)
    return frac >= min_band_fraction


def still_tail_s(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
) -> float:
    """Seconds the trunk has been still at the end of a window (:func:`rest_mask`).

    Rows with a missing value are left out; fewer than 0.3 s of rows (at least 8) give 0.
    The live analysis uses it to tell "the patient is moving" (the sway biofeedback pauses,
    and shows only the still part once they stand still again).
    """
    acc = np.asarray(acc_mps2, dtype=float)
    both = acc if gyr_radps is None else np.hstack([acc, np.asarray(gyr_radps, dtype=float)])
    ok = np.isfinite(both).all(axis=1) if both.shape[0] else np.zeros(0, bool)
    if ok.sum() < max(8, int(0.3 * sampling_rate_hz)):
        return 0.0
    still = rest_mask(acc[ok], None if gyr_radps is None else both[ok, 3:], sampling_rate_hz)
    moved = np.flatnonzero(~still)
    n_still = still.shape[0] if moved.size == 0 else still.shape[0] - 1 - int(moved[-1])
    return n_still / sampling_rate_hz


def sensor_moved(
    acc_mps2: np.ndarray,
    sampling_rate_hz: float,
    *,
    window_s: float = 2.0,
    max_angle_deg: float = 15.0,
) -> tuple[bool, float]:
    """Did gravity turn in the sensor frame during a segment that should be still?

    Compares the gravity direction (mean acceleration) of consecutive ``window_s``
    windows with that of the first window.

    Returns
    -------
    moved, max_angle_deg
        True when the largest angle exceeds ``max_angle_deg``, and that angle.
    """
    acc = fill_gaps(np.asarray(acc_mps2, dtype=np.float64))[0]
    w = max(1, int(round(window_s * sampling_rate_hz)))
    nwin = len(acc) // w
    if nwin < 2:
        return False, 0.0
    means = acc[: nwin * w].reshape(nwin, w, 3).mean(axis=1)
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    cos = np.clip(means @ means[0], -1.0, 1.0)
    ang = float(np.degrees(np.arccos(cos)).max())
    return ang > max_angle_deg, ang

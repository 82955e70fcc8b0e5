"""Offline gait analysis of one lower-back IMU: the whole chain in one algorithm object.

Chain (each step documented and referenced in its own module):

1. :class:`analysis.orientation.BodyFrameAligner`: sensor -> body frame (V, AP, ML).
2. :class:`analysis.gait.bouts.GaitSequenceDetector` (Paraschiv-Ionescu 2019) on the
   acceleration norm: where somebody may be walking.
3. :class:`analysis.gait.initial_contacts.InitialContactDetector` (McCamley 2012 /
   Paraschiv-Ionescu 2020) on the true vertical inside those sequences;
   :class:`~analysis.gait.initial_contacts.LateralityClassifier` (McCamley 2012 / Ullrich 2021)
   labels left/right.
4. :class:`analysis.gait.parameters.StepLengthZijlstra` step lengths (Hampel-filtered per
   group of contacts), stride length = sum of its two steps.
5. :class:`analysis.gait.bouts.WalkingBoutAssembler`: Mobilise-D bout rules (invalid strides
   removed first - too short/long, < 0.15 m, lost samples, trunk > 45 deg from the walking
   posture (:func:`upright_strides`); a break > 3 s between valid strides splits; >= 4 valid
   strides).
6. Per stride and per bout parameters; regularity/symmetry (Moe-Nilssen & Helbostad 2004),
   harmonic ratio (Menz 2003), turns (El-Gohary 2014).

Per-bout values are means over the bout's valid strides, the same definition the Mobilise-D
reference uses (e.g. cadence = mean over strides of 120 / stride time).

Units: times in s from the first sample, cadence in steps/min, lengths in m, speeds in m/s,
coefficients of variation in percent (``*_cv``: 100 * SD / mean).

Samples that are NaN (lost) are interpolated for filtering; initial contacts that fall on
them are dropped and strides that overlap them are invalid.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, TypedDict

import numpy as np

from analysis.gait._signal import butter_filtfilt, merge_intervals
from analysis.gait.bouts import GaitSequenceDetector, WalkingBoutAssembler
from analysis.gait.initial_contacts import InitialContactDetector, LateralityClassifier
from analysis.gait.parameters import (
    BODY_HEIGHT_TO_SENSOR_HEIGHT,
    StepLengthZijlstra,
    autocorrelation_regularity,
    hampel,
    harmonic_ratio,
    vertical_displacement,
)
from analysis.gait.periodicity import GaitPeriodicity
from analysis.gait.turns import Turn, TurnDetector
from analysis.orientation import BodyFrameAligner, fill_nan_rows

__all__ = [
    "DEFAULT_BODY_HEIGHT_M",
    "GaitAnalyzer",
    "ContactTrack",
    "GaitResult",
    "find_gait_sequences",
    "decimate",
    "track_contacts",
    "Stride",
    "WalkingBout",
    "resolve_sensor_height",
    "step_mean_up",
    "step_tilt_range_deg",
    "upright_steps",
    "upright_strides",
]

DEFAULT_BODY_HEIGHT_M = 1.70


def resolve_sensor_height(
    sensor_height_m: float | None, height_m: float | None
) -> tuple[float, str]:
    """Sensor height and where it came from: ``"given"``, ``"body-height"`` or ``"default"``.

    Falls back to 0.53 x body height, then to 0.53 x 1.70 m.
    """
    if sensor_height_m is not None and np.isfinite(sensor_height_m) and sensor_height_m > 0:
        return float(sensor_height_m), "given"
    if height_m is not None and np.isfinite(height_m) and height_m > 0:
        return BODY_HEIGHT_TO_SENSOR_HEIGHT * float(height_m), "body-height"
    return BODY_HEIGHT_TO_SENSOR_HEIGHT * DEFAULT_BODY_HEIGHT_M, "default"


def round_or_none(x: Any, nd: int = 4) -> float | None:
    """``x`` rounded to ``nd`` decimals for the JSON of a result; ``None`` for ``None``, NaN
    and infinities (JSON has no NaN)."""
    if x is None:
        return None
    x = float(x)
    return round(x, nd) if np.isfinite(x) else None


def rounded_fields(record: Any, nd: int = 4) -> dict[str, Any]:
    """A dataclass's fields as a JSON-ready dict, floats by :func:`round_or_none`.

    For records of plain values: the fields are read directly (:func:`dataclasses.asdict`
    deep-copies every value, a tenth of a second for an hour's strides).
    """
    out: dict[str, Any] = {}
    for f in fields(record):
        v = getattr(record, f.name)
        out[f.name] = round_or_none(v, nd) if isinstance(v, float) else v
    return out


@dataclass(frozen=True)
class Stride:
    """One stride (initial contact to the next of the same foot)."""

    start_s: float
    end_s: float
    duration_s: float
    length_m: float
    speed_mps: float
    foot: str
    valid: bool

    def to_dict(self) -> dict:
        """JSON-ready dict."""
        return rounded_fields(self)


@dataclass(frozen=True)
class WalkingBout:
    """Per-bout gait parameters (see module docstring for units)."""

    start_s: float
    end_s: float
    n_steps: int
    n_strides: int
    cadence_spm: float
    step_time_s: float
    step_time_sd_s: float
    step_time_cv: float
    stride_time_s: float
    stride_time_sd_s: float
    stride_time_cv: float
    step_length_m: float
    stride_length_m: float
    walking_speed_mps: float
    step_regularity: float
    stride_regularity: float
    step_symmetry: float
    harmonic_ratio_v: float
    harmonic_ratio_ap: float
    harmonic_ratio_ml: float
    step_time_left_s: float = float("nan")
    step_time_right_s: float = float("nan")
    step_time_asymmetry: float = float("nan")
    n_turns: int = 0

    @property
    def duration_s(self) -> float:
        """Bout duration (first to last contact)."""
        return self.end_s - self.start_s

    def to_dict(self) -> dict:
        """JSON-ready dict (NaN -> None)."""
        return rounded_fields(self) | {"duration_s": round_or_none(self.duration_s)}


@dataclass
class GaitResult:
    """Everything the offline (or streaming) gait analysis found."""

    walking_bouts: list[WalkingBout] = field(default_factory=list)
    strides: list[Stride] = field(default_factory=list)
    initial_contacts_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    initial_contacts_lr: np.ndarray = field(default_factory=lambda: np.empty(0, dtype="<U5"))
    turns: list[Turn] = field(default_factory=list)
    sensor_height_m: float = float("nan")
    sensor_height_source: str = "default"
    heading_source: str = "none"
    walking_like_s: float = 0.0
    measured_walking_s: float = 0.0

    @property
    def unmeasured_walking_s(self) -> float:
        """Seconds of walking-like movement (step pulse trains or the gait rhythm, less the
        steps that are not walking at all: bending, chair rises) that no walking bout covers:
        walking too slow, too irregular or too short to measure."""
        return max(self.walking_like_s - self.measured_walking_s, 0.0)

    def to_dict(self) -> dict:
        """JSON-ready dict matching the ``poise analyze`` contract."""
        return {
            "walking_like_s": round_or_none(self.walking_like_s, 2),
            "measured_walking_s": round_or_none(self.measured_walking_s, 2),
            "unmeasured_walking_s": round_or_none(self.unmeasured_walking_s, 2),
            "walking_bouts": [b.to_dict() for b in self.walking_bouts],
            "initial_contacts_s": [round(float(t), 3) for t in self.initial_contacts_s],
            "initial_contacts_lr": [str(x) for x in self.initial_contacts_lr],
            "strides": [s.to_dict() for s in self.strides],
            "turns": [t.to_dict() for t in self.turns],
            "sensor_height_m": round_or_none(self.sensor_height_m),
            "sensor_height_source": self.sensor_height_source,
            "heading_source": self.heading_source,
        }


def _sd_cv(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    sd = float(x.std(ddof=1)) if x.size > 1 else np.nan
    return (m, sd, 100.0 * sd / m if m > 0 else np.nan)


def bout_from_contacts(
    ic: np.ndarray,
    step_len: np.ndarray,
    stride_valid: np.ndarray,
    fs: float,
    acc_body: np.ndarray | None,
    lr: np.ndarray | None = None,
) -> tuple[WalkingBout, list[Stride]]:
    """Bout parameters from its contacts (samples), step lengths (k-1) and stride validity (k-2).

    ``acc_body`` (columns V, AP, ML, the bout's samples from ``ic[0]``) gives the signal-based
    parameters; None skips them (NaN).
    """
    t = ic / fs
    st = np.diff(t)
    sdur = t[2:] - t[:-2]
    slen = step_len[:-1] + step_len[1:]
    step_in_valid = np.zeros(st.size, dtype=bool)
    step_in_valid[:-1] |= stride_valid
    step_in_valid[1:] |= stride_valid
    step_m, step_sd, step_cv = _sd_cv(st[step_in_valid])
    stride_m, stride_sd, stride_cv = _sd_cv(sdur[stride_valid])
    speed = slen / sdur
    valid_len = stride_valid & np.isfinite(slen)
    strides = [
        Stride(
            start_s=float(t[i]),
            end_s=float(t[i + 2]),
            duration_s=float(sdur[i]),
            length_m=float(slen[i]),
            speed_mps=float(speed[i]),
            foot=str(lr[i]) if lr is not None and lr.size > i else "unknown",
            valid=bool(stride_valid[i]),
        )
        for i in range(sdur.size)
    ]
    reg = (np.nan, np.nan, np.nan)
    hr = np.full(3, np.nan)
    if acc_body is not None and acc_body.shape[0] > 0:
        seg = acc_body[: ic[-1] - ic[0] + 1]
        reg = autocorrelation_regularity(seg[:, 0], fs, step_m)
        bounds = np.stack([ic[:-2], ic[2:]], 1)[stride_valid] - ic[0]
        hr = harmonic_ratio(seg, bounds)
    bout = WalkingBout(
        start_s=float(t[0]),
        end_s=float(t[-1]),
        n_steps=int(st.size),
        n_strides=int(stride_valid.sum()),
        cadence_spm=float(np.mean(120.0 / sdur[stride_valid])) if stride_valid.any() else np.nan,
        step_time_s=step_m,
        step_time_sd_s=step_sd,
        step_time_cv=step_cv,
        stride_time_s=stride_m,
        stride_time_sd_s=stride_sd,
        stride_time_cv=stride_cv,
        step_length_m=float(np.nanmean(step_len[step_in_valid]))
        if np.isfinite(step_len[step_in_valid]).any()
        else np.nan,
        stride_length_m=float(slen[valid_len].mean()) if valid_len.any() else np.nan,
        walking_speed_mps=float(speed[valid_len].mean()) if valid_len.any() else np.nan,
        step_regularity=reg[0],
        stride_regularity=reg[1],
        step_symmetry=reg[2],
        harmonic_ratio_v=float(hr[0]),
        harmonic_ratio_ap=float(hr[1]),
        harmonic_ratio_ml=float(hr[2]),
        **step_time_sides(st, step_in_valid, lr[1:] if lr is not None else None),
    )
    return bout, strides


class StepTimeSides(TypedDict):
    """The step-time fields of a :class:`WalkingBout` by side (s; the ratio has no unit)."""

    step_time_left_s: float
    step_time_right_s: float
    step_time_asymmetry: float


def step_time_sides(
    step_s: np.ndarray, valid: np.ndarray, foot: np.ndarray | None
) -> StepTimeSides:
    """Mean step time by the foot that lands and their asymmetry ratio (longer / shorter).

    ``foot[i]`` is the side of the contact that ends step ``i``. The ratio is the symmetry
    ratio recommended by Patterson et al. (2010) (1 = symmetric); NaN with fewer than three
    valid steps on either side.
    """
    nan = float("nan")
    out = StepTimeSides(step_time_left_s=nan, step_time_right_s=nan, step_time_asymmetry=nan)
    if foot is None or len(foot) != len(step_s):
        return out
    foot = np.asarray(foot)
    left = step_s[valid & (foot == "left")]
    right = step_s[valid & (foot == "right")]
    if left.size >= 3:
        out["step_time_left_s"] = float(left.mean())
    if right.size >= 3:
        out["step_time_right_s"] = float(right.mean())
    if left.size >= 3 and right.size >= 3:
        a, b = float(left.mean()), float(right.mean())
        out["step_time_asymmetry"] = max(a, b) / min(a, b)
    return out


@dataclass(eq=False)
class GaitAnalyzer:
    """Offline gait analysis from one lower-back IMU.

    Parameters
    ----------
    sensor_height_m : float or None
        Height of the sensor above the ground (inverted-pendulum length).
    height_m : float or None
        Body height; used as 0.53 x height when ``sensor_height_m`` is None.
    aligner, gsd, icd, lrc, step_length, wba, turn_detector
        Algorithm objects (defaults: the documented literature parameters).

    Attributes
    ----------
    result_ : :class:`GaitResult`
    aligner_ : fitted :class:`analysis.orientation.BodyFrameAligner`
        Fitted at the internal rate ``rate_hz_`` (:func:`decimate`).
    rate_hz_ : float
        Internal rate of the analysis (>= 40 Hz; the input rate divided by an integer).
    track_ : :class:`ContactTrack`
    gait_sequences_ : (k, 2) int array
    """

    sensor_height_m: float | None = None
    height_m: float | None = None
    aligner: BodyFrameAligner | None = None
    gsd: GaitSequenceDetector | None = None
    icd: InitialContactDetector | None = None
    lrc: LateralityClassifier | None = None
    step_length: StepLengthZijlstra | None = None
    wba: WalkingBoutAssembler | None = None
    turn_detector: TurnDetector | None = None
    periodicity: GaitPeriodicity | None = None

    def analyze(
        self, acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
    ) -> GaitAnalyzer:
        """Run the chain on (n, 3) acceleration (m/s^2) and angular velocity (rad/s); returns self."""
        fs = float(sampling_rate_hz)
        if not np.isfinite(fs) or fs <= 0:
            raise ValueError(f"sampling_rate_hz must be > 0, got {sampling_rate_hz}")
        l_m, l_src = resolve_sensor_height(self.sensor_height_m, self.height_m)
        res = GaitResult(sensor_height_m=l_m, sensor_height_source=l_src)
        self.result_ = res
        self.gait_sequences_ = np.empty((0, 2), dtype=int)
        acc = np.asarray(acc_mps2, dtype=float)
        if acc.ndim != 2 or acc.shape[1] != 3:
            raise ValueError(f"acc_mps2 must have shape (n, 3), got {acc.shape}")
        tr = track_contacts(
            acc,
            gyr_radps,
            fs,
            sensor_height_m=l_m,
            aligner=self.aligner,
            gsd=self.gsd,
            periodicity=self.periodicity,
            icd=self.icd,
            lrc=self.lrc,
            step_length=self.step_length,
        )
        self.track_ = tr
        self.rate_hz_ = tr.rate_hz
        self.aligner_ = tr.aligner
        self.periodicity_ = tr.periodicity
        self.gait_sequences_ = tr.sequences
        res.heading_source = tr.aligner.heading_source_
        if tr.body is None or tr.gyr_body is None:  # set together, with data
            return self
        fs = tr.rate_hz
        turns = (self.turn_detector or TurnDetector()).detect(tr.gyr_body[:, 0], fs)
        res.turns = list(turns.turns_)
        ic = tr.ic
        res.walking_like_s, _ = _walking_coverage(tr.sequences / fs, [])
        if ic.size < 3:
            return self
        stride_ok = tr.step_nanfree[:-1] & tr.step_nanfree[1:]
        bouts, strides, keep = assemble_bouts(
            ic,
            tr.step_length_raw_m,
            stride_ok,
            fs,
            self.wba or WalkingBoutAssembler(),
            tr.lr,
            tr.body,
            step_up_sensor=tr.step_up_sensor,
            step_tilt_deg=tr.step_tilt_deg,
        )
        for b in bouts:
            n_turns = sum(1 for t in res.turns if t.end_s > b.start_s and t.start_s < b.end_s)
            res.walking_bouts.append(replace(b, n_turns=n_turns))
        res.strides.extend(strides)
        res.initial_contacts_s = ic[keep] / fs
        res.initial_contacts_lr = tr.lr[keep]
        wba = self.wba or WalkingBoutAssembler()
        # strides with a step that is not walking at all (bending, a chair rise) are not
        # walking-like time
        calm = ~(tr.step_tilt_deg > wba.max_step_tilt_deg)
        posture = upright_steps(ic, tr.step_up_sensor, fs, wba) & calm
        bad = ~(posture[:-1] & posture[1:])
        not_walking = np.stack([ic[:-2], ic[2:]], axis=1)[bad] / fs
        res.walking_like_s, res.measured_walking_s = _walking_coverage(
            tr.sequences / fs, [(b.start_s, b.end_s) for b in res.walking_bouts], not_walking
        )
        return self


def _walking_coverage(
    sequences_s: np.ndarray, bouts_s: list, not_walking_s: np.ndarray | None = None
) -> tuple[float, float]:
    """Seconds of gait sequences outside ``not_walking_s``, and of them within 1 s of a bout."""
    seq = merge_intervals(np.asarray(sequences_s, dtype=float).reshape(-1, 2), 0.0)
    if not_walking_s is not None and len(not_walking_s):
        seq = _subtract(seq, merge_intervals(np.asarray(not_walking_s, float).reshape(-1, 2), 0.0))
    total = float(np.sum(seq[:, 1] - seq[:, 0])) if seq.size else 0.0
    if not bouts_s or not seq.size:
        return total, 0.0
    b = merge_intervals(np.asarray(bouts_s, dtype=float).reshape(-1, 2) + [-1.0, 1.0], 0.0)
    s = np.maximum(seq[:, None, 0], b[None, :, 0])
    e = np.minimum(seq[:, None, 1], b[None, :, 1])
    return total, float(np.clip(e - s, 0, None).sum())


def _subtract(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted disjoint intervals ``a`` minus sorted disjoint intervals ``b``."""
    out = []
    for s, e in a:
        cur = s
        for bs, be in b[(b[:, 1] > s) & (b[:, 0] < e)]:
            if bs > cur:
                out.append((cur, bs))
            cur = max(cur, be)
        if cur < e:
            out.append((cur, e))
    return np.asarray(out, dtype=float).reshape(-1, 2)


@dataclass
class ContactTrack:
    """Initial contacts of a recording (or a stream's window) with what bouts need of them.

    Produced by :func:`track_contacts`; the offline and the streaming analysis assemble bouts
    from it. Everything is at the internal rate ``rate_hz`` = input rate / ``decimation``
    (sample ``i`` here is input sample ``i * decimation``).

    Attributes
    ----------
    ic : (k,) int array
        Initial contacts (not on lost samples), ascending.
    sensor_height_m : float
        Pendulum length the step lengths were computed with.
    lr : (k,) str array
        ``"left"`` / ``"right"`` per contact.
    step_length_raw_m : (k-1,) array
        Zijlstra length of every step ``ic[i] -> ic[i+1]`` (before outlier removal).
    step_nanfree : (k-1,) bool array
        No lost sample in the step.
    step_up_sensor : (k-1, 3) array
        Mean up direction (sensor frame) over every step (posture criterion).
    step_tilt_deg : (k-1,) array
        How far the trunk tilts within every step (:func:`step_tilt_range_deg`).
    sequences : (m, 2) int array
        Gait sequences searched; ``step_period_s`` their step periods (NaN = unknown).
    aligner, gsd, periodicity, icd
        The fitted algorithm objects (``gsd``/``icd`` None when there was nothing to search).
    body, gyr_body, displacement_m, bad
        Body-frame signals with lost samples interpolated, vertical displacement (m) and the
        lost-sample mask; ``body`` is None when the data are too short or all lost.
    """

    ic: np.ndarray
    rate_hz: float
    decimation: int
    sensor_height_m: float
    lr: np.ndarray
    step_length_raw_m: np.ndarray
    step_nanfree: np.ndarray
    step_up_sensor: np.ndarray
    step_tilt_deg: np.ndarray
    sequences: np.ndarray
    step_period_s: np.ndarray
    aligner: BodyFrameAligner
    gsd: GaitSequenceDetector | None = None
    periodicity: GaitPeriodicity | None = None
    icd: InitialContactDetector | None = None
    body: np.ndarray | None = None
    gyr_body: np.ndarray | None = None
    displacement_m: np.ndarray | None = None
    bad: np.ndarray | None = None

    def step(self, a: int, b: int, sensor_height_m: float) -> tuple[float, bool, np.ndarray, float]:
        """Raw Zijlstra length, 'no lost sample', mean up direction and tilt range of ``a -> b``.

        Taken from the per-step arrays when ``a`` and ``b`` are successive contacts of the
        track (and ``sensor_height_m`` is the one it was made with), else measured.
        """
        i = int(np.searchsorted(self.ic, a))
        if (
            i + 1 < self.ic.size
            and self.ic[i] == a
            and self.ic[i + 1] == b
            and sensor_height_m == self.sensor_height_m
        ):
            return (
                float(self.step_length_raw_m[i]),
                bool(self.step_nanfree[i]),
                self.step_up_sensor[i],
                float(self.step_tilt_deg[i]),
            )
        assert self.displacement_m is not None and self.bad is not None, "a track without data"
        pair = np.array([a, b])
        length = StepLengthZijlstra().calculate(self.displacement_m, pair, sensor_height_m)
        nanfree = not bool(self.bad[a : b + 1].any())
        grav = self.aligner.gravity_sensor_
        return (
            float(length.step_length_m_[0]),
            nanfree,
            step_mean_up(grav, pair)[0],
            float(step_tilt_range_deg(grav, pair, self.aligner.forward_sensor_)[0]),
        )


#: The chain runs at the input rate divided by the largest integer that keeps it at or above
#: this rate (100 Hz -> 50 Hz, 200 Hz -> 40 Hz): gait events lie below 4 Hz and contacts are
#: scored to +-0.25 s, while the cost of every filter scales with the rate (mobgap resamples
#: to 40 Hz for the same reason).
INTERNAL_MIN_RATE_HZ = 40.0


def decimation_factor(sampling_rate_hz: float) -> int:
    """Integer decimation from the input rate to the internal rate (>= 40 Hz)."""
    return max(1, int(float(sampling_rate_hz) // INTERNAL_MIN_RATE_HZ))


def decimate(
    acc_mps2: np.ndarray, gyr_radps: np.ndarray | None, sampling_rate_hz: float
) -> tuple[np.ndarray, np.ndarray | None, float, int]:
    """Anti-alias (Butterworth low-pass at 0.4 x the new rate, zero phase) and keep every q-th row.

    Rows that were lost (NaN) stay lost: a kept row is NaN when any input row within half a
    decimation step of it was. Returns (acc, gyr or None, new rate, q).
    """
    fs = float(sampling_rate_hz)
    q = decimation_factor(fs)
    if q == 1:
        return acc_mps2, gyr_radps, fs, 1
    cols = [np.asarray(acc_mps2, dtype=float)]
    if gyr_radps is not None:
        cols.append(np.asarray(gyr_radps, dtype=float))
    filled, bad = fill_nan_rows(np.concatenate(cols, axis=1))
    low = butter_filtfilt(filled, 0.4 * fs / q, fs, "lowpass")[::q]
    if bad.any():
        cb = np.r_[0, np.cumsum(bad)]
        centre = np.arange(low.shape[0]) * q
        lo = np.clip(centre - q // 2, 0, bad.size)
        hi = np.clip(centre + q // 2 + 1, 0, bad.size)
        low[(cb[hi] - cb[lo]) > 0] = np.nan
    gyr = low[:, 3:] if gyr_radps is not None else None
    return low[:, :3], gyr, fs / q, q


def track_contacts(
    acc_mps2: np.ndarray,
    gyr_radps: np.ndarray | None,
    sampling_rate_hz: float,
    *,
    sensor_height_m: float,
    aligner: BodyFrameAligner | None = None,
    gsd: GaitSequenceDetector | None = None,
    periodicity: GaitPeriodicity | None = None,
    icd: InitialContactDetector | None = None,
    lrc: LateralityClassifier | None = None,
    step_length: StepLengthZijlstra | None = None,
    first_sample: int = 0,
) -> ContactTrack:
    """Body frame, gait sequences, step periods, initial contacts, sides and step attributes.

    The part of the chain that the offline and the streaming analysis share (steps 1-4 of
    the module docstring), run at the internal rate (:func:`decimate`); ``acc_mps2`` may hold
    NaN rows (lost samples). ``first_sample`` is the input index of the first row in the
    whole stream (a multiple of the decimation), for a stream's trailing window.
    """
    acc, gyr_radps, fs, q = decimate(acc_mps2, gyr_radps, sampling_rate_hz)
    acc = np.asarray(acc, dtype=float)
    al = (aligner or BodyFrameAligner()).align(acc, gyr_radps, fs)
    empty = ContactTrack(
        ic=np.empty(0, dtype=int),
        rate_hz=fs,
        decimation=q,
        sensor_height_m=sensor_height_m,
        lr=np.empty(0, dtype="<U5"),
        step_length_raw_m=np.empty(0),
        step_nanfree=np.empty(0, dtype=bool),
        step_up_sensor=np.empty((0, 3)),
        step_tilt_deg=np.empty(0),
        sequences=np.empty((0, 2), dtype=int),
        step_period_s=np.empty(0),
        aligner=al,
    )
    n = acc.shape[0]
    bad = ~np.all(np.isfinite(al.acc_body_mps2_), axis=1)
    if n < 3 * fs or bad.all():
        return empty
    body, _ = fill_nan_rows(al.acc_body_mps2_)
    gyr_body = al.gyr_body_radps_
    has_gyr = gyr_radps is not None and not np.isnan(gyr_body).all()
    if has_gyr:
        gyr_body, _ = fill_nan_rows(gyr_body)
    else:
        gyr_body = np.zeros_like(body)
    acc_f, _ = fill_nan_rows(acc)
    seqs, gsd_fit, per = find_gait_sequences(
        acc_f, body, gyr_body if has_gyr else None, fs, gsd, periodicity, first_sample // q
    )
    empty.gsd, empty.periodicity = gsd_fit, per
    empty.body, empty.gyr_body, empty.bad = body, gyr_body, bad
    empty.sequences = seqs
    if seqs.shape[0] == 0:
        return empty
    icd = icd or InitialContactDetector()
    segs, periods = _paced_segments(seqs, per, icd, fs, first_sample // q)
    icd_fit = icd.detect(body[:, 0], fs, segs, periods)
    ic = icd_fit.ic_[~bad[icd_fit.ic_]] if icd_fit.ic_.size else icd_fit.ic_
    disp = vertical_displacement(body[:, 0], fs, segs, icd_fit.slowdown_)
    sl = (step_length or StepLengthZijlstra()).calculate(disp, ic, sensor_height_m).step_length_m_
    cb = np.r_[0, np.cumsum(bad)]
    nanfree = (cb[ic[1:] + 1] - cb[ic[:-1]]) == 0 if ic.size >= 2 else np.empty(0, dtype=bool)
    lr = (lrc or LateralityClassifier()).predict(gyr_body, ic, fs).lr_
    return ContactTrack(
        ic=ic,
        rate_hz=fs,
        decimation=q,
        sensor_height_m=sensor_height_m,
        lr=lr,
        step_length_raw_m=sl,
        step_nanfree=nanfree,
        step_up_sensor=step_mean_up(al.gravity_sensor_, ic),
        step_tilt_deg=step_tilt_range_deg(al.gravity_sensor_, ic, al.forward_sensor_),
        sequences=segs,
        step_period_s=periods,
        aligner=al,
        gsd=gsd_fit,
        periodicity=per,
        icd=icd_fit,
        body=body,
        gyr_body=gyr_body,
        displacement_m=disp,
        bad=bad,
    )


#: Gait sequences are searched in pieces of this length (on the stream's grid), each with the
#: median step period of the gait-like periodicity windows centred within ``PACE_REACH_S`` of
#: it: a long sequence with slow and brisk walking gets the wavelet each part needs, and a
#: stream's trailing window, whose newest sequence is cut short, gives a piece 12 s old the
#: period the whole recording gives (its windows end at most 4 + 2 + 4 s after the piece
#: starts, 2 s before the window's newest data, clear of the filters' edge).
PACE_PIECE_S = 4.0
PACE_REACH_S = 2.0


def _paced_segments(
    seqs: np.ndarray,
    per: GaitPeriodicity,
    icd: InitialContactDetector,
    fs: float,
    first: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Sequences cut at the ``PACE_PIECE_S`` grid; pieces rejoined where the wavelet is the same.

    Returns (segments (k, 2), step period per segment). A piece without a periodicity
    window of its own takes the period of the nearest piece of its sequence that has one.
    """
    piece = int(round(PACE_PIECE_S * fs))
    segs: list[list[int]] = []
    periods: list[tuple[list[float], float]] = []
    for s, e in np.asarray(seqs, dtype=int).reshape(-1, 2):
        cuts = np.arange(((s + first) // piece + 1) * piece - first, e, piece)
        bounds = np.r_[s, cuts, e]
        pieces = np.stack([bounds[:-1], bounds[1:]], axis=1)
        reach = int(round(PACE_REACH_S * fs))
        p = per.step_periods(pieces + np.array([-reach, reach]), fs)
        if np.isfinite(p).any() and not np.isfinite(p).all():
            have = np.flatnonzero(np.isfinite(p))
            near = have[np.abs(np.arange(p.size)[:, None] - have[None, :]).argmin(axis=1)]
            p = p[near]
        scale = np.array([icd.slowdown(x) for x in p])
        for (a, b), x, sc in zip(pieces, p, scale):
            if segs and segs[-1][1] == a and periods[-1][1] == sc:
                segs[-1][1] = b
                periods[-1][0].append(x)
            else:
                segs.append([a, b])
                periods.append(([x], sc))
    out_p = np.array(
        [np.nanmedian(v) if np.isfinite(v).any() else np.nan for v, _ in periods], dtype=float
    )
    return np.asarray(segs, dtype=int).reshape(-1, 2), out_p


def find_gait_sequences(
    acc_mps2: np.ndarray,
    acc_body_mps2: np.ndarray,
    gyr_body_radps: np.ndarray | None,
    sampling_rate_hz: float,
    gsd: GaitSequenceDetector | None = None,
    periodicity: GaitPeriodicity | None = None,
    first_sample: int = 0,
) -> tuple[np.ndarray, GaitSequenceDetector, GaitPeriodicity]:
    """Where somebody may be walking: step-candidate pulse trains or periodic trunk motion.

    The union of the Paraschiv-Ionescu gait sequences (step candidates on the acceleration
    norm, :class:`GaitSequenceDetector`) and the gait-like windows of
    :class:`analysis.gait.periodicity.GaitPeriodicity` (the trunk's stride rhythm, which
    holds for slow walking whose steps are too weak or too far apart for pulse trains),
    merged by the sequence detector's gap rule. Shared by the offline and the streaming
    analysis. Inputs have no NaN; ``gyr_body_radps`` None when there is no gyroscope;
    ``first_sample`` is the index of the first row in the whole stream (windows of the
    periodicity sit on the stream's grid).

    Returns
    -------
    sequences : (k, 2) int array
        [start, end) samples.
    gsd, periodicity : the fitted detectors
    """
    fs = float(sampling_rate_hz)
    gsd = (gsd or GaitSequenceDetector()).detect(acc_mps2, fs)
    per = (periodicity or GaitPeriodicity()).detect(acc_body_mps2, gyr_body_radps, fs, first_sample)
    seqs = gsd.gait_sequences_
    if per.gait_like_intervals_.size:
        seqs = merge_intervals(
            np.concatenate([seqs, per.gait_like_intervals_]), gsd.max_gap_s * fs
        ).astype(int)
    return seqs, gsd, per


def step_mean_up(gravity_sensor: np.ndarray, ic: np.ndarray) -> np.ndarray:
    """Mean up direction (sensor frame, unit rows) over each step ``ic[i] .. ic[i+1]``."""
    ic = np.asarray(ic, dtype=int)
    g = np.asarray(gravity_sensor, dtype=float)
    if ic.size < 2:
        return np.empty((0, 3))
    c = np.concatenate([np.zeros((1, 3)), np.cumsum(np.nan_to_num(g), axis=0)])
    m = c[ic[1:] + 1] - c[ic[:-1]]
    norm = np.linalg.norm(m, axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, m / norm, np.nan)


def step_tilt_range_deg(
    gravity_sensor: np.ndarray, ic: np.ndarray, forward_sensor: np.ndarray
) -> np.ndarray:
    """How far the trunk pitches (flexes and extends, in the sagittal plane) within each step.

    Per step ``ic[i] .. ic[i+1]``: the range (deg) of the angle between the up direction and
    the step's mean up direction, measured towards the forward axis. The sagittal plane
    only: in quick turns the centripetal acceleration tilts the estimated up direction
    sideways, not forwards.
    """
    ic = np.asarray(ic, dtype=int)
    if ic.size < 2:
        return np.empty(0)
    g = np.asarray(gravity_sensor, dtype=float)[ic[0] : ic[-1] + 1]
    up = step_mean_up(gravity_sensor, ic)
    fwd = np.asarray(forward_sensor, dtype=float)
    f = fwd[None, :] - (up @ fwd)[:, None] * up
    f /= np.linalg.norm(f, axis=1, keepdims=True)
    idx = np.arange(g.shape[0]) + ic[0]
    step = np.clip(np.searchsorted(ic, idx, side="right") - 1, 0, ic.size - 2)
    with np.errstate(invalid="ignore"):
        ang = np.degrees(np.arctan2(np.sum(g * f[step], 1), np.sum(g * up[step], 1)))
    ang = np.nan_to_num(ang)
    starts = ic[:-1] - ic[0]
    return np.maximum.reduceat(ang, starts) - np.minimum.reduceat(ang, starts)


def upright_steps(
    ic: np.ndarray, step_up_sensor: np.ndarray, fs: float, wba: WalkingBoutAssembler
) -> np.ndarray:
    """(k-1,) bool: the step's trunk within ``wba.max_trunk_inclination_deg`` of upright.

    "Upright" is the walking posture of the group of contacts the step belongs to (contacts
    without a break longer than ``wba.max_break_s``): the normalised component-wise median of
    its steps' mean up directions, so the criterion is relative (mount-independent) and robust
    while most of the group is walking.
    """
    ic = np.asarray(ic, dtype=int)
    up = np.asarray(step_up_sensor, dtype=float).reshape(-1, 3)
    ok_step = np.ones(up.shape[0], dtype=bool)
    lim = np.cos(np.radians(wba.max_trunk_inclination_deg))
    brk = np.flatnonzero(np.diff(ic) > wba.max_break_s * fs)
    for s, e in zip(np.r_[0, brk + 1], np.r_[brk, ic.size - 1]):
        if e - s < 1:
            continue
        u = up[s:e]
        fin = np.all(np.isfinite(u), axis=1)
        if not fin.any():
            continue
        ref = np.median(u[fin], axis=0)
        if np.linalg.norm(ref) == 0:
            continue
        ref = ref / np.linalg.norm(ref)
        ok_step[s:e] = ~fin | (u @ ref >= lim)
    return ok_step


def upright_strides(
    ic: np.ndarray, step_up_sensor: np.ndarray, fs: float, wba: WalkingBoutAssembler
) -> np.ndarray:
    """(k-2,) bool: both steps of the stride upright (:func:`upright_steps`)."""
    ok_step = upright_steps(ic, step_up_sensor, fs, wba)
    return ok_step[:-1] & ok_step[1:]


def assemble_bouts(
    ic: np.ndarray,
    step_length_raw_m: np.ndarray,
    stride_ok: np.ndarray,
    fs: float,
    wba: WalkingBoutAssembler,
    lr: np.ndarray | None = None,
    acc_body: np.ndarray | None = None,
    time_offset_s: float = 0.0,
    step_up_sensor: np.ndarray | None = None,
    step_tilt_deg: np.ndarray | None = None,
) -> tuple[list[WalkingBout], list[Stride], np.ndarray]:
    """Shared by the offline and the streaming path: contacts -> bouts and strides.

    Parameters
    ----------
    ic : (k,) int array
        Initial contacts (samples, ascending).
    step_length_raw_m : (k-1,) array
        Zijlstra step lengths before outlier removal.
    stride_ok : (k-2,) bool array
        False for strides that overlap lost samples.
    acc_body : (n, 3) array or None
        Body-frame acceleration indexed like ``ic`` (for regularity and harmonic ratio).
    time_offset_s : float
        Added to every reported time.
    step_up_sensor : (k-1, 3) array or None
        Mean up direction (sensor frame) over every step; strides whose trunk is not upright
        are invalid (see :func:`upright_strides`). None skips the posture criterion.
    step_tilt_deg : (k-1,) array or None
        How far the trunk tilts within every step (:func:`step_tilt_range_deg`); strides
        with a step beyond ``wba.max_step_tilt_deg`` are invalid. None skips it.

    Returns
    -------
    bouts, strides, keep : list, list, (k,) bool mask of contacts inside bouts
    """
    ic = np.asarray(ic, dtype=int)
    keep = np.zeros(ic.size, dtype=bool)
    if ic.size < 3:
        return [], [], keep
    sl = np.asarray(step_length_raw_m, dtype=float).copy()
    # Hampel per group of contacts without a break (steps across a break are not steps)
    brk = np.flatnonzero(np.diff(ic) > wba.max_break_s * fs)
    for s, e in zip(np.r_[0, brk + 1], np.r_[brk, ic.size - 1]):
        if e - s >= 1:
            sl[s:e] = hampel(sl[s:e])
    stride_ok = np.asarray(stride_ok, dtype=bool)
    if step_up_sensor is not None:
        stride_ok = stride_ok & upright_strides(ic, step_up_sensor, fs, wba)
    if step_tilt_deg is not None:
        calm = ~(np.asarray(step_tilt_deg, dtype=float) > wba.max_step_tilt_deg)
        stride_ok = stride_ok & calm[:-1] & calm[1:]
    wba.assemble(ic / fs, sl[:-1] + sl[1:], stride_ok)
    valid = wba.stride_valid_
    bouts, strides = [], []
    for s, e in wba.bouts_:
        v = valid[s : e - 1]
        if v.sum() < wba.min_strides:
            continue
        bic = ic[s : e + 1]
        seg = acc_body[bic[0] : bic[-1] + 1] if acc_body is not None else None
        bout, st = bout_from_contacts(
            bic, sl[s:e], v, fs, seg, lr[s : e + 1] if lr is not None else None
        )
        if time_offset_s:
            bout = replace(
                bout, start_s=bout.start_s + time_offset_s, end_s=bout.end_s + time_offset_s
            )
            st = [
                replace(x, start_s=x.start_s + time_offset_s, end_s=x.end_s + time_offset_s)
                for x in st
            ]
        bouts.append(bout)
        strides.extend(st)
        keep[s : e + 1] = True
    return bouts, strides, keep

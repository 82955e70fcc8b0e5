"""Scoring gait results against a reference system (pure numerics; loading data is the caller's).

The rules are those of the reference data sets' READMEs (``recordings/mobgap-lab/README.md``,
``../shared/data/ipol-l5/README.md``) and of the Mobilise-D validation (Micó-Amigo et al.
2023):

* a reference walking bout is *matched* by the detected bout that overlaps it most, if that
  overlap covers at least half of the reference bout; bout recall = matched / reference;
* initial contacts count as found when a detected one lies within +-0.25 s, one to one
  (nearest pairs first), over the whole recording: every detected contact counts, also
  those outside reference bouts (figures over matched bouts only are given beside it);
* cadence, walking speed and stride length: absolute error of the matched bout's value.

Used by ``tests/analysis/test_validation_mobgap.py`` and ``bench/validate_gait.py``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from analysis.gait.pipeline import GaitResult

__all__ = [
    "IC_TOLERANCE_S",
    "TrialScore",
    "match_one_to_one",
    "score_trial",
    "summarise",
]

IC_TOLERANCE_S = 0.25


def match_one_to_one(
    detected_s: np.ndarray, reference_s: np.ndarray, tolerance_s: float = IC_TOLERANCE_S
) -> np.ndarray:
    """Pairs (i_detected, j_reference) within ``tolerance_s``, nearest first, each used once."""
    det = np.asarray(detected_s, dtype=float).reshape(-1)
    ref = np.asarray(reference_s, dtype=float).reshape(-1)
    if det.size == 0 or ref.size == 0:
        return np.empty((0, 2), dtype=int)
    d = np.abs(det[:, None] - ref[None, :])
    cand = np.argwhere(d <= tolerance_s)
    cand = cand[np.argsort(d[cand[:, 0], cand[:, 1]], kind="stable")]
    used_d = np.zeros(det.size, dtype=bool)
    used_r = np.zeros(ref.size, dtype=bool)
    out = []
    for i, j in cand:  # a few per contact: not a per-sample loop
        if not used_d[i] and not used_r[j]:
            used_d[i] = used_r[j] = True
            out.append((i, j))
    return np.asarray(out, dtype=int).reshape(-1, 2)


@dataclass
class TrialScore:
    """Counts and errors of one recording (sum them over recordings with :func:`summarise`)."""

    n_ref_bouts: int = 0
    n_matched_bouts: int = 0
    tp: int = 0  # contacts matched, whole recording
    n_detected: int = 0
    n_reference: int = 0
    tp_in_bouts: int = 0  # the same over matched bouts only
    n_detected_in_bouts: int = 0
    n_reference_in_bouts: int = 0
    cadence_err_spm: list[float] = field(default_factory=list)
    speed_err_mps: list[float] = field(default_factory=list)
    stride_length_err_m: list[float] = field(default_factory=list)
    lr_correct: int = 0
    lr_total: int = 0
    timing_err_s: list[float] = field(default_factory=list)


def score_trial(
    result: GaitResult,
    ref_ic_s: np.ndarray,
    ref_bouts: list[dict],
    ref_lr: np.ndarray | None = None,
) -> TrialScore:
    """Score one recording's :class:`GaitResult` against its reference.

    ``ref_bouts``: dicts with ``start_s``, ``end_s`` and, where the reference has them,
    ``cadence_spm``, ``speed_mps``, ``stride_length_m`` (NaN or missing = not scored).
    ``ref_lr``: "left"/"right" per reference contact, for the side labels.
    """
    sc = TrialScore()
    det = np.asarray(result.initial_contacts_s, dtype=float)
    ref = np.asarray(ref_ic_s, dtype=float)
    pairs = match_one_to_one(det, ref)
    sc.tp, sc.n_detected, sc.n_reference = len(pairs), det.size, ref.size
    sc.timing_err_s = [float(det[i] - ref[j]) for i, j in pairs]
    if ref_lr is not None and len(pairs):
        lab = np.asarray(result.initial_contacts_lr)
        rl = np.asarray(ref_lr)
        sc.lr_correct = int(np.sum(lab[pairs[:, 0]] == rl[pairs[:, 1]]))
        sc.lr_total = len(pairs)
    for rb in ref_bouts:
        s, e = float(rb["start_s"]), float(rb["end_s"])
        sc.n_ref_bouts += 1
        ov = [max(0.0, min(e, b.end_s) - max(s, b.start_s)) for b in result.walking_bouts]
        if not ov or max(ov) < 0.5 * (e - s):
            continue
        b = result.walking_bouts[int(np.argmax(ov))]
        sc.n_matched_bouts += 1
        lo = max(s, b.start_s) - IC_TOLERANCE_S
        hi = min(e, b.end_s) + IC_TOLERANCE_S
        d = det[(det >= lo) & (det <= hi)]
        r = ref[(ref >= lo) & (ref <= hi)]
        sc.tp_in_bouts += len(match_one_to_one(d, r))
        sc.n_detected_in_bouts += d.size
        sc.n_reference_in_bouts += r.size
        for key, attr, out in (
            ("cadence_spm", "cadence_spm", sc.cadence_err_spm),
            ("speed_mps", "walking_speed_mps", sc.speed_err_mps),
            ("stride_length_m", "stride_length_m", sc.stride_length_err_m),
        ):
            want = rb.get(key)
            got = getattr(b, attr)
            if want is not None and np.isfinite(want) and np.isfinite(got):
                out.append(float(got - want))
    return sc


def _prf(tp: int, n_det: int, n_ref: int) -> tuple[float, float, float]:
    p = tp / n_det if n_det else 0.0
    r = tp / n_ref if n_ref else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def _mae(values: list[float]) -> float:
    return float(np.mean(np.abs(values))) if values else float("nan")


def summarise(scores: list[TrialScore]) -> dict:
    """Figures over recordings: IC precision/recall/F1 (whole recording and matched bouts),
    bout recall, cadence/speed/stride-length MAE, side labels correct, contact timing."""
    tot = TrialScore()
    for s in scores:
        for k, v in vars(s).items():
            setattr(tot, k, getattr(tot, k) + v)
    p, r, f1 = _prf(tot.tp, tot.n_detected, tot.n_reference)
    pb, rb, f1b = _prf(tot.tp_in_bouts, tot.n_detected_in_bouts, tot.n_reference_in_bouts)
    err = np.asarray(tot.timing_err_s)
    return {
        "n_recordings": len(scores),
        "ic_precision": p,
        "ic_recall": r,
        "ic_f1": f1,
        "ic_f1_matched_bouts": f1b,
        "bout_recall": tot.n_matched_bouts / tot.n_ref_bouts if tot.n_ref_bouts else np.nan,
        "n_ref_bouts": tot.n_ref_bouts,
        "n_matched_bouts": tot.n_matched_bouts,
        "cadence_mae_spm": _mae(tot.cadence_err_spm),
        "speed_mae_mps": _mae(tot.speed_err_mps),
        "stride_length_mae_m": _mae(tot.stride_length_err_m),
        "side_correct": tot.lr_correct / tot.lr_total if tot.lr_total else np.nan,
        "ic_timing_median_s": float(np.median(err)) if err.size else np.nan,
    }

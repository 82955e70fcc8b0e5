"""Validation of the offline gait chain on the real lower-back recordings in recordings/mobgap-lab.

Scoring follows the README next to the data (:mod:`analysis.gait.validation`): contacts over
the whole recordings (+-0.25 s, one to one), reference bouts matched by the detected bout
overlapping at least half of them, cadence/speed/stride-length errors of matched bouts. Every
recording found in the folder is scored with the same code and default parameters (no
per-file settings); the figures are printed (run with ``-s``). The bounds below are the
figures before the slow-gait work (issue 10) plus nothing: a change that loses on these real
recordings fails here. More data sets (ipol-l5, synthetic slow gait):
``bench/validate_gait.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from analysis.gait import GaitAnalyzer
from analysis.gait.validation import score_trial, summarise

ROOT = Path(__file__).resolve().parents[2]
MOBGAP = ROOT / "recordings" / "mobgap-lab"

TRIALS = sorted(p.parent.name for p in MOBGAP.glob("*/imu_lowerback.csv"))

pytestmark = pytest.mark.skipif(not TRIALS, reason="no mobgap-lab recordings")


@pytest.fixture(scope="module")
def figures(lab_trial):
    scores = []
    for name in TRIALS:
        tr = lab_trial(name)
        res = (
            GaitAnalyzer(sensor_height_m=tr["sensor_height_m"])
            .analyze(tr["acc"], tr["gyr"], tr["fs"])
            .result_
        )
        scores.append(score_trial(res, tr["ref_ic_s"], tr["ref_bouts"], tr["ref_lr"]))
    s = summarise(scores)
    print("\nmobgap-lab validation (" + ", ".join(TRIALS) + ")")
    for k, v in s.items():
        print(f"  {k:24s} {v:.3f}" if isinstance(v, float) else f"  {k:24s} {v}")
    return s


def test_contacts_and_bouts(figures):
    assert figures["ic_f1"] >= 0.85  # whole recordings (0.850 before)
    assert figures["ic_f1_matched_bouts"] >= 0.95
    assert figures["bout_recall"] >= 0.90


# each figure its own test, so a regression names it (before: 2.76, 0.063, 0.059)
def test_cadence(figures):
    assert figures["cadence_mae_spm"] <= 2.76


def test_walking_speed(figures):
    assert figures["speed_mae_mps"] <= 0.063


def test_stride_length(figures):
    assert figures["stride_length_mae_m"] <= 0.059


def test_left_right_labels(figures):
    # McCamley's yaw sign at each contact, the feet alternating (Viterbi over a bout)
    assert figures["side_correct"] >= 0.95

"""Daily-life analysis (analysis.daily): chunks equal the whole, wear time, Mobilise-D outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis._contract import check_algorithm
from analysis.daily import (
    STANDARD_GRAVITY_MPS2,
    BlockStats,
    DailyBout,
    DailyLifeAnalyzer,
    NonWearDetector,
    mobility_outcomes,
)
from analysis.gait import GaitAnalyzer
from sensors.daily_life import DailyLife

FS = 100.0
G = STANDARD_GRAVITY_MPS2


@pytest.fixture(scope="module")
def three_hours():
    """Three hours at home: the sensor on the table for 5 min, worn (sitting, 8 outings an
    hour: walks of 5 s to 5 min), taken off 5 min before the end."""
    dl = DailyLife(FS, seed=3)
    kw = {"day_s": 3 * 3600.0, "wear_start_s": 300.0, "wear_end_s": 3 * 3600.0 - 300.0}
    md = dl.day(0, outings_per_hour=8, **kw)
    return md.acc_mps2, md.gyr_radps, {**md.truth, "sensor_height_m": dl.subject.l_m}


@pytest.fixture(scope="module")
def chunked_and_whole(three_hours):
    acc, gyr, truth = three_hours
    h = truth["sensor_height_m"]  # the therapist enters it (or the body height)
    an = DailyLifeAnalyzer(chunk_s=1200.0, margin_s=60.0, sensor_height_m=h).analyze(
        lambda a, b: (acc[a:b], gyr[a:b]), len(acc), FS
    )
    whole = GaitAnalyzer(sensor_height_m=h).analyze(acc, gyr, FS).result_.walking_bouts
    return an, whole


def test_bouts_of_a_chunked_analysis_equal_those_of_the_whole_recording(chunked_and_whole):
    """20-min chunks with a minute of margin (windows end inside walks, so bouts are cut
    and the windows move): the same bouts as the analysis of the whole 3 hours. The gait
    analysis estimates gravity and the walking direction over its whole input, so a bout
    may differ by a borderline first or last step (measured: 0-3 of 40-60 bouts, by one
    step, on 3 seeds)."""
    an, whole = chunked_and_whole
    assert len(an.windows_) > 9  # 9 cores of 20 min, and windows moved for bouts
    assert len(an.bouts_) == len(whole) > 30
    differ = 0
    for w, c in zip(whole, an.bouts_):
        same_times = abs(c.start_s - w.start_s) < 1e-6 and abs(c.end_s - w.end_s) < 1e-6
        if not same_times or c.n_steps != w.n_steps:
            differ += 1
            assert abs(c.n_steps - w.n_steps) <= 1
            assert abs(c.start_s - w.start_s) < 4.5 and abs(c.end_s - w.end_s) < 4.5
            assert c.walking_speed_mps == pytest.approx(w.walking_speed_mps, abs=0.02)
            assert c.cadence_spm == pytest.approx(w.cadence_spm, abs=2.0)
        else:
            assert c.walking_speed_mps == pytest.approx(w.walking_speed_mps, abs=1e-9)
            assert c.stride_length_m == pytest.approx(w.stride_length_m, abs=1e-9)
    assert differ <= 0.1 * len(whole)
    assert sum(b.n_steps for b in an.bouts_) == pytest.approx(sum(b.n_steps for b in whole), abs=3)


def test_a_bout_longer_than_the_window_makes_the_window_grow():
    """A 5-minute walk analysed in 1-minute chunks: found once and whole."""
    dl = DailyLife(FS, seed=4)
    walk = next(p for p in dl.outings if p.truth["walk"]["duration_s"] > 250)
    acc, gyr = walk.acc_mps2, walk.gyr_radps
    an = DailyLifeAnalyzer(chunk_s=60.0, margin_s=20.0, guard_s=10.0).analyze(
        lambda a, b: (acc[a:b], gyr[a:b]), len(acc), FS
    )
    whole = GaitAnalyzer().analyze(acc, gyr, FS).result_.walking_bouts
    assert len(whole) == 1 and len(an.bouts_) == 1
    assert an.bouts_[0].n_steps == pytest.approx(whole[0].n_steps, abs=1)
    assert max(b - a for a, b in an.windows_) > 300 * FS
    capped = DailyLifeAnalyzer(chunk_s=60.0, margin_s=20.0, max_window_s=120.0).analyze(
        lambda a, b: (acc[a:b], gyr[a:b]), len(acc), FS
    )
    assert capped.cut_bouts_ == 1  # said, not hidden


def test_daily_outcomes_against_the_truth(three_hours, chunked_and_whole):
    acc, gyr, truth = three_hours
    an, _ = chunked_and_whole
    week = an.result_.week
    walks = truth["walks"]
    assert week["n_bouts"] == len(walks)
    assert week["walking_min"] == pytest.approx(sum(w["duration_s"] for w in walks) / 60, rel=0.03)
    assert week["steps"] == pytest.approx(sum(w["n_steps"] for w in walks), rel=0.02)
    for name, lo, hi in (("10-30s", 10, 30), ("30-60s", 30, 60), ("over60s", 60, math.inf)):
        assert week[f"bouts_{name}"] == sum(1 for w in walks if lo < w["duration_s"] <= hi)
    # medians per class: the gait analysis' own error on this model (docs/gait.md: speed
    # 0.045 m/s on the synthetic slow walks; here -0.04 to -0.07 m/s per walk)
    for name, lo, hi in (("10-30s", 10, 30), ("30-60s", 30, 60), ("over60s", 60, math.inf)):
        sel = [w for w in walks if lo < w["duration_s"] <= hi]
        c = week["classes"][name]
        assert c["speed_median_mps"] == pytest.approx(
            np.median([w["speed_mps"] for w in sel]), abs=0.1
        )
        assert c["cadence_median_spm"] == pytest.approx(
            np.median([w["cadence_spm"] for w in sel]), abs=2.0
        )
    # worn 2 h 50 min of the 3 h, judged in 15-min epochs
    assert week["wear_h"] == pytest.approx(truth["wear_s"] / 3600, abs=0.25)
    assert an.result_.days[0]["date"] == "day 1" and an.result_.days[0]["valid"] is False


def test_block_statistics_are_those_of_the_whole_block_whatever_the_pieces():
    rng = np.random.default_rng(0)
    x = rng.normal(9.8, 0.3, (10_000, 3))
    x[rng.random(10_000) < 0.05] = np.nan
    st = BlockStats(10_000, 900)
    cuts = np.sort(rng.choice(np.arange(1, 10_000), 25, replace=False))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, 10_000]):
        st.add(int(a), x[a:b])
    for k in range(st.n_blocks):
        blk = x[k * 900 : (k + 1) * 900]
        assert np.array_equal(st.n[k], np.isfinite(blk).sum(0))
        assert np.allclose(st.mean[k], np.nanmean(blk, 0), rtol=1e-12)
        assert np.allclose(st.m2[k] / (st.n[k] - 1), np.nanvar(blk, 0, ddof=1), rtol=1e-9)
        assert np.array_equal(st.lo[k], np.nanmin(blk, 0))
        assert np.array_equal(st.hi[k], np.nanmax(blk, 0))


def _epochs(axes_moving: list[int], minutes: int = 120) -> np.ndarray:
    """Acceleration at 10 Hz: still (1 mg noise) except ``axes_moving`` (60 mg steps)."""
    rng = np.random.default_rng(1)
    n = minutes * 600
    x = np.array([0.0, 0.0, G]) + 0.001 * G * rng.standard_normal((n, 3))
    for a in axes_moving:
        x[::300, a] += 0.06 * G  # a 60 mg blip every 30 s
    return x


@pytest.mark.parametrize(
    ("moving", "non_wear"), [([], True), ([0], True), ([0, 1], False), ([0, 1, 2], False)]
)
def test_the_non_wear_rule_needs_two_still_axes(moving, non_wear):
    """van Hees 2013 / GGIR: an axis is still with SD < 13 mg and range < 50 mg; non-wear
    takes two still axes."""
    x = _epochs(moving)
    nw = NonWearDetector()
    st = BlockStats(len(x), nw.block_rows(10.0))
    st.add(0, x)
    nw.detect(st, 10.0)
    assert nw.non_wear_.size == 8 and bool(nw.non_wear_.all()) is non_wear


def test_wear_time_errs_by_an_epoch_at_most():
    """60 min on the table, 75 min worn (movement), 60 min on the table: the still windows
    mark the epochs they cover, so the worn stretch is found to the epoch."""
    rng = np.random.default_rng(2)
    still = np.array([0.0, 0.0, G]) + 0.001 * G * rng.standard_normal((36_000, 3))
    worn = np.array([0.0, 0.0, G]) + 0.3 * G * rng.standard_normal((45_000, 3))
    x = np.concatenate([still, worn, still])
    nw = NonWearDetector()
    st = BlockStats(len(x), nw.block_rows(10.0))
    st.add(0, x)
    flags = nw.detect(st, 10.0).non_wear_
    assert flags.tolist() == [True] * 4 + [False] * 5 + [True] * 4


def test_mobility_outcomes_classes_and_percentiles():
    durs = [5.0, 10.0, 12.0, 30.0, 30.5, 45.0, 60.0, 61.0, 200.0]
    speeds = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.1, 1.2, float("nan")]
    bouts = [
        DailyBout(100.0 * i, 100.0 * i + d, int(d * 1.7), 100.0 + i, v, 1.0 + 0.01 * i)
        for i, (d, v) in enumerate(zip(durs, speeds))
    ]
    out = mobility_outcomes(bouts, wear_s=7200.0)
    assert out["wear_h"] == 2.0 and out["n_bouts"] == 9
    assert out["walking_min"] == pytest.approx(sum(durs) / 60, abs=1e-3)
    assert out["steps"] == sum(int(d * 1.7) for d in durs)
    # Mobilise-D's duration filters: > 10 & <= 30, > 30 (& <= 60 here), > 60
    assert (out["bouts_under10s"], out["bouts_10-30s"], out["bouts_30-60s"]) == (2, 2, 3)
    assert out["bouts_over60s"] == 2
    c = out["classes"]["30-60s"]
    assert c["n"] == 3 and c["speed_median_mps"] == pytest.approx(1.0)
    assert c["speed_p90_mps"] == pytest.approx(np.percentile([0.9, 1.0, 1.1], 90), abs=1e-4)
    assert c["cadence_median_spm"] == pytest.approx(105.0)
    over = out["classes"]["over60s"]
    assert over["speed_median_mps"] == pytest.approx(1.2)  # the NaN speed is left out
    empty = mobility_outcomes([])
    assert empty["steps"] == 0 and empty["classes"]["all"]["speed_median_mps"] is None


def test_the_algorithms_follow_the_contract():
    x = _epochs([0, 1], minutes=60)
    check_algorithm(NonWearDetector, "detect", (_stats(x), 10.0), {})
    acc = np.tile([0.0, 0.0, G], (3000, 1)) + np.random.default_rng(3).normal(0, 0.02, (3000, 3))
    check_algorithm(
        DailyLifeAnalyzer,
        "analyze",
        (lambda a, b: (acc[a:b], None), 3000, FS),
        init_kwargs={"chunk_s": 10.0},
    )


def _stats(x: np.ndarray) -> BlockStats:
    st = BlockStats(len(x), NonWearDetector().block_rows(10.0))
    st.add(0, x)
    return st


def test_still_windows_skip_the_gait_analysis_and_change_nothing():
    """Half an hour on the table, then worn with walks: the still windows are not analysed
    for gait, and the bouts are those of the analysis of every window."""
    dl = DailyLife(FS, seed=6)
    md = dl.day(0, day_s=3600.0, wear_start_s=1800.0, wear_end_s=3600.0, outings_per_hour=12)
    acc, gyr = md.acc_mps2, md.gyr_radps

    def run(still_range_g: float) -> DailyLifeAnalyzer:
        return DailyLifeAnalyzer(chunk_s=600.0, still_range_g=still_range_g).analyze(
            lambda a, b: (acc[a:b], gyr[a:b]), len(acc), FS
        )

    fast, every = run(0.05), run(0.0)
    assert fast.still_windows_ >= 2 and every.still_windows_ == 0
    assert fast.bouts_ == every.bouts_ and len(fast.bouts_) >= 3
    assert fast.result_.week == every.result_.week

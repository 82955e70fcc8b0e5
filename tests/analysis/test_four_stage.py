"""STEADI 4-stage balance: stages, losses of balance and time held, from events and automatically."""

import numpy as np
import pytest
from scipy import signal
from scipy.spatial.transform import Rotation

from analysis.clinical import base
from analysis.clinical.four_stage import STAGES, FourStageBalance
from analysis.clinical.registry import TestContext

FS = 100.0


def _ctx(starts, lost_s=()):
    """The guided run's events: a stage_start per start, a lost_balance marker per time."""
    events = [{"kind": "stage_start", "stage": k, "t_s": t} for k, t in zip(STAGES, starts)]
    events += [{"kind": "marker", "marker": "lost_balance", "t_s": t} for t in lost_s]
    return TestContext(events=sorted(events, key=lambda e: e["t_s"]))


G = base.GRAVITY_MPS2


class Builder:
    """Body-frame (V, AP, ML) lower-back signal made of quiet stance and movement pieces."""

    def __init__(self, seed=0):
        self.rng = np.random.default_rng(seed)
        self.acc, self.gyr = [], []

    @property
    def t_s(self):
        return sum(len(a) for a in self.acc) / FS

    def quiet(self, dur_s, rms=0.06):
        n = int(dur_s * FS)
        sos = signal.butter(2, [0.1, 1.0], "bandpass", fs=FS, output="sos")
        h = signal.sosfiltfilt(sos, self.rng.standard_normal((n + 400, 2)), axis=0)[200:-200]
        h *= rms / np.sqrt(np.mean(np.sum(h * h, 1)))
        a = np.column_stack([np.full(n, G), h])
        self.acc.append(a)
        self.gyr.append(0.02 * self.rng.standard_normal((n, 3)))
        return self

    def move(self, dur_s=1.5, impact=3.5, twist=0.8):
        n = int(dur_s * FS)
        t = np.arange(n) / FS
        env = np.sin(np.pi * t / dur_s)
        v = G + impact * env * np.sin(2 * np.pi * 2.0 * t)
        a = np.column_stack(
            [v, 1.2 * env * np.sin(2 * np.pi * 1.0 * t), 0.8 * env * np.sin(2 * np.pi * 2 * t)]
        )
        g = np.column_stack([twist * env, 0.3 * env, 0.2 * env * np.cos(2 * np.pi * t)])
        self.acc.append(a)
        self.gyr.append(g)
        return self

    def build(self, tilt=(20.0, -35.0, 100.0)):
        rot = Rotation.from_euler("xyz", tilt, degrees=True).as_matrix()
        acc = np.vstack(self.acc) @ rot.T + 0.01 * self.rng.standard_normal(
            (sum(len(a) for a in self.acc), 3)
        )
        return acc, np.vstack(self.gyr) @ rot.T


def test_automatic_full_test_all_stages_completed():
    b = Builder().quiet(10.4)
    for _ in range(3):
        b.move().quiet(10.5, rms=0.09)
    acc, gyr = b.build()
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS).result_
    assert r.valid, r.validity
    assert r.segmentation == "automatic"
    assert r.stage_reached == "one_leg" and r.stages_completed == 4
    assert r.tandem_time_s == pytest.approx(10.0)
    assert r.increased_risk is False


def test_automatic_fail_in_tandem_after_six_seconds():
    b = Builder(1).quiet(10.6).move().quiet(10.5).move().quiet(6.0)
    b.move(impact=4.0).quiet(5.0)  # the step out, then normal standing (not a stage)
    acc, gyr = b.build()
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS).result_
    assert r.stage_reached == "tandem" and r.stages_completed == 2
    assert r.tandem_time_s == pytest.approx(6.0, abs=1.0)
    assert r.increased_risk is True
    last = r.stages[-1]
    assert last.failure == "loss_of_balance" and last.failure_kind == "step"
    assert len(r.stages) == 3  # stops at the first failure


def test_events_give_exact_times_and_detect_the_loss_of_balance():
    b = Builder(2).quiet(2.0)  # settling before "go"
    starts = []
    starts.append(b.t_s)
    b.quiet(10.0).move()
    starts.append(b.t_s + 1.0)
    b.quiet(11.0).move()
    starts.append(b.t_s + 0.5)
    b.quiet(0.5 + 7.3).move(impact=1.0, twist=1.2).quiet(4.0)  # a grab (no impact) at 7.3 s
    acc, gyr = b.build()
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS, context=_ctx(starts)).result_
    assert r.segmentation == "events"
    assert [s.stage for s in r.stages] == ["feet_together", "semi_tandem", "tandem"]
    assert r.feet_together_time_s == pytest.approx(10.0) and r.semi_tandem_time_s == pytest.approx(
        10.0
    )
    assert r.tandem_time_s == pytest.approx(7.3, abs=0.5)
    assert r.stages[-1].failure_kind == "grab" and r.increased_risk is True


def test_therapist_marker_counts_when_signal_is_quiet():
    b = Builder(3).quiet(40.0)
    acc, gyr = b.build()
    r = (
        FourStageBalance()
        .analyze(acc, gyr, sampling_rate_hz=FS, context=_ctx([1.0, 12.0, 23.0], [27.5]))
        .result_
    )
    assert r.tandem_time_s == pytest.approx(4.5)
    assert r.stages[-1].detected_by == "marker"


def test_failing_feet_together_means_tandem_not_reached():
    b = Builder(4).quiet(4.0).move(2.0)
    acc, gyr = b.build()
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS).result_
    assert r.stage_reached == "feet_together" and r.feet_together_time_s == pytest.approx(
        4.0, abs=0.5
    )
    assert r.tandem_time_s == 0.0 and r.increased_risk is True


def test_walking_is_not_a_balance_test():
    t = np.arange(0, 20, 1 / FS)
    acc = np.column_stack(
        [
            G + 2.5 * np.sin(2 * np.pi * 1.8 * t),
            1.2 * np.sin(2 * np.pi * 1.8 * t + 1),
            0.7 * np.sin(2 * np.pi * 0.9 * t),
        ]
    )
    gyr = np.column_stack(
        [0.5 * np.sin(2 * np.pi * 0.9 * t), 0.3 * np.sin(2 * np.pi * 1.8 * t), 0 * t]
    )
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS).result_
    assert not r.valid and r.validity.code == base.WRONG_ACTIVITY
    assert r.tandem_time_s is None and r.to_dict()["stages"] == []


@pytest.mark.parametrize(
    ("fail_stage", "fail_time_s", "seed", "mount"),
    [
        (3, 6.0, 0, None),
        (None, 6.0, 1, "sideways"),
        (2, 3.5, 2, "upside_down"),
        (4, 4.2, 3, None),
        (1, 5.0, 4, None),
    ],
)
def test_scenario_stage_reached_and_time_held_within_1s(fail_stage, fail_time_s, seed, mount):
    from sensors import scenarios

    kw = {"mount": mount} if mount else {}
    md = scenarios.four_stage(fail_stage=fail_stage, fail_time_s=fail_time_s, seed=seed, **kw)
    truth = md.truth
    starts = [s["start_s"] for s in truth["stages"]]
    for ctx in (None, _ctx(starts)):
        r = (
            FourStageBalance()
            .analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=md.sampling_rate_hz, context=ctx)
            .result_
        )
        assert r.valid, r.validity
        assert r.stage_reached_number == truth["stage_reached"]
        assert [s.held_s for s in r.stages] == pytest.approx(truth["held_s"], abs=1.0)
        assert r.increased_risk is (truth["tandem_held_s"] < 10.0)


@pytest.mark.parametrize("name", ["chair_stand_30s", "five_times_sts", "tug"])
def test_chair_rises_and_tug_are_not_a_balance_test(name):
    from sensors import scenarios

    md = getattr(scenarios, name)(seed=3)
    r = (
        FourStageBalance()
        .analyze(md.acc_mps2, md.gyr_radps, sampling_rate_hz=md.sampling_rate_hz)
        .result_
    )
    assert r.validity.code == base.WRONG_ACTIVITY and r.stage_reached is None


def test_standing_then_walking_is_not_a_balance_test():
    # long quiet standing (a plausible first stage) followed by half a minute of walking:
    # more quiet than movement, so only the walking says this is not a 4-stage test
    from sensors import scenarios

    quiet = scenarios.quiet_stance(40, seed=3)
    walk = scenarios.walk_2min(seed=3)
    n = 30 * 100
    acc = np.vstack([quiet.acc_mps2, walk.acc_mps2[:n]])
    gyr = np.vstack([quiet.gyr_radps, walk.gyr_radps[:n]])
    r = FourStageBalance().analyze(acc, gyr, sampling_rate_hz=FS).result_
    assert r.validity.code == base.WRONG_ACTIVITY and r.tandem_time_s is None
    assert "walked" in r.validity.reason

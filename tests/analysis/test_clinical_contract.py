"""The clinical, sway, fall-risk and endurance algorithms follow the pattern of
analysis._contract (parameters in __init__, action returns self, results end in '_',
JSON-ready, deterministic), like the gait algorithms (test_gait_contract.py)."""

from __future__ import annotations

import pytest

from analysis._contract import check_algorithm
from analysis.clinical.chair import ChairStand30s, FiveTimesSitToStand
from analysis.clinical.four_stage import FourStageBalance
from analysis.clinical.registry import TestContext
from analysis.clinical.stance import QuietStance
from analysis.clinical.tug import TimedUpAndGo
from analysis.clinical.walk import TimedWalk
from analysis.endurance import EnduranceAnalyzer
from analysis.fallrisk import FallRiskAssessor, default_norms
from analysis.sway import SlidingSway, SwayAnalyzer
from sensors import scenarios

NORMS = default_norms()


def _imu(md):
    return md.acc_mps2, md.gyr_radps, md.sampling_rate_hz


def _test(md, **demographics):
    """(args, kwargs) of the registry's one verb: analyze(acc, gyr, *, sampling_rate_hz, context)."""
    ctx = TestContext(demographics)
    return (md.acc_mps2, md.gyr_radps), {"sampling_rate_hz": md.sampling_rate_hz, "context": ctx}


QUIET = _imu(scenarios.quiet_stance(25, seed=1))
TUG = _test(scenarios.tug(seed=1), age=72)
CHAIR = _test(scenarios.chair_stand_30s(seed=1), age=70)
STS = _test(scenarios.five_times_sts(seed=1))
FOUR = _test(scenarios.four_stage(seed=1))
WALK_MD = scenarios.walk_2min(seed=1)
WALK = _imu(WALK_MD)

CASES = [
    (SwayAnalyzer, "calculate", QUIET, {}, {}),
    (QuietStance, "calculate", QUIET, {}, {}),
    (FourStageBalance, "analyze", FOUR[0], {}, FOUR[1]),
    (TimedUpAndGo, "analyze", TUG[0], {"norms": NORMS["tug"]}, TUG[1]),
    (ChairStand30s, "analyze", CHAIR[0], {"norms": NORMS["chair_stand_30s"]}, CHAIR[1]),
    (FiveTimesSitToStand, "analyze", STS[0], {"norms": NORMS["five_times_sts"]}, STS[1]),
    (TimedWalk, "analyze", _test(WALK_MD)[0], {"minutes": 2.0}, _test(WALK_MD)[1]),
    (EnduranceAnalyzer, "calculate", WALK, {}, {}),
    (
        FallRiskAssessor,
        "assess",
        ({"tug_time_s": 13.0, "gait_speed_mps": 0.9},),
        {"norms": NORMS},
        {"demographics": {"age": 70}},
    ),
]


@pytest.mark.parametrize(
    "cls, action, args, init, kwargs", CASES, ids=[c[0].__name__ for c in CASES]
)
def test_contract(cls, action, args, init, kwargs):
    check_algorithm(cls, action, args, kwargs=kwargs, init_kwargs=init)


def test_sliding_sway_contract():
    acc, gyr, fs = QUIET
    obj = check_algorithm(
        SlidingSway,
        "update",
        (acc, gyr),
        init_kwargs={"sampling_rate_hz": fs},
        stateful=True,
    )
    assert obj.metrics_["window_end_s"] > 0

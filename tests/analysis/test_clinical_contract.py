"""The clinical, sway, fall-risk and endurance algorithms follow the pattern of
analysis._contract (parameters in __init__, action returns self, results end in '_',
JSON-ready, deterministic), like the gait algorithms (test_gait_contract.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from analysis._contract import check_algorithm
from analysis.clinical.chair import ChairStand30s, FiveTimesSitToStand
from analysis.clinical.four_stage import FourStageBalance
from analysis.clinical.stance import QuietStance
from analysis.clinical.tug import TimedUpAndGo
from analysis.clinical.walk import TimedWalk
from analysis.endurance import EnduranceAnalyzer
from analysis.fallrisk import FallRiskAssessor
from analysis.sway import SlidingSway, SwayAnalyzer
from sensors import scenarios

NORMS = json.loads((Path(__file__).resolve().parents[2] / "analysis/data/norms.json").read_text())


def _imu(md):
    return md.acc_mps2, md.gyr_radps, md.sampling_rate_hz


QUIET = _imu(scenarios.quiet_stance(25, seed=1))
TUG = _imu(scenarios.tug(seed=1))
CHAIR = _imu(scenarios.chair_stand_30s(seed=1))
STS = _imu(scenarios.five_times_sts(seed=1))
FOUR = _imu(scenarios.four_stage(seed=1))
WALK = _imu(scenarios.walk_2min(seed=1))

CASES = [
    (SwayAnalyzer, "calculate", QUIET, {}, {}),
    (QuietStance, "calculate", QUIET, {}, {}),
    (FourStageBalance, "detect", FOUR, {}, {}),
    (TimedUpAndGo, "analyze", TUG, {"norms": NORMS["tug"]}, {"age_y": 72}),
    (ChairStand30s, "analyze", CHAIR, {"norms": NORMS["chair_stand_30s"]}, {"age_y": 70}),
    (FiveTimesSitToStand, "analyze", STS, {"norms": NORMS["five_times_sts"]}, {}),
    (TimedWalk, "analyze", WALK, {"minutes": 2.0}, {}),
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

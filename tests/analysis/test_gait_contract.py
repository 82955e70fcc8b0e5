"""Every gait/orientation algorithm follows the pattern checked by analysis._contract."""

from __future__ import annotations

import numpy as np
import pytest

from analysis._contract import check_algorithm
from analysis.gait import (
    GaitAnalyzer,
    GaitSequenceDetector,
    InitialContactDetector,
    LateralityClassifier,
    StepLengthZijlstra,
    StreamingGait,
    TurnDetector,
    WalkingBoutAssembler,
)
from analysis.orientation import BodyFrameAligner

FS = 100.0
rng = np.random.default_rng(0)
T = np.arange(0, 20, 1 / FS)
ACC = np.stack(
    [
        9.81 + 2 * np.sin(2 * np.pi * 1.8 * T),
        1.5 * np.cos(2 * np.pi * 1.8 * T),
        np.sin(np.pi * 1.8 * T),
    ],
    1,
) + rng.normal(0, 0.05, (T.size, 3))
GYR = np.stack([0.3 * np.sin(np.pi * 1.8 * T), 0.1 * np.cos(np.pi * 1.8 * T), 0 * T], 1)
IC = np.arange(50, 1900, 56)

CASES = [
    (BodyFrameAligner, "align", (ACC, GYR, FS), {}),
    (GaitSequenceDetector, "detect", (ACC, FS), {}),
    (InitialContactDetector, "detect", (ACC[:, 0], FS), {}),
    (LateralityClassifier, "predict", (GYR, IC, FS), {}),
    (StepLengthZijlstra, "calculate", (0.01 * np.sin(np.pi * 1.8 * T), IC, 0.95), {}),
    (WalkingBoutAssembler, "assemble", (IC / FS,), {}),
    (TurnDetector, "detect", (np.radians(60) * np.exp(-((T - 10) ** 2)), FS), {}),
    (GaitAnalyzer, "analyze", (ACC, GYR, FS), {"sensor_height_m": 0.95}),
]


@pytest.mark.parametrize("cls, action, args, init", CASES, ids=[c[0].__name__ for c in CASES])
def test_contract(cls, action, args, init):
    check_algorithm(cls, action, args, init_kwargs=init)


def test_streaming_contract():
    obj = check_algorithm(
        StreamingGait, "update", (ACC, GYR), init_kwargs={"sampling_rate_hz": FS}, stateful=True
    )
    assert obj.n_samples_ == T.size


def test_checker_catches_broken_algorithms():
    class Mutates:
        def __init__(self, x: float = 1.0) -> None:
            self.x = x * 2

        def run(self):
            self.r_ = 1
            return self

    class NoSelf:
        def __init__(self) -> None:
            pass

        def run(self):
            self.r_ = 1
            return 1

    with pytest.raises(AssertionError, match="changed parameter"):
        check_algorithm(Mutates, "run")
    with pytest.raises(AssertionError, match="return self"):
        check_algorithm(NoSelf, "run")

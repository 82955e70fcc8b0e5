"""Gait from one lower-back IMU: bouts, initial contacts, strides, parameters, turns; streaming.

Public entry points: :class:`GaitAnalyzer` (offline) and :class:`StreamingGait` (live).
See ``docs/gait.md`` for conventions, algorithms, references and validation figures.
"""

from analysis.gait.bouts import GaitSequenceDetector, WalkingBoutAssembler
from analysis.gait.initial_contacts import InitialContactDetector, LateralityClassifier
from analysis.gait.parameters import StepLengthZijlstra
from analysis.gait.pipeline import (
    GaitAnalyzer,
    GaitResult,
    Stride,
    WalkingBout,
    resolve_sensor_height,
)
from analysis.gait.streaming import StreamingGait, StreamStep
from analysis.gait.turns import Turn, TurnDetector

__all__ = [
    "GaitAnalyzer",
    "GaitResult",
    "GaitSequenceDetector",
    "InitialContactDetector",
    "LateralityClassifier",
    "StepLengthZijlstra",
    "StreamStep",
    "StreamingGait",
    "Stride",
    "Turn",
    "TurnDetector",
    "WalkingBout",
    "WalkingBoutAssembler",
    "resolve_sensor_height",
]

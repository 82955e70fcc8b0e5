"""The clinical-test registry: every entry is complete, and every consumer reads it."""

from __future__ import annotations

import inspect

import pytest

from analysis.clinical import registry
from analysis.clinical.registry import (
    BalanceTest,
    BaseClinicalTest,
    TestContext,
    TransferTest,
    WalkTest,
)
from analysis.fallrisk import FallRiskAssessor, default_norms

TESTS = registry.tests()


def test_keys_are_unique_and_in_list_order():
    keys = [t.key for t in TESTS]
    assert len(set(keys)) == len(keys)
    assert [t.rank for t in TESTS] == sorted(t.rank for t in TESTS)


@pytest.mark.parametrize("entry", TESTS, ids=[t.key for t in TESTS])
def test_entry_is_complete(entry):
    assert entry.title and entry.protocol.key == entry.key
    assert entry.protocol.title == entry.title
    assert entry.protocol.stages and entry.protocol.patient_instructions
    assert entry.protocol.source, "the procedure names its source"
    assert entry.measures, "a test reports at least one measure"
    algo = entry.analyzer(default_norms())
    assert isinstance(algo, BalanceTest | TransferTest | WalkTest)
    # one verb, one signature (gaitmap/mobgap habit)
    params = inspect.signature(type(algo).analyze).parameters
    assert list(params)[:3] == ["self", "acc_mps2", "gyr_radps"]
    assert params["sampling_rate_hz"].kind is inspect.Parameter.KEYWORD_ONLY
    assert params["context"].kind is inspect.Parameter.KEYWORD_ONLY
    for name, table in entry.norms.items():
        text = str(table)
        assert "source" in text, f"norms section {name} names no source"


def test_every_factor_is_rated_with_the_default_norms():
    norms = default_norms()
    demo = {"age": 72, "sex": "f", "height_m": 1.65, "weight_kg": 68}
    for m in registry.factor_measures():
        f = m.rate(1.0, demo, norms)
        assert f.key == m.key and f.status in ("normal", "elevated", "at_risk", "not_rated")
        assert f.source, f"{m.key}: a factor names its source"


def test_assessor_refuses_norms_without_a_section():
    norms = default_norms()
    norms.pop("tug")
    with pytest.raises(ValueError, match="tug"):
        FallRiskAssessor(norms)


def test_the_consumers_read_the_registry():
    from poise import assessments, fhir, progress, protocols, reports
    from poise.cli import build_parser

    keys = registry.test_keys()
    assert assessments.TESTS == keys
    assert tuple(protocols.PROTOCOLS) == keys
    assert set(reports.HEADLINES) <= set(keys)
    assert [m.key for m in progress.METRICS] == [m.key for m in registry.progress_measures()]
    assert set(fhir.LOINC) == {m.key for m in registry.measures() if m.loinc}
    parser = build_parser()
    analyze = parser._subparsers._group_actions[0].choices["analyze"]
    (test_opt,) = [a for a in analyze._actions if "--test" in a.option_strings]
    assert tuple(test_opt.choices) == keys


def test_context_reads_stages_and_markers():
    ctx = TestContext(
        {"age": "71", "sex": "Female"},
        [
            {"kind": "stage_start", "stage": "a", "t_s": 1.0},
            {"kind": "marker", "marker": "lost_balance", "t_s": 2.0},
            {"kind": "stage_end", "stage": "a", "t_s": 3.0},
            {"kind": "stage_start", "stage": "b", "t_s": 4.0},
        ],
    )
    assert ctx.age_y == 71.0 and ctx.sex == "f" and ctx.height_m is None
    assert ctx.stages() == (["a", "b"], [1.0, 4.0], [3.0, None])
    assert ctx.markers_s(["lost_balance"]) == [2.0]


def test_unknown_test_names_the_known_ones():
    with pytest.raises(KeyError, match="tug"):
        registry.get_test("nope")
    assert issubclass(WalkTest, BaseClinicalTest)

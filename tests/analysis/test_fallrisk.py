"""Fall-risk summary: factors against thresholds from the registry entries' norms, and the overall rule."""

import json

import pytest

from analysis.fallrisk import (
    DISCLAIMER,
    FallRiskAssessor,
    default_norms,
    measures_from_results,
    predicted_six_minute_walk_m,
)

NORMS = default_norms()


def _assess(measures, demo=None):
    return FallRiskAssessor(NORMS).assess(measures, demo).summary_


def _factor(s, key):
    return next(f for f in s.factors if f.key == key)


def test_every_norm_entry_has_a_source():
    for name, sec in NORMS.items():
        if isinstance(sec, dict):
            assert any("source" in k for k in sec), name


@pytest.mark.parametrize(
    ("tug", "status"), [(11.9, "normal"), (12.0, "at_risk"), (15.0, "at_risk")]
)
def test_tug_threshold(tug, status):
    s = _assess({"tug_time_s": tug}, {"age": 72})
    f = _factor(s, "tug_time_s")
    assert f.status == status
    assert f.thresholds[0]["value"] == 12.0 and "STEADI" in f.source
    assert "9.2 s" in f.note  # Bohannon norm for 70-79 y


@pytest.mark.parametrize(
    ("age", "sex", "count", "status"),
    [
        (62, "m", 13, "at_risk"),
        (62, "m", 14, "normal"),
        (92, "f", 4, "normal"),
        (92, "f", 3, "at_risk"),
        (77, "female", 9, "at_risk"),
        (50, "m", 5, "not_rated"),
    ],
)
def test_chair_stand_norms_by_age_and_sex(age, sex, count, status):
    s = _assess({"chair_stand_30s_count": count}, {"age": age, "sex": sex})
    assert _factor(s, "chair_stand_30s_count").status == status


def test_chair_stand_without_demographics_is_not_rated():
    f = _factor(_assess({"chair_stand_30s_count": 3}), "chair_stand_30s_count")
    assert f.status == "not_rated" and "age and sex" in f.note


def test_two_tier_factors():
    s = _assess({"gait_speed_mps": 0.9, "five_times_sts_time_s": 16.0, "stride_time_sd_ms": 80})
    assert _factor(s, "gait_speed_mps").status == "elevated"
    assert _factor(s, "five_times_sts_time_s").status == "at_risk"
    assert _factor(s, "stride_time_sd_ms").status == "elevated"
    assert _assess({"gait_speed_mps": 0.79}).factors[0].status == "at_risk"
    assert _assess({"five_times_sts_time_s": 12.5}).factors[0].status == "elevated"


def test_overall_rule():
    assert _assess({"tug_time_s": 9.0, "gait_speed_mps": 1.2}).level == "low"
    assert _assess({"tug_time_s": 9.0, "gait_speed_mps": 0.9}).level == "moderate"
    assert _assess({"tug_time_s": 13.0}).level == "moderate"
    assert _assess({"tug_time_s": 13.0}, {"falls_past_year": 1}).level == "high"
    assert _assess({"tug_time_s": 13.0, "tandem_time_s": 4.0}).level == "high"
    s = _assess({})
    assert s.level == "not_determined" and not s.valid
    assert "tug_time_s" in s.not_measured


def test_invalid_results_are_shown_but_not_counted():
    res = {
        "tug": {
            "total_time_s": None,
            "validity": {
                "valid": False,
                "code": "wrong_activity",
                "reason": "no sit-to-stand found",
            },
        },
        "walk-6min": {
            "distance_m": 380.0,
            "mean_speed_mps": 1.05,
            "stride_time_sd_s": 0.03,
            "validity": {"valid": True, "code": "ok", "reason": ""},
        },
    }
    m = measures_from_results(res)
    s = _assess(m, {"age": 70, "sex": "f", "height_m": 1.60, "weight_kg": 65})
    tug = _factor(s, "tug_time_s")
    assert tug.status == "invalid" and "sit-to-stand" in tug.note and tug.value is None
    assert _factor(s, "stride_time_sd_ms").value == pytest.approx(30.0)
    six = _factor(s, "six_minute_walk_distance_m")
    pred = 2.11 * 160 - 2.29 * 65 - 5.78 * 70 + 667
    assert predicted_six_minute_walk_m(NORMS["six_minute_walk"], "f", 70, 160, 65) == pytest.approx(
        pred
    )
    assert six.status == ("elevated" if 380 < pred - 139 else "normal")
    assert s.level == "low"


def test_summary_json_shows_every_factor_with_threshold_source_and_disclaimer():
    s = _assess(
        {"tug_time_s": 12.5, "gait_speed_mps": 1.1, "sway_rms_mps2": 0.1}, {"age": 81, "sex": "m"}
    )
    d = s.to_dict()
    json.dumps(d)
    assert d["disclaimer"] == DISCLAIMER and "clinician" in d["disclaimer"]
    assert d["level"] == "moderate"
    for f in d["factors"]:
        assert {"value", "unit", "status", "thresholds", "source"} <= set(f)
        assert f["source"]
    sway = next(f for f in d["factors"] if f["key"] == "sway_rms_mps2")
    assert sway["status"] == "not_rated"


def test_missing_norm_section_is_a_clear_error():
    with pytest.raises(ValueError, match="tug"):
        FallRiskAssessor({k: v for k, v in NORMS.items() if k != "tug"})


def test_demographics_are_checked():
    assert _factor(_assess({"tug_time_s": 9.0}, {"age": "72"}), "tug_time_s").note.startswith(
        "age norm 9.2"
    )
    with pytest.raises(ValueError, match="age"):
        _assess({"tug_time_s": 9.0}, {"age": "old"})


def test_stance_result_gives_the_eyes_open_firm_sway_factors():
    # QuietStance's conditions are keyed eo_firm, ec_firm, ... (analysis.clinical.stance)
    stance = {
        "test": "stance",
        "validity": {"valid": True, "code": "ok", "reason": ""},
        "conditions": {
            "eo_firm": {"rms_mps2": 0.05, "ellipse_area_m2ps4": 0.004},
            "ec_firm": {"rms_mps2": 0.09, "ellipse_area_m2ps4": 0.01},
        },
    }
    m = measures_from_results({"stance": stance})
    assert m["sway_rms_mps2"]["value"] == 0.05
    assert m["sway_ellipse_area_m2ps4"]["value"] == 0.004

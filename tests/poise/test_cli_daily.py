"""``poise analyze --daily``: a home recording read in pieces, per day and over the week."""

from __future__ import annotations

import json

import pytest

from poise import daily
from poise.cli import main
from sensors.daily_life import DailyLife, write_recording

KW = {"day_s": 4200.0, "wear_start_s": 300.0, "wear_end_s": 3900.0, "outings_per_hour": 8}


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    dl = DailyLife(100.0, seed=11)
    # starts 30 min before local midnight: the hour after it is the next calendar day
    import datetime as dt

    midnight = dt.datetime(2026, 11, 30).astimezone().timestamp()
    path = tmp_path_factory.mktemp("daily") / "home.poise"
    write_recording(path, dl.blocks(0, **KW), start_epoch_s=midnight - 1800.0)
    return path, dl.plan(0, **KW)[1]


def test_daily_json_splits_calendar_days_and_adds_up(home, capsys):
    path, truth = home
    assert main(["analyze", "--daily", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [d["date"] for d in out["days"]] == ["2026-11-29", "2026-11-30"]
    week = out["week"]
    assert week["n_bouts"] == len(truth["walks"]) == sum(d["n_bouts"] for d in out["days"])
    assert week["steps"] == sum(d["steps"] for d in out["days"])
    assert week["recorded_h"] == pytest.approx(4200 / 3600, abs=0.01)
    assert week["wear_h"] == pytest.approx(sum(d["wear_h"] for d in out["days"]), abs=0.01)
    assert sorted(out["week"]["classes"]) == ["10-30s", "30-60s", "all", "over60s"]
    assert len(out["bouts"]) == week["n_bouts"] and out["sources"] == list(daily.DAILY_SOURCES)
    assert out["validity"]["valid"] and week["valid_days"] == 0  # hours, not days


def test_daily_text_has_a_row_per_day_and_the_sources(home, capsys):
    path, _ = home
    assert main(["analyze", "--daily", str(path)]) == 0
    text = capsys.readouterr().out
    assert "2026-11-29 *" in text and "2026-11-30 *" in text and "all days" in text
    assert "Mobilise-D" in text and "van Hees" in text


def test_daily_refuses_test_options(home, capsys):
    path, _ = home
    assert main(["analyze", "--daily", str(path), "--fall-risk"]) != 0
    assert "--daily" in capsys.readouterr().err

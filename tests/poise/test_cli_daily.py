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


def test_days_follow_the_zone_the_recording_was_made_in(tmp_path, in_new_york, capsys):
    """A week recorded in Auckland and analysed in New York splits at Auckland midnight."""
    import datetime as dt
    from zoneinfo import ZoneInfo

    auckland = ZoneInfo("Pacific/Auckland")
    midnight = dt.datetime(2026, 11, 30, tzinfo=auckland).timestamp()
    path = tmp_path / "home.poise"
    dl = DailyLife(100.0, seed=11)
    write_recording(
        path, dl.blocks(0, **KW), start_epoch_s=midnight - 1800.0, timezone="Pacific/Auckland"
    )
    assert main(["analyze", "--daily", str(path), "--format", "json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["time_zone"] == "Pacific/Auckland"
    days = out["days"]
    assert [d["date"] for d in days] == ["2026-11-29", "2026-11-30"]
    # the first day is the 30 minutes before Auckland midnight (New York's is hours away)
    assert days[0]["recorded_h"] == pytest.approx(0.5, abs=0.01)


def test_a_zone_name_this_computer_does_not_know_falls_back_to_the_offset():
    zone, label = daily.recording_zone(
        {"start": {"timezone": "Nowhere/Atlantis", "utc_offset_s": 19800.0}}
    )
    assert label == "UTC+05:30" and zone is not None
    assert zone.utcoffset(None).total_seconds() == 19800.0
    zone, label = daily.recording_zone({"start": {"utc": "2026-11-30T00:00:00+00:00"}})
    assert zone is None and "does not say" in label


def test_the_recorder_writes_the_computers_zone(tmp_path, in_new_york):
    from sensors.recording import load_recording

    path = tmp_path / "z.poise"
    short = {"day_s": 120.0, "wear_start_s": 10.0, "wear_end_s": 110.0, "outings_per_hour": 8}
    write_recording(path, DailyLife(100.0, seed=1).blocks(0, **short), start_epoch_s=1.8e9)
    start = load_recording(path).metadata["start"]
    assert start["timezone"] == "America/New_York"
    assert start["utc_offset_s"] in (-5 * 3600.0, -4 * 3600.0)

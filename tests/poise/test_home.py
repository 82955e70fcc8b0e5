"""Home-mode model without Qt: guided steps, timer, counting, recording, import, adherence."""

from __future__ import annotations

import datetime as dt
import stat
import time

import pytest

from poise.errors import PoiseError
from poise.home import DemoHomeSource, HomeSession, adherence_calendar, plan_exercises
from poise.service import import_recording
from poise.sinks import SampleSink
from poise.store import Store
from sensors.recording import load_recording


def run_until(h: HomeSession, cond, timeout_s: float = 20.0) -> None:
    t0 = time.monotonic()
    while not cond():
        if time.monotonic() - t0 > timeout_s:
            raise AssertionError(f"timed out in state {h.state}")
        h.poll()
        time.sleep(0.01)


def test_plan_validation():
    ex = plan_exercises([{"key": "sit_to_stand", "target_reps": 8}, {"key": "walking"}])
    assert ex[0].target_reps == 8 and ex[1].kind == "timed"
    with pytest.raises(PoiseError, match="does not know"):
        plan_exercises([{"key": "juggling"}])


def test_guided_session_recorded_and_imported(tmp_path):
    store = Store(tmp_path / "d")
    store.add_patient("P-1", birth_year=1948, sex="f")
    store.set_plan("P-1", [{"key": "sit_to_stand", "target_reps": 3},
                           {"key": "tandem_stance", "hold_s": 4}])  # fmt: skip
    h = HomeSession(patient="P-1", store=store, data_dir=tmp_path / "d", countdown_s=1.5)
    assert isinstance(h, SampleSink)  # the one sink protocol (poise.sinks)
    cues: list[tuple[str, str]] = []
    h.events.cue.connect(lambda k, t: cues.append((k, t)))
    with pytest.raises(PoiseError, match="not connected"):
        h.start_exercise()
    h.connect(DemoHomeSource(time_scale=8.0, seed=3))
    run_until(h, lambda: h.state == "ready")
    counted: list[tuple[int, float]] = []  # (count, session time when shown)
    h.events.reps.connect(lambda n: counted.append((n, h.now_s())))
    h.start_exercise()
    t_motion = h.now_s()  # the demo sensor's motion (five_times_sts) starts now
    assert h.state == "countdown"
    run_until(h, lambda: h.state == "done")
    r0 = h.results[0]
    assert r0.completed and r0.counted_by == "sensor" and r0.stopped_by == "target"
    assert r0.repetitions == 3  # exactly the target: no overshoot
    # each count is a real rise of the scripted motion, shown within 1.5 s after it ends
    from sensors.scenarios import make_scenario

    truth = [
        t_motion + x["end_s"]
        for x in make_scenario("five_times_sts", seed=3).truth["transitions"]
        if x["type"] == "sit-to-stand"
    ]
    # one at a time
    assert [n for n, _ in counted] == [1, 2, 3], (counted, r0.rep_times_s, truth, t_motion)
    assert len(r0.rep_times_s) == 3
    for i, ((_n, shown), t_end) in enumerate(zip(counted, r0.rep_times_s)):
        assert t_end == pytest.approx(truth[i], abs=0.4), (t_end, truth)
        assert 0 < shown - truth[i] <= 1.5, (shown, truth[i])
    assert [k for k, _ in cues][:2] == ["countdown", "tick"] and ("go", "Start now") in cues
    h.next_exercise()
    h.start_exercise()
    run_until(h, lambda: h.state == "done")
    r1 = h.results[1]
    assert r1.completed and r1.stopped_by == "timer" and r1.duration_s >= 4.0
    assert ("halfway", "Halfway") in cues
    h.next_exercise()
    assert h.state == "done_all"
    path = h.finish()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    rec = load_recording(path)
    assert rec.metadata["patient"] == "P-1" and rec.metadata["session_kind"] == "home"
    kinds = [e["kind"] for e in rec.events]
    assert kinds.count("exercise_result") == 2 and kinds.count("exercise_start") == 2
    assert rec.sensors[0].t_s.size > 100  # the raw packets are in the file
    s = h.imported_session
    assert s is not None and s.kind == "home" and s.results["home-exercises"]["n_completed"] == 2
    cal = adherence_calendar(store, "P-1", days=7)
    assert cal[-1]["status"] == "done" and cal[-1]["done"] == 2
    # the therapist's store imports the same file by the pseudonym in its header
    other = Store(tmp_path / "therapist")
    other.add_patient("P-1")
    s2 = import_recording(other, path)
    assert other.get_patient(s2.patient_id).pseudonym == "P-1"
    assert len(other.adherence("P-1")) == 2


def test_skip_and_stop_are_not_completed(tmp_path):
    h = HomeSession(
        patient=None,
        plan=[{"key": "heel_raises", "target_reps": 3}, {"key": "standing_balance"}],
        data_dir=tmp_path,
        countdown_s=0.5,
        record=False,
    )
    h.connect(DemoHomeSource(time_scale=8.0))
    run_until(h, lambda: h.state == "ready")
    h.start_exercise()
    run_until(h, lambda: h.state == "active")
    h.add_rep()
    h.stop_exercise()
    assert h.results[0].repetitions == 1 and not h.results[0].completed
    assert h.results[0].counted_by == "patient"
    h.next_exercise()
    h.skip()
    assert h.results[1].stopped_by == "skipped" and h.state == "done_all"
    assert h.finish() is None  # not recorded
    assert not list(tmp_path.rglob("*.poise"))


def test_calendar_marks_missed_days(tmp_path):
    store = Store(tmp_path)
    store.add_patient("P-2")
    store.set_plan("P-2", [{"key": "walking"}])
    created = dt.datetime(2026, 3, 2, 12).astimezone().isoformat()  # noon here, on March 2
    store.conn.execute("UPDATE exercise_plans SET created_utc = ?", (created,))
    store.record_adherence("P-2", date="2026-03-03", exercise="walking", completed=True)
    cal = adherence_calendar(store, "P-2", days=5, today=dt.date(2026, 3, 5))
    assert [c["status"] for c in cal] == ["none", "missed", "done", "missed", "none"]


def test_walking_steps_are_counted(tmp_path):
    from sensors.scenarios import make_scenario

    truth = make_scenario("walk", seed=0).truth
    h = HomeSession(
        plan=[{"key": "walking", "hold_s": 15}], data_dir=tmp_path, countdown_s=0.5, record=False
    )
    h.connect(DemoHomeSource(time_scale=10.0))
    run_until(h, lambda: h.state == "ready")
    h.start_exercise()
    run_until(h, lambda: h.state == "done")
    r = h.results[0]
    most = truth["cadence_spm"] / 60.0 * r.duration_s * 1.15
    assert r.completed and r.counted_by == "sensor"
    assert 0.5 * most < r.repetitions <= most, (r.repetitions, most)


def test_an_evening_exercise_counts_for_the_patients_day(tmp_path, in_new_york):
    """Done at 20:00 in New York (01:00 UTC the next day): the calendar ticks that day."""
    from poise.service import display_time
    from sensors.daily_life import DailyLife, write_recording

    store = Store(tmp_path / "d")
    store.add_patient("P-3")
    store.set_plan("P-3", [{"key": "walking"}])
    store.conn.execute("UPDATE exercise_plans SET created_utc = '2027-01-10T15:00:00+00:00'")
    evening = dt.datetime(2027, 1, 14, 20, 0, tzinfo=dt.timezone(dt.timedelta(hours=-5)))
    path = tmp_path / "home.poise"
    kw = {"day_s": 120.0, "wear_start_s": 10.0, "wear_end_s": 110.0, "outings_per_hour": 8}
    md = {"patient": "P-3", "session_kind": "home"}
    done = {"kind": "exercise_result", "t_s": 100.0, "exercise": "walking",
            "result": {"key": "walking", "completed": True, "duration_s": 90.0}}  # fmt: skip
    write_recording(path, DailyLife(100.0, seed=4).blocks(0, **kw), metadata=md,
                    start_epoch_s=evening.timestamp(), timezone="America/New_York",
                    events=[done])  # fmt: skip
    session = import_recording(store, path)
    assert session.date == "2027-01-15T01:00:00"  # stored in UTC
    assert display_time(session.date) == "2027-01-14 20:00"  # shown on the local clock
    rows = store.adherence("P-3")
    assert rows and {r["date"] for r in rows} == {"2027-01-14"}
    cal = adherence_calendar(store, "P-3", days=3, today=dt.date(2027, 1, 14))
    assert cal[-1]["date"] == "2027-01-14" and cal[-1]["status"] == "done"


def test_a_session_date_typed_in_local_time_is_stored_in_utc(tmp_path, in_new_york):
    from poise.service import _given_date, display_time

    assert _given_date("2027-01-14T20:00") == ("2027-01-15T01:00:00", "2027-01-14")
    assert display_time("2027-01-15T01:00:00") == "2027-01-14 20:00"
    assert _given_date("2027-01-14") == ("2027-01-14", "2027-01-14")
    assert display_time("2027-01-14") == "2027-01-14"
    with pytest.raises(PoiseError, match="not an ISO date"):
        _given_date("14/01/2027")

"""Home window: a guided exercise with a demo sensor runs to completion; screenshots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

from PySide6.QtCore import Qt  # noqa: E402

from gui.cues import Cues  # noqa: E402
from gui.home import HomeWindow  # noqa: E402
from poise.home import DemoHomeSource, HomeSession  # noqa: E402
from poise.store import Store  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def test_guided_sit_to_stand_with_demo_sensor(qtbot, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    store = Store(tmp_path / "data")
    store.add_patient("P-7", birth_year=1950, sex="m")
    store.set_plan("P-7", [{"key": "sit_to_stand", "target_reps": 3}, {"key": "heel_raises"}])
    session = HomeSession(patient="P-7", store=store, data_dir=tmp_path / "data", countdown_s=2)
    speaker = Cues(enabled=False)  # no sound in tests; cues are still collected
    win = HomeWindow(session, cues=speaker)
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    counts: list[int] = []
    session.events.reps.connect(counts.append)
    session.connect(DemoHomeSource(time_scale=8.0))
    qtbot.waitUntil(lambda: session.state == "ready", timeout=5000)
    assert win.start_btn.isEnabled() and not win.next_btn.isEnabled()
    win.grab().save(str(SHOTS / "home_ready.png"))

    qtbot.mouseClick(win.start_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: session.state == "active", timeout=5000)
    assert win.big.text() == "0 / 3"
    assert win.rep_slot.currentWidget() is win.sensor_counts  # the sensor counts
    qtbot.waitUntil(lambda: session.reps >= 1, timeout=15000)
    win.grab().save(str(SHOTS / "home_counting.png"))
    qtbot.waitUntil(lambda: session.state == "done", timeout=20000)
    res = session.results[0]
    # counted by the sensor, one at a time, exactly to the target
    assert res.completed and res.repetitions == 3 and res.stopped_by == "target"
    assert counts == [1, 2, 3]
    assert win.big.text() == "Well done!" and win.next_btn.isEnabled()
    assert any(s == "Start now" for s in speaker.spoken)
    assert counts == sorted(set(counts)) and counts[-1] == res.repetitions  # only counts up
    assert speaker.spoken[-2:] == [str(res.repetitions), "Well done"]
    win.grab().save(str(SHOTS / "home_done.png"))

    # a patient-counted exercise: "One more" is shown and counts
    win.next_btn.click()
    win.start_btn.click()
    qtbot.waitUntil(lambda: session.state == "active", timeout=5000)
    assert win.rep_btn.isVisible() and win.rep_btn.isEnabled()
    for _ in range(2):
        win.rep_btn.click()
    assert win.big.text() == "2 / 10"
    win.stop_btn.click()
    assert session.results[1].repetitions == 2 and not session.results[1].completed
    # issue 17: stopping at 2 of 10 is not a failure: no red cross, "2 of 10 done"
    assert "2 of 10 done" in win.steps.text() and "✘" not in win.steps.text()
    assert win.big.text() == "2 of 10 done"
    win.grab().save(str(SHOTS / "home_partly_done.png"))

    win.close()  # finishes: recording closed and imported with adherence
    s = store.sessions("P-7")[-1]
    assert s.kind == "home" and "home-exercises" in s.results
    done = {a["exercise"]: a["completed"] for a in store.adherence("P-7")}
    assert done == {"sit_to_stand": True, "heel_raises": False}
    win2 = HomeWindow(HomeSession(patient="P-7", store=store, data_dir=tmp_path / "data"))
    qtbot.addWidget(win2)
    assert win2.calendar.isVisible() or win2.cal_grid.count() == 28 + 7  # days, weekdays
    win2.grab().save(str(SHOTS / "home_calendar.png"))
    win2.session.finish()
    store.close()


def test_home_window_for_an_older_patient_issue17_item16(qtbot, tmp_path):
    import datetime as dt

    from poise.fhir import observation_bundle
    from poise.reports import progress_report

    store = Store(tmp_path / "data")
    store.add_patient("P-7", birth_year=1948, sex="f")
    store.set_plan("P-7", [{"key": "sit_to_stand", "target_reps": 3}, {"key": "heel_raises"}])
    today = dt.date.today()
    store.record_adherence(
        "P-7", date=today - dt.timedelta(days=2), exercise="sit_to_stand", completed=True
    )
    session = HomeSession(patient="P-7", store=store, data_dir=tmp_path / "data", countdown_s=1)
    win = HomeWindow(session, cues=Cues(enabled=False))
    qtbot.addWidget(win)
    win.resize(1100, 800)
    win.show()
    # greeted by the name the patient chose, never by the pseudonym
    assert "P-7" not in win.hello.text()
    dlg = win.ask_name()
    dlg.setTextValue("Anna")
    dlg.accept()
    assert win.hello.text() == "Today's exercises, Anna"
    assert store.patient("P-7").display_name == "Anna"
    # the name stays on this computer: not in the exports
    assert "Anna" not in json.dumps(observation_bundle(store, "P-7"))
    assert "Anna" not in json.dumps(progress_report(store, "P-7"))
    # the calendar says which month, which weekday, which day is today, and what colours mean
    assert today.strftime("%B") in win.cal_title.text()
    cells = [win.cal_grid.itemAt(i).widget() for i in range(win.cal_grid.count())]
    assert [c.text() for c in cells[:7]] == ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
    marked = [c for c in cells if c.property("today")]
    assert len(marked) == 1 and marked[0].text().startswith(str(today.day))
    assert "solid" in marked[0].styleSheet()  # outlined
    assert today.strftime("%b") in " ".join(c.text() for c in cells)  # months on the days
    legend = win.cal_legend.text().replace("&nbsp;", " ")
    assert all(w in legend for w in ("all done", "some done", "missed", "no plan", "today"))
    # it fits a 1366 x 768 screen
    assert win.minimumSizeHint().height() <= 700 and win.minimumSizeHint().width() <= 1366
    # the same four button places in every state; Skip does not look disabled
    session.connect(DemoHomeSource(time_scale=8.0))
    qtbot.waitUntil(lambda: session.state == "ready", timeout=5000)
    slots = (win.main_slot, win.rep_slot, win.stop_btn, win.skip_btn)
    rows = []
    for _ in range(2):  # ready, then done after a skip, for two kinds of exercise
        rows.append([w.isVisible() for w in slots])
        assert win.skip_btn.isEnabled()
        img = win.skip_btn.grab().toImage()
        dark = sum(
            img.pixelColor(x, y).value() < 90
            for x in range(0, img.width(), 3)
            for y in range(0, img.height(), 3)
        )
        assert dark > 30, "an enabled Skip must not look greyed out"
        win.grab().save(str(SHOTS / f"home_ready_{session.index + 1}.png"))
        win.skip_btn.click()
        rows.append([w.isVisible() for w in slots])
    assert all(r == [True] * 4 for r in rows)
    assert "skipped" in win.steps.text()
    win.close()
    store.close()

"""Home window: a guided exercise with a demo sensor runs to completion; screenshots."""

from __future__ import annotations

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
    assert win.big.text() == "0 / 3" and not win.rep_btn.isVisible()  # the sensor counts
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
    assert win.rep_btn.isVisible()
    for _ in range(2):
        win.rep_btn.click()
    assert win.big.text() == "2 / 10"
    win.stop_btn.click()
    assert session.results[1].repetitions == 2 and not session.results[1].completed

    win.close()  # finishes: recording closed and imported with adherence
    s = store.sessions("P-7")[-1]
    assert s.kind == "home" and "home-exercises" in s.results
    done = {a["exercise"]: a["completed"] for a in store.adherence("P-7")}
    assert done == {"sit_to_stand": True, "heel_raises": False}
    win2 = HomeWindow(HomeSession(patient="P-7", store=store, data_dir=tmp_path / "data"))
    qtbot.addWidget(win2)
    assert win2.calendar.isVisible() or win2.cal_grid.count() == 28
    win2.grab().save(str(SHOTS / "home_calendar.png"))
    win2.session.finish()
    store.close()

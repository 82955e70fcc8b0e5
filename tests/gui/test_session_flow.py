"""A therapist's session that holds together (issue 17), offscreen with pytest-qt.

The scripted flow: add a patient, run a TUG live (scripted sensor, no BLE), end, file the
session, replay it at 10x. The same values and the same fall-risk level must show on the
Results page, the Sessions table, the Progress tab, the PDF, the FHIR export and
``poise analyze --fall-risk``, and the replay says "same as saved".

Screenshots of every page go to tests/artifacts/screenshots/ (gitignored).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("pytestqt")
QtPdf = pytest.importorskip("PySide6.QtPdf")

import gui  # noqa: E402,F401  I001 (applies the PySide6 work-around first)
from gui.app import save_screenshot  # noqa: E402
from poise.reports import LEVEL_TEXT  # noqa: E402
from poise.session import Session  # noqa: E402
from poise.sources import ScriptedSource  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


@pytest.fixture
def session(tmp_path: Path) -> Session:
    """The session's data in a folder of their own (the test writes its exports beside it)."""
    return Session(data_dir=tmp_path / "data")


def pdf_text(path: Path) -> list[str]:
    """The text of every page of a PDF, read back with QtPdf."""
    doc = QtPdf.QPdfDocument(None)
    assert doc.load(str(path)) == QtPdf.QPdfDocument.Error.None_
    pages = [doc.getAllText(i).text() for i in range(doc.pageCount())]
    doc.close()
    return pages


def squash(s: str) -> str:
    return "".join(s.split())


def _run_tug(window, qtbot) -> dict:
    """A TUG on the scripted sensor: Start while seated, Space once seated again.

    The scripted patient sits 4 s, stands up, walks, sits down at ~15.7 s and stands up
    again at ~24 s (data time): Start must come before 4 s and Space between 16 and 24 s.
    At 4x the data clock leaves a second of wall time either way (a loaded machine
    stalled the GUI thread past the stand-up at 8x).
    """
    s = window.session
    window.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="tug", time_scale=4))
    qtbot.waitUntil(lambda: s.recording_path is not None and s.now_s() >= 0.5, timeout=5000)
    window.show_page("tests")
    window.tests.pick.select("tug")
    window.tests.pick.start_btn.click()
    run = s.run
    assert run is not None, "the test did not start"
    assert run.start_s < 3.5, f"Start came at {run.start_s:.1f} s, after the stand-up"
    qtbot.waitUntil(lambda: run.state == "running" and run.phase_elapsed_s > 5.0, timeout=10000)
    window.show_page("live")
    qtbot.wait(100)
    save_screenshot(window, SHOTS / "flow_live_during_tug.png")
    window.show_page("tests")
    qtbot.waitUntil(lambda: s.now_s() >= 16.5, timeout=10000)
    # the therapist presses Space, seated again (whatever field has the focus)
    window.live.sway_panel.target.setFocus()  # a field that takes Space
    qtbot.keyClick(window.live.sway_panel.target, Qt.Key.Key_Space)
    assert run.ended_by == "therapist"
    qtbot.waitUntil(lambda: s.last_result is not None, timeout=15000)
    out = s.last_result
    assert "error" not in out, out.get("error")
    return out


def test_add_patient_tug_live_end_replay_same_everywhere_issue17(window, qtbot, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    s = window.session
    page = window.patients
    # every page fits a 1366 x 768 screen (the Patients page's buttons once widened it)
    assert window.minimumSizeHint().width() <= 1366 and window.width() == 1366
    # 1. the patient, added on the Patients page (the session has none yet: it is theirs)
    window.show_page("patients")
    dlg = page.ask_add_patient()
    dlg.pseudonym.setText("P-7")
    dlg.birth_year.setValue(1948)
    dlg.sex.setCurrentText("female")
    dlg.height_m.setValue(1.62)
    dlg.weight.setValue(60)
    save_screenshot(dlg, SHOTS / "flow_add_patient_dialog.png")
    dlg.accept()
    assert not dlg.isVisible()
    window.activateWindow()  # offscreen, closing a dialog does not give the focus back
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=2000)
    assert s.patient["pseudonym"] == "P-7"
    age = s.demographics["age"]
    assert age >= 78 and s.demographics["sex"] == "f"
    assert "P-7" in window.patient_btn.text()
    window.show_page("tests")
    window.tests.pick.select("tug")
    assert f"{age} y" in window.tests.pick.patient_label.text()
    save_screenshot(window, SHOTS / "flow_tests_page_patient.png")

    # 2. the TUG, live
    live = _run_tug(window, qtbot)
    res, fr = live["result"], live["fall_risk"]
    assert res["validity"]["valid"] and live["demographics"]["age"] == age
    assert res["norm_mean_s"] == 11.3 if age >= 80 else 9.2  # the patient's age group
    tug = res["total_time_s"]
    results = window.results
    assert window.pages.currentWidget() is results
    assert results.title.text() == f"Timed Up and Go: {tug:.1f} s"
    assert "P-7" in results.when.text() and "Run at" in results.when.text()
    level_text = LEVEL_TEXT[fr["level"]]
    assert f"Session fall risk: {level_text}" in results.level.text()
    page_factors = {
        results.factors.item(r, 0).text(): results.factors.item(r, 3).text()
        for r in range(results.factors.rowCount())
    }
    assert list(page_factors) == [f["label"] for f in fr["factors"]]
    save_screenshot(window, SHOTS / "flow_results_live.png")

    # 3. end, file the session for the patient
    path = s.recording_path
    window.end_session()
    window.show_page("patients")
    stored = page.add_last_recording()
    assert stored.results["tug"]["total_time_s"] == pytest.approx(tug)
    assert stored.fall_risk["level"] == fr["level"]
    assert [(f["key"], f["value"], f["status"]) for f in stored.fall_risk["factors"]] == [
        (f["key"], f["value"], f["status"]) for f in fr["factors"]
    ]
    row = page.sessions.rowCount() - 1
    assert page.sessions.item(row, 3).text() == level_text  # Sessions table
    save_screenshot(window, SHOTS / "flow_patients_sessions.png")
    page.tabs.setCurrentWidget(page.progress_view)
    qtbot.wait(50)
    prog = page.progress_view.progress
    assert prog.sessions[-1]["level"] == fr["level"]  # Progress tab
    assert prog.get("tug_time_s").values[-1] == pytest.approx(tug)
    assert prog.get("gait_speed_mps") is None  # the TUG's walks are not gait speed
    shown = dict((r[0], r) for r in page.progress_view.summary_texts())
    assert f"{tug:.1f}" in shown["Timed Up and Go"][2]
    save_screenshot(window, SHOTS / "flow_patients_progress.png")

    # the PDF, read back
    pdf = tmp_path / "session.pdf"
    page.export_pdf("session", pdf, "a4")
    pages = pdf_text(pdf)
    text = squash("\n".join(pages))
    assert squash(f"Overall: {level_text}") in text
    assert squash(f"Timed Up and Go {tug:.1f} s") in text
    assert "P-7" in text and "unknownpatient" not in text.lower()

    # FHIR
    fhir = tmp_path / "fhir.json"
    page.export("fhir", fhir)
    obs = [
        e["resource"]
        for e in json.loads(fhir.read_text())["entry"]
        if e["resource"]["resourceType"] == "Observation"
    ]
    tug_obs = [o for o in obs if o["code"]["text"] == "Timed Up and Go"]
    assert len(tug_obs) == 1 and tug_obs[0]["valueQuantity"]["value"] == pytest.approx(tug)
    status = next(f["status"] for f in fr["factors"] if f["key"] == "tug_time_s")
    assert tug_obs[0]["interpretation"][0]["text"] == status.replace("_", " ")
    assert not [o for o in obs if o["code"]["text"] == "Gait speed"]

    # poise analyze --fall-risk on the same file
    from poise.cli import main

    cli_out = tmp_path / "cli.json"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["analyze", str(path), "--fall-risk", "--format", "json"]) == 0
    cli_out.write_text(buf.getvalue())
    cli = json.loads(buf.getvalue())
    assert cli["level"] == fr["level"]
    assert [(f["key"], f["value"], f["status"]) for f in cli["factors"]] == [
        (f["key"], f["value"], f["status"]) for f in fr["factors"]
    ]

    # 4. replay at 10x: recomputed, the same as saved, the same on the page
    assert window.open_recording(path, speed=10.0)
    assert window.replay_bar.speed.currentData() == 10.0
    qtbot.waitUntil(
        lambda: s.last_result is not None and s.last_result["source"] == "replay", timeout=15000
    )
    again = s.last_result
    assert again["matches_saved"] is True, again.get("differences")
    assert again["result"]["total_time_s"] == pytest.approx(tug, rel=1e-4)
    assert again["fall_risk"]["level"] == fr["level"]
    assert "Same as saved" in results.notes.text()
    assert results.title.text() == f"Timed Up and Go: {tug:.1f} s"
    assert f"Session fall risk: {level_text}" in results.level.text()
    save_screenshot(window, SHOTS / "flow_results_replay.png")


ROOT = Path(__file__).resolve().parents[2]
TUG = ROOT / "recordings" / "scenarios" / "tug.poise"
WALK = ROOT / "recordings" / "scenarios" / "walk-2min.poise"


def test_replay_speed_box_click_to_seek_and_body_axes_issue17_items4_5_6(
    window, qtbot, monkeypatch
):
    import numpy as np
    from PySide6.QtCore import QPoint

    s = window.session
    bar = window.replay_bar
    # item 4: the speed box shows the player's speed, whatever file is opened next
    assert window.open_recording(WALK, speed=10.0)
    assert bar.current_speed() == 10.0 and s.source.player.speed == 10.0
    assert window.open_recording(TUG)  # opened at 1x
    assert s.source.player.speed == 1.0 and bar.current_speed() == 1.0
    bar.set_speed(10.0)
    monkeypatch.setattr(
        "gui.main_window.QFileDialog.getOpenFileName", lambda *a, **k: (str(WALK), "")
    )
    window.ask_open()  # the therapist's speed carries to the next file
    assert s.source.player.speed == 10.0 and bar.current_speed() == 10.0

    # item 5: replay tug.poise to the end, then seek: the body axes stay those of the
    # live path (AP forward, ML side to side), they do not swap
    assert window.open_recording(TUG, speed=10.0)
    player = s.source.player
    qtbot.waitUntil(lambda: player.finished, timeout=15000)
    qtbot.wait(100)
    frame_end = window.live.sensor_plots[next(iter(s.sensors))].frame.copy()
    _, ap_end, ml_end = s.body_axes()
    # item 6: a click on the bar jumps to where it was clicked (not one page step)
    window.show_page("live")
    slider = bar.slider
    qtbot.wait(50)
    x = int(0.6 * slider.width())
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(x, slider.height() // 2))
    assert player.position_s == pytest.approx(0.6 * player.duration_s, abs=0.05 * player.duration_s)
    qtbot.waitUntil(lambda: s.body_axes() is not None, timeout=3000)
    _, ap, ml = s.body_axes()
    assert float(ap @ ap_end) > 0.95 and float(ml @ ml_end) > 0.95
    qtbot.wait(200)  # the plots take the live analysis' frame
    frame = window.live.sensor_plots[next(iter(s.sensors))].frame
    assert np.all(np.einsum("ij,ij->i", frame, frame_end) > 0.95)  # V, ML, AP rows
    save_screenshot(window, SHOTS / "replay_after_seek.png")


def test_damaged_and_foreign_files_are_named_in_gui_words_issue17_items7_8(window, qtbot, tmp_path):
    from gui.errors import OPEN_DIALOGS

    s = window.session
    data = TUG.read_bytes()
    cut = tmp_path / "cut.poise"
    cut.write_bytes(data[: len(data) // 2])  # a copy cut in half
    n = len(OPEN_DIALOGS)
    assert window.open_recording(cut, speed=10.0)
    assert len(OPEN_DIALOGS) == n + 1  # said, not silent
    text = OPEN_DIALOGS[-1].informativeText()
    assert "damaged" in text and "not closed cleanly" in text and "1 damaged region" in text
    assert "intact part" in text
    save_screenshot(OPEN_DIALOGS[-1], SHOTS / "damaged_recording_dialog.png")
    OPEN_DIALOGS[-1].close()
    from sensors.recording import load_recording

    player = s.source.player  # the intact first half replays
    whole = load_recording(TUG).duration_s
    assert s.kind == "replay" and 0.3 * whole < player.duration_s < 0.6 * whole
    qtbot.waitUntil(lambda: player.position_s > 1.0, timeout=5000)

    notes = tmp_path / "notes.csv"
    notes.write_text("date,weight\n2026-01-01,70\n")
    assert window.open_recording(notes) is False
    text = OPEN_DIALOGS[-1].informativeText()
    assert "not a Poise recording or an IMU CSV" in text
    assert "--columns" not in text and "acc_x" in text
    save_screenshot(OPEN_DIALOGS[-1], SHOTS / "not_a_recording_dialog.png")
    OPEN_DIALOGS[-1].close()


def test_patient_first_walking_warning_and_close_asks_issue17_items1_9_13(window, qtbot):
    s = window.session
    window.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="walk", time_scale=5))
    qtbot.waitUntil(lambda: bool(s.metrics.get("walking")), timeout=15000)
    window.show_page("tests")
    window.tests.pick.select("sway")
    assert "No patient chosen" in window.tests.pick.patient_label.text()
    window.tests.pick.start_btn.click()
    # item 1: whose session? asked before anything starts
    chooser = window.chooser
    assert chooser is not None and chooser.isVisible() and s.run is None
    save_screenshot(chooser, SHOTS / "patient_chooser.png")
    chooser.anon_btn.click()
    assert s.patient == {"pseudonym": None, "anonymous": True, "demographics": {}}
    assert "Anonymous" in window.tests.pick.patient_label.text()
    # item 13: a quiet-stance test while the patient walks: asked first
    box = window.confirm_box
    assert box is not None and box.isVisible() and s.run is None
    assert "walking" in box.text()
    save_screenshot(box, SHOTS / "walking_warning.png")
    go = next(b for b in box.buttons() if b.text() == "Start anyway")
    go.click()
    assert window.test_running()
    assert any("started while the patient is walking" in m.text for m in s.run.markers)
    # item 9: closing the window during a test asks first, like End session
    window.close()
    box = window.confirm_box
    assert box.isVisible() and window.isVisible() and window.test_running()
    save_screenshot(window, SHOTS / "close_during_test.png")
    keep = next(b for b in box.buttons() if b.text() == "Keep going")
    keep.click()
    assert window.isVisible() and window.test_running()
    window.close()
    end = next(b for b in window.confirm_box.buttons() if b.text() == "End and close")
    end.click()
    assert not window.isVisible() and s.source is None
    assert s.last_result is not None  # the stopped test's result is kept


def test_add_patient_dialog_keeps_what_was_typed_issue17_item14(window, qtbot):
    page = window.patients
    window.show_page("patients")
    dlg = page.ask_add_patient()
    dlg.birth_year.setValue(1948)
    dlg.notes.setText("knee replacement 2024")
    dlg.accept()  # OK with an empty pseudonym
    assert dlg.isVisible() and dlg.error.isVisible() and "pseudonym" in dlg.error.text()
    assert dlg.birth_year.value() == 1948 and dlg.notes.text() == "knee replacement 2024"
    save_screenshot(dlg, SHOTS / "add_patient_empty_pseudonym.png")
    page.add_patient("P-7")
    dlg.pseudonym.setText("P-7")
    dlg.accept()  # already exists: said in the dialog, nothing lost
    assert dlg.isVisible() and "already exists" in dlg.error.text()
    assert dlg.notes.text() == "knee replacement 2024"
    dlg.pseudonym.setText("P-8")
    dlg.accept()
    assert not dlg.isVisible()
    p8 = page.store.patient("P-8")
    assert p8.birth_year == 1948 and p8.notes == "knee replacement 2024"


def test_sway_plot_and_tiles_agree_steps_never_drop_end_clears_issue17_items11_12(window, qtbot):
    import math

    s = window.session
    live = window.live
    window.show_page("live")
    # the demo loop: stand up, stand, walk 20 m with two turns, stand, sit down
    window.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="demo", time_scale=8))
    steps_seen: list[int] = []
    states: set[str] = set()
    shot = False
    while s.now_s() < 40.0:
        qtbot.wait(60)
        plot = live.sway
        tile = live.tiles["sway_rms_mps2"]
        # one decision for both: the tiles are greyed exactly when the plot is not showing
        # quiet-stance sway, and the plot never shows a time in target the tiles deny
        quiet = not (plot.paused or plot.settling)
        assert quiet == (tile.note == ""), (plot.paused, plot.settling, tile.note)
        if not quiet:
            assert math.isnan(plot.in_target_pct)
            ex, _ = plot.ellipse.getData()
            assert ex is None or len(ex) == 0
        states.add("paused" if plot.paused else "settling" if plot.settling else "ok")
        if plot.settling and not shot and s.now_s() > 30:
            save_screenshot(window, SHOTS / "live_sway_settling.png")
            shot = True
        # the caption is not cut (1366 x 768): the wrapped text fits the label
        for t in live.tiles.values():
            assert t.unit.heightForWidth(t.unit.width()) <= t.unit.height() + 1, t.unit.text()
        text = live.tiles["steps"].value.text()
        if text != "—":
            steps_seen.append(int(text))
    assert {"paused", "settling"} <= states
    assert steps_seen and steps_seen == sorted(steps_seen), "the Steps tile went down"
    assert steps_seen[-1] > 20
    # a running test shows on the Live page with its clock
    s.set_patient(None)
    window.start_test("tug")
    assert s.run is not None
    window.show_page("live")  # F2 during the test
    qtbot.waitUntil(lambda: live.test_status.isVisible(), timeout=3000)
    assert "Timed Up and Go" in live.test_status.text()
    qtbot.waitUntil(lambda: " s · Space when done" in live.test_status.text(), timeout=5000)
    save_screenshot(window, SHOTS / "live_test_running.png")
    s.stop_test("stopped")
    qtbot.waitUntil(lambda: not live.test_status.isVisible(), timeout=3000)
    # End session: every tile is cleared, not only the session time
    window.end_session()
    qtbot.wait(100)
    for key, t in live.tiles.items():
        assert t.value.text() == "—", key
    save_screenshot(window, SHOTS / "live_session_ended.png")

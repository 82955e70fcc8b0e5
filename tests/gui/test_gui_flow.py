"""User flows through the therapist's window, offscreen (pytest-qt).

Screenshots of every page go to tests/artifacts/screenshots/ (gitignored) for people to
look at.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import gui  # noqa: E402,F401  (applies the PySide6 work-around first)
from gui.app import make_app, save_screenshot  # noqa: E402
from gui.errors import OPEN_DIALOGS  # noqa: E402
from gui.main_window import MainWindow  # noqa: E402
from poise.session import Session  # noqa: E402
from poise.sources import ScriptedSource  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


@pytest.fixture
def window(qtbot, tmp_path: Path):
    make_app()
    import analysis.sway  # noqa: F401  (warm the imports before clocks run fast)
    import poise.assessments  # noqa: F401

    session = Session(data_dir=tmp_path)
    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    yield win
    win.close()


def test_two_demo_sensors_over_ble_show_live_data(window, qtbot) -> None:
    window.connect_demo(2)
    s = window.session
    qtbot.waitUntil(lambda: len(s.sensors) == 2, timeout=5000)
    qtbot.waitUntil(
        lambda: all(i.state == "streaming" and i.samples > 300 for i in s.sensors.values()),
        timeout=20000,
    )
    frames = window.live.frames
    qtbot.waitUntil(lambda: window.live.frames > frames + 10, timeout=5000)
    assert set(window.sensors_panel.cards) == set(s.sensors)
    assert all("streaming" in c.state.text() for c in window.sensors_panel.cards.values())
    curve = window.live.sensor_plots["Poise-0001"].curves[0]
    x, y = curve.getData()
    assert x is not None and len(x) > 100
    qtbot.waitUntil(lambda: window.live.tiles["sway_rms_mps2"].value.text() != "—", timeout=8000)
    assert window.rec_label.text().startswith("● Recording")
    save_screenshot(window, SHOTS / "live_two_demo_sensors.png")
    window.end_session()
    assert s.source is None


def test_four_stage_test_to_results_then_replay_gives_the_same(window, qtbot) -> None:
    s = window.session
    window.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="four_stage", time_scale=8))
    window.show_page("tests")
    window.tests.pick.select("four-stage")
    qtbot.waitUntil(lambda: len(window.sensors_panel.cards) == 1, timeout=5000)
    qtbot.wait(100)
    save_screenshot(window, SHOTS / "tests_instructions.png")
    qtbot.waitUntil(lambda: s.now_s() >= 2.0, timeout=5000)
    window.tests.pick.start_btn.click()
    run = s.run
    assert run is not None and window.tests.currentWidget() is window.tests.run_page
    qtbot.waitUntil(lambda: run.state == "running" and run.stage.key == "tandem", timeout=20000)
    save_screenshot(window, SHOTS / "test_running.png")
    qtbot.waitUntil(lambda: run.phase_elapsed_s > 6.3, timeout=5000)
    qtbot.keyClick(window, "L")  # the therapist's "lost balance" shortcut
    qtbot.waitUntil(lambda: s.last_result is not None, timeout=10000)
    assert window.pages.currentWidget() is window.results
    live = s.last_result
    assert "error" not in live, live.get("error")
    assert live["result"]["stage_reached"] == "tandem"
    table = window.results.factors
    rows = {table.item(i, 0).text(): table.item(i, 3).text() for i in range(table.rowCount())}
    assert any("tandem" in k and v == "at_risk" for k, v in rows.items())
    assert window.results.measures.rowCount() > 3
    save_screenshot(window, SHOTS / "results.png")
    path = s.recording_path
    window.end_session()

    assert window.open_recording(path, speed=10.0)
    assert window.replay_bar.isVisible()
    qtbot.waitUntil(
        lambda: s.last_result is not None and s.last_result["source"] == "replay", timeout=15000
    )
    again = s.last_result
    assert again["matches_saved"] is True
    assert again["result"]["stage_reached"] == live["result"]["stage_reached"]
    assert "recomputed" in window.results.title.text()
    save_screenshot(window, SHOTS / "replay_results.png")
    player = s.source.player
    window.replay_bar.set_speed(0.5)
    assert player.speed == 0.5
    window.replay_bar.toggle()
    assert player.playing != (window.replay_bar.play_btn.text() == "Play (P)")
    window.replay_bar.seek(10.0)
    window.show_page("live")
    qtbot.wait(300)
    save_screenshot(window, SHOTS / "replay_live.png")


def test_bad_recording_gives_a_clear_dialog_not_a_crash(window, qtbot, tmp_path: Path) -> None:
    bad = tmp_path / "broken.poise"
    bad.write_bytes(b"\x00" * 100)
    n = len(OPEN_DIALOGS)
    assert window.open_recording(bad) is False
    assert len(OPEN_DIALOGS) == n + 1
    box = OPEN_DIALOGS[-1]
    assert "broken.poise" in box.informativeText()
    assert "Traceback" not in box.informativeText()
    save_screenshot(box, SHOTS / "error_dialog.png")
    box.close()
    window.start_test("four-stage")  # no source: a dialog, no exception
    assert len(OPEN_DIALOGS) >= n + 1


def test_cli_screenshot_offscreen(tmp_path: Path) -> None:
    png = tmp_path / "s.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "poise",
            "gui",
            "--demo",
            "1",
            "--data-dir",
            str(tmp_path),
            "--screenshot",
            str(png),
            "--quit-after",
            "6",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert png.stat().st_size > 20000
    SHOTS.mkdir(parents=True, exist_ok=True)
    (SHOTS / "cli_demo1.png").write_bytes(png.read_bytes())
    recs = list((tmp_path / "recordings").glob("*.poise"))
    assert len(recs) == 1


def test_sensor_lost_mid_test_over_ble_is_shown_and_marked(window, qtbot) -> None:
    from poise.protocols import PROTOCOLS
    from poise.sources import BleSource
    from sensors.recording import load_recording

    s = window.session
    states: list[str] = []
    s.events.sensor_state.connect(lambda info: states.append(info.state))
    window.set_source(
        BleSource(demo=1, sampling_rate_hz=100, scenario="quiet_stance", faults="disconnect-at=3s")
    )
    qtbot.waitUntil(lambda: any(i.state == "streaming" for i in s.sensors.values()), timeout=20000)
    sid = next(iter(s.sensors))
    before = s.sensors[sid].samples
    window.show_page("tests")
    window.tests.start(PROTOCOLS["chair-stand-30s"].with_timing(countdown_s=0.5, stage_s=6.0))
    qtbot.waitUntil(lambda: "reconnecting" in states or "disconnected" in states, timeout=10000)
    card = window.sensors_panel.cards[sid]
    qtbot.waitUntil(lambda: s.run is not None and bool(s.run.gaps), timeout=10000)
    save_screenshot(window, SHOTS / "sensor_lost_mid_test.png")
    qtbot.waitUntil(lambda: s.last_result is not None, timeout=15000)
    assert "gap" in card.link.text()
    assert "lost" in window.results.notes.text()
    gap = s.last_result["run"]["gaps"][0]
    path = s.recording_path
    window.end_session()
    rec = load_recording(path)
    sd = rec.sensor(sid)
    assert np.isfinite(sd.acc_mps2).all(axis=1).sum() >= before
    assert any(g.samples == gap["samples"] for g in sd.gaps)
    assert any(e["kind"] == "test_gap" for e in rec.events)


def test_scan_without_sensors_offers_demo_sensors(window, qtbot, monkeypatch) -> None:
    import poise.sources

    monkeypatch.setattr(poise.sources, "scan_sensors", lambda timeout_s=4.0: [])
    n = len(OPEN_DIALOGS)
    window.scan()
    qtbot.waitUntil(lambda: len(OPEN_DIALOGS) > n, timeout=5000)
    box = OPEN_DIALOGS[-1]
    assert "No Poise sensor" in box.informativeText()
    demo = next(b for b in box.buttons() if b.text() == "Use demo sensors")
    demo.click()
    qtbot.waitUntil(
        lambda: window.session.kind == "live" and len(window.session.sensors) == 1, timeout=5000
    )
    window.end_session()

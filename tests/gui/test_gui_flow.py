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

import gui  # noqa: E402,F401  I001 (applies the PySide6 work-around first)
from gui.app import make_app, save_screenshot  # noqa: E402
from gui.errors import OPEN_DIALOGS  # noqa: E402
from gui.live_view import (  # noqa: E402
    ACC_LADDER_MPS2,
    GYR_LADDER_DPS,
    SWAY_SCALES_MPS2,
    StableRange,
    SwayPanel,
)
from poise.sources import ScriptedSource  # noqa: E402
from PySide6.QtCore import Qt  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


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
    # the colours are named once for all plots; titles carry the units
    legend = window.live.legend.text()
    assert all(k in legend for k in ("V", "ML", "AP", "m/s²", "°/s"))
    sp = window.live.sensor_plots["Poise-0001"]
    assert "m/s²" in sp.acc.titleLabel.text and "°/s" in sp.gyr.titleLabel.text
    # y ranges come from the ladders (no jumping autoscale)
    lo, hi = sp.acc.getViewBox().viewRange()[1]
    assert hi in ACC_LADDER_MPS2 and lo == -hi
    assert sp.gyr.getViewBox().viewRange()[1][1] in GYR_LADDER_DPS
    # demo starts standing then walks: gait tiles fill within seconds
    qtbot.waitUntil(lambda: window.live.tiles["cadence_spm"].value.text() != "—", timeout=15000)
    assert 80 <= float(window.live.tiles["cadence_spm"].value.text()) <= 130
    save_screenshot(window, SHOTS / "live_two_demo_sensors.png")
    window.end_session()
    assert s.source is None


def test_four_stage_test_to_results_then_replay_gives_the_same(window, qtbot) -> None:
    s = window.session
    # The scripted patient repositions the feet on a fixed data timeline (3 s before each
    # stage, like the protocol's countdown): "Start" must be clicked between about 1.3 and
    # 3.2 s of data time or the repositioning falls inside a stage. The data clock runs
    # time_scale times the wall clock, so nothing slow (a screenshot) may sit between the
    # source's start and the click, and time_scale is kept moderate: at 8x a 0.2-s stall
    # of the GUI thread on a loaded machine (CI) missed the window.
    window.show_page("tests")
    window.tests.pick.select("four-stage")
    window.session.set_patient("P-1", {"age": 72, "sex": "f", "height_m": 1.65})
    save_screenshot(window, SHOTS / "tests_instructions.png")
    window.set_source(ScriptedSource(1, sampling_rate_hz=100, scenario="four_stage", time_scale=5))
    qtbot.waitUntil(lambda: len(window.sensors_panel.cards) == 1, timeout=5000)
    qtbot.waitUntil(lambda: s.now_s() >= 1.6, timeout=5000)
    window.tests.pick.start_btn.click()
    run = s.run
    assert run is not None and window.tests.currentWidget() is window.tests.run_page
    qtbot.waitUntil(lambda: run.state == "running" and run.stage.key == "tandem", timeout=20000)
    qtbot.waitUntil(lambda: run.phase_elapsed_s > 3.0, timeout=5000)
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
    assert any("tandem" in k and v == "AT RISK" for k, v in rows.items())
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
    assert "recomputed" in window.results.when.text()
    assert "Same as saved" in window.results.notes.text()
    save_screenshot(window, SHOTS / "replay_results.png")
    player = s.source.player
    window.replay_bar.set_speed(0.5)
    assert player.speed == 0.5
    window.replay_bar.toggle()
    assert player.playing != (window.replay_bar.play_btn.text() == "Play (P)")
    window.replay_bar.seek(10.0)
    bar, dur = window.replay_bar, player.duration_s
    bar.slider.setValue(500)  # a click on the groove seeks too (not only a drag)
    assert player.position_s == pytest.approx(0.5 * dur, abs=0.5)
    bar.skip(-10.0)
    assert player.position_s == pytest.approx(0.5 * dur - 10.0, abs=0.5)
    bar.skip(-1e6)
    assert player.position_s == pytest.approx(0.0, abs=0.5)
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
            "gui",
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
    assert "No supported sensor" in box.informativeText()
    demo = next(b for b in box.buttons() if b.text() == "Use demo sensors")
    demo.click()
    qtbot.waitUntil(
        lambda: window.session.kind == "live" and len(window.session.sensors) == 1, timeout=5000
    )
    window.end_session()


def test_stable_range_grows_at_once_and_shrinks_only_after_a_while() -> None:
    r = StableRange((12.0, 24.0, 48.0), shrink_after_s=5.0)
    assert r.half == 12.0
    assert not r.update(10.0, now_s=0.0)
    assert r.update(15.0, now_s=0.1) and r.half == 24.0  # grows immediately
    assert not r.update(5.0, now_s=0.2)  # smaller again: waits
    assert not r.update(5.0, now_s=4.0) and r.half == 24.0
    assert not r.update(20.0, now_s=4.5)  # back in the current rung: the wait restarts
    assert not r.update(5.0, now_s=6.0) and r.half == 24.0
    assert r.update(5.0, now_s=11.1) and r.half == 12.0
    assert r.update(500.0, now_s=12.0) and r.half == 48.0  # beyond the ladder: the largest


def _motion_rows(name: str, start_s: float, fs: float = 100.0, dur_s: float = 1.0) -> np.ndarray:
    from sensors.scenarios import make_scenario

    md = make_scenario(name, sampling_rate_hz=fs, seed=3)
    i, n = int(start_s * fs), int(dur_s * fs)
    acc, gyr = md.acc_mps2[i : i + n], md.gyr_radps[i : i + n]
    t = (np.arange(acc.shape[0]) / fs)[:, None]
    return np.hstack([t, acc, gyr])


class _FakeSession:
    """What SwayPanel reads from a session: a trail, the primary sensor, its stillness, metrics."""

    def __init__(self, trail: np.ndarray, rows: np.ndarray, walking: bool = False) -> None:
        from types import SimpleNamespace

        self.trail, self.rows = trail, rows
        # the live sway measure is valid in quiet stance (poise.live), not while walking
        self.metrics = {"walking": walking, "sway_valid": not walking}
        self.sensors = {"s": SimpleNamespace(sampling_rate_hz=100.0)}

    def sway_trail(self) -> np.ndarray:
        return self.trail

    def primary_sensor(self) -> str:
        return "s"

    def stillness(self) -> tuple[float, int]:
        from analysis.clinical.base import still_tail_s

        r = self.rows
        return still_tail_s(r[:, 1:4], r[:, 4:7], 100.0), r.shape[0]


def test_sway_panel_fixed_scale_target_zoom_and_pause(qtbot) -> None:
    make_app()
    panel = SwayPanel(target_radius_mps2=0.2, scale_mps2=0.5)
    qtbot.addWidget(panel)
    panel.resize(380, 420)
    panel.show()
    plot = panel.plot
    # a small quiet-stance sway: drawn on the fixed scale (not autoscaled to a speck)
    ang = np.linspace(0, 6 * np.pi, 500)
    trail = np.column_stack([0.1 * np.sin(ang), 0.05 * np.cos(ang)])
    quiet = _motion_rows("quiet_stance", 10.0, dur_s=5.0)
    panel.update_from(_FakeSession(trail, quiet))
    assert not plot.paused
    (x0, x1), (y0, y1) = plot.getViewBox().viewRange()
    # the aspect lock may widen one axis a little
    assert (x0, x1) == pytest.approx((-0.5, 0.5), rel=0.1)
    assert (y0, y1) == pytest.approx((-0.5, 0.5), rel=0.1)
    tx, ty = plot.target.getData()
    assert np.hypot(tx, ty) == pytest.approx(0.2)
    ex, ey = plot.ellipse.getData()
    # 95 % ellipse of sines: half-axis = amplitude * sqrt(chi2_95(2 dof) / 2); x is ML
    k = np.sqrt(5.991 / 2)
    assert np.max(np.abs(ex)) == pytest.approx(0.05 * k, rel=0.05)
    assert np.max(np.abs(ey)) == pytest.approx(0.1 * k, rel=0.05)
    assert plot.in_target_pct == pytest.approx(100.0)
    assert len(plot.dot.data) == 1
    save_screenshot(panel, SHOTS / "sway_panel_quiet.png")
    # zoom steps along the ladder; the target keeps its physical size
    panel.step_zoom(-1)
    assert plot.scale_mps2 == SWAY_SCALES_MPS2[SWAY_SCALES_MPS2.index(0.5) - 1]
    assert plot.getViewBox().viewRange()[1][1] == pytest.approx(plot.scale_mps2, rel=0.1)
    panel.set_target(0.05)
    assert plot.in_target_pct == pytest.approx(100.0)  # not recomputed until new data
    panel.update_from(_FakeSession(trail, quiet))
    assert plot.in_target_pct < 60.0
    # just stopped walking: only the still part is sway (re-centred), not the walk
    walk_then_stand = np.vstack([_motion_rows("walk", 8.0, dur_s=4.0), quiet[-150:]])
    panel.update_from(_FakeSession(trail, walk_then_stand))
    assert not plot.paused
    x, _y = plot.trail.getData()
    assert 30 <= len(x) <= 110
    # walking: paused, greyed, the reason shown, no dot or ellipse
    panel.update_from(_FakeSession(trail, _motion_rows("walk", 8.0), walking=True))
    assert plot.paused and "walking" in plot.banner.textItem.toPlainText().lower()
    assert len(plot.dot.data) == 0
    ex, _ = plot.ellipse.getData()
    assert ex is None or len(ex) == 0
    save_screenshot(panel, SHOTS / "sway_panel_paused.png")
    # the patient's full-screen view follows the same data and closes with Esc
    panel.toggle_patient_view()
    assert panel.patient is not None and panel.patient.isFullScreen()
    panel.update_from(_FakeSession(trail, quiet))
    assert panel.patient.plot.scale_mps2 == plot.scale_mps2
    assert len(panel.patient.plot.dot.data) == 1
    assert not panel.patient.plot.getAxis("left").isVisible()  # no axes for the patient
    save_screenshot(panel.patient, SHOTS / "sway_patient_view.png")
    panel.update_from(_FakeSession(trail, _motion_rows("walk", 8.0), walking=True))
    assert "stand still" in panel.patient.plot.banner.textItem.toPlainText().lower()
    qtbot.keyClick(panel.patient, Qt.Key.Key_Escape)
    assert panel.patient is None


def test_sensor_card_shows_link_problems_and_help_lists_shortcuts(window, qtbot) -> None:
    s = window.session
    window.set_source(ScriptedSource(2, sampling_rate_hz=100, scenario="quiet_stance"))
    qtbot.waitUntil(lambda: len(window.sensors_panel.cards) == 2, timeout=5000)
    s.push_state("demo-1", "reconnecting", reason="link lost")
    s.push_stats("demo-1", battery_pct=12.0, loss_pct=7.5)
    s.push_state("demo-2", "failed", reason="no answer from the sensor")
    s.push_gap("demo-1", 1.0, 1.5, 50)
    qtbot.waitUntil(lambda: s.sensors["demo-2"].state == "failed", timeout=3000)
    c1, c2 = window.sensors_panel.cards["demo-1"], window.sensors_panel.cards["demo-2"]
    qtbot.wait(50)
    assert "reconnecting" in c1.state.text() and c1.problem.isVisible()
    assert "low" in c1.link.text() and "7.5 %" in c1.link.text()
    assert "missing" in c1.link.text()
    assert "FAILED" in c2.state.text() and "no answer" in c2.problem.text().lower()
    warning = window.sensors_panel.warning
    assert warning.text() and warning.height() >= warning.heightForWidth(warning.width()) - 2
    # the live plot's title says it, in red
    assert "RECONNECTING" in window.live.sensor_plots["demo-1"].acc.titleLabel.text
    save_screenshot(window, SHOTS / "sensor_states.png")
    # shortcuts: always in the status bar, all of them under F1
    assert "F5" in window.keys_label.text() and "L lost balance" in window.keys_label.text()
    n = len(OPEN_DIALOGS)
    qtbot.keyClick(window, Qt.Key.Key_F1)
    box = window.help_box
    assert box is not None and box.isVisible() and len(OPEN_DIALOGS) == n
    for key in ("F5", "Space", "Esc", "F11", "lost balance"):
        assert key in box.informativeText()
    save_screenshot(box, SHOTS / "help_shortcuts.png")
    box.close()
    # a marker key without a test says why nothing happened
    qtbot.keyClick(window, "L")
    assert "running test" in window.statusBar().currentMessage()
    # End session during a test asks first; nothing stops until confirmed
    s.set_patient(None)  # anonymous: no chooser
    window.start_test("four-stage")
    assert window.test_running()
    window.end_btn.click()
    confirm = window.confirm_box
    assert confirm.isVisible() and s.source is not None
    end = next(b for b in confirm.buttons() if b.text() == "End session")
    end.click()
    assert s.source is None

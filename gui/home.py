"""Home-exercise window: large text and buttons, one sensor, spoken or audible cues.

:class:`HomeWindow` gets a :class:`poise.home.HomeSession` and subscribes to it; a QTimer
polls the session (about 20 Hz) on the GUI thread. The patient sees today's exercises,
the current one's instructions, a big timer or repetition count, and an adherence
calendar of the last four weeks (when a store holds the patient).

Cues go through :class:`gui.cues.Cues`: spoken with QtTextToSpeech when it has an engine,
else a short tone per kind of cue (QtMultimedia ``QSoundEffect``), else the system beep.
Any failure is silent: a cue never stops an exercise.
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from gui.cues import Cues
from poise.home import HomeSession

log = logging.getLogger(__name__)

__all__ = ["HomeWindow", "run"]

_CAL_COLOURS = {
    "done": QColor(46, 160, 67),
    "partial": QColor(230, 160, 0),
    "missed": QColor(214, 39, 40),
    "none": QColor(225, 225, 225),
}


def _big_button(text: str, colour: str = "#1f77b4") -> QPushButton:
    b = QPushButton(text)
    b.setMinimumHeight(72)
    b.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    b.setStyleSheet(
        f"QPushButton {{ font-size: 22pt; font-weight: 600; padding: 8px 28px; color: white;"
        f" background: {colour}; border-radius: 10px; }}"
        " QPushButton:disabled { background: #c8c8c8; color: #f4f4f4; }"
    )
    return b


class HomeWindow(QMainWindow):
    """The patient's window (see the module docstring).

    Parameters
    ----------
    session
        The home session model.
    cues
        Cue output (default :class:`gui.cues.Cues`).
    auto
        Walk through the exercises without button presses (demo and headless checks).
    """

    def __init__(self, session: HomeSession, cues: Cues | None = None, auto: bool = False) -> None:
        super().__init__()
        self.session = session
        self.cues = cues or Cues()
        self.auto = auto
        self.setWindowTitle("Poise: my exercises")
        self.resize(1100, 800)
        central = QWidget()
        central.setStyleSheet("background: #fbfbf8;")
        v = QVBoxLayout(central)
        v.setContentsMargins(24, 16, 24, 16)
        top = QHBoxLayout()
        hello = QLabel(f"Today's exercises{(' for ' + session.patient) if session.patient else ''}")
        hello.setStyleSheet("font-size: 20pt; font-weight: 600;")
        top.addWidget(hello)
        top.addStretch(1)
        self.sensor_label = QLabel("Connecting the sensor…")
        self.sensor_label.setStyleSheet("font-size: 16pt; color: #555;")
        top.addWidget(self.sensor_label)
        v.addLayout(top)
        self.steps = QLabel()
        self.steps.setStyleSheet("font-size: 16pt; color: #333;")
        self.steps.setWordWrap(True)
        v.addWidget(self.steps)
        self.title = QLabel()
        self.title.setStyleSheet("font-size: 34pt; font-weight: 700; color: #1f3b57;")
        v.addWidget(self.title)
        self.instructions = QLabel()
        self.instructions.setWordWrap(True)
        self.instructions.setStyleSheet("font-size: 19pt; color: #222;")
        v.addWidget(self.instructions)
        self.big = QLabel()
        self.big.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.big.setStyleSheet("font-size: 80pt; font-weight: 700; color: #1f77b4;")
        v.addWidget(self.big, 1)
        self.detail = QLabel()
        self.detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.detail.setStyleSheet("font-size: 20pt; color: #444;")
        v.addWidget(self.detail)
        buttons = QHBoxLayout()
        self.start_btn = _big_button("Start", "#2ca02c")
        self.rep_btn = _big_button("One more", "#1f77b4")
        self.stop_btn = _big_button("Done", "#d62728")
        self.next_btn = _big_button("Next exercise", "#1f77b4")
        self.skip_btn = _big_button("Skip", "#7f7f7f")
        for b in (self.start_btn, self.rep_btn, self.stop_btn, self.next_btn, self.skip_btn):
            buttons.addWidget(b)
        v.addLayout(buttons)
        self.calendar = QWidget()
        self.cal_grid = QGridLayout(self.calendar)
        self.cal_grid.setSpacing(4)
        self.cal_title = QLabel("Last four weeks")
        self.cal_title.setStyleSheet("font-size: 14pt; color: #444;")
        v.addWidget(self.cal_title)
        v.addWidget(self.calendar)
        self.setCentralWidget(central)

        self.start_btn.clicked.connect(self._start)
        self.rep_btn.clicked.connect(session.add_rep)
        self.stop_btn.clicked.connect(session.stop_exercise)
        self.next_btn.clicked.connect(self._next)
        self.skip_btn.clicked.connect(session.skip)
        ev = session.events
        ev.state.connect(lambda _s: self.update_view())
        ev.tick.connect(lambda _s: self.update_view())
        ev.reps.connect(lambda _n: self.update_view())
        ev.sensor.connect(self._sensor)
        ev.cue.connect(self._cue)
        ev.error.connect(lambda m: self.sensor_label.setText(f"Problem: {m}"))
        ev.warning.connect(lambda m: self.statusBar().showMessage(m, 10000))
        ev.finished.connect(lambda _p: self.update_calendar())
        self.update_view()
        self.update_calendar()
        self.timer = QTimer(self)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    # ------------------------------------------------------------------ actions
    def _poll(self) -> None:
        try:
            self.session.poll()
        except Exception as exc:
            log.exception("home session poll failed")
            self.sensor_label.setText(f"Problem: {exc}")
            return
        if self.auto:
            st = self.session.state
            if st == "ready":
                self._start()
            elif st == "done":
                self._next()

    def _start(self) -> None:
        try:
            self.session.start_exercise()
        except Exception as exc:
            self.statusBar().showMessage(str(exc), 8000)

    def _next(self) -> None:
        self.session.next_exercise()
        self.update_calendar()

    def _sensor(self, state: str) -> None:
        text = {
            "connected": "Sensor connected",
            "streaming": "Sensor connected",
            "connecting": "Connecting the sensor…",
            "reconnecting": "Sensor lost, reconnecting…",
            "disconnected": "Sensor disconnected",
            "failed": "The sensor could not be connected",
        }.get(state, f"Sensor: {state}")
        self.sensor_label.setText(text)

    def _cue(self, kind: str, text: str) -> None:
        self.cues.say(text, kind)

    # ------------------------------------------------------------------ view
    def update_view(self) -> None:
        """Show the session's snapshot."""
        s = self.session.snapshot()
        state = s["state"]
        marks = []
        for i, (t, r) in enumerate(zip(s["titles"], s["results"])):
            mark = "✔" if r and r.get("completed") else ("✘" if r else "○")
            bold = "<b>" if i == s["index"] else ""
            end = "</b>" if bold else ""
            marks.append(f"{bold}{mark} {t}{end}")
        self.steps.setText("   ".join(marks))
        self.title.setText(s["title"])
        self.instructions.setText("<br>".join(f"• {x}" for x in s.get("instructions") or []))
        big, detail = "", ""
        if state == "connect":
            big, detail = "…", "Switch the sensor on and wear it on your lower back."
        elif state == "ready":
            target = (
                f"{s['target_reps']} times"
                if s.get("kind") == "repetitions"
                else f"{s['hold_s']:.0f} seconds"
            )
            big, detail = "Ready?", f"Goal: {target}. Press Start when you are ready."
        elif state == "countdown":
            big, detail = f"{max(1, int(-(-s['remaining_s'] // 1)))}", "Get ready…"
        elif state == "active":
            if s.get("kind") == "repetitions":
                big = f"{s['reps']} / {s['target_reps']}"
                detail = (
                    "The sensor counts your repetitions."
                    if s.get("counted")
                    else "Press 'One more' after each repetition."
                )
                detail += f"  {int(s['elapsed_s'])} s"
            else:
                rem = s["remaining_s"]
                big = f"{int(rem // 60)}:{int(rem % 60):02d}"
                detail = f"{s['reps']} steps" if s.get("counted") else "Keep going."
        elif state == "done":
            r = s["results"][s["index"]] or {}
            big = "Well done!" if r.get("completed") else "Finished"
            bits = []
            if r.get("repetitions") is not None:
                bits.append(f"{r['repetitions']} repetitions")
            bits.append(f"{r.get('duration_s', 0):.0f} s")
            detail = ", ".join(bits)
        elif state in ("done_all", "finished"):
            n = sum(1 for r in s["results"] if r and r.get("completed"))
            big, detail = "All done!", f"{n} of {s['n_exercises']} exercises completed today."
        self.big.setText(big)
        self.detail.setText(detail)
        ex_kind = s.get("kind")
        self.start_btn.setEnabled(state == "ready")
        self.rep_btn.setVisible(ex_kind == "repetitions" and not s.get("counted"))
        self.rep_btn.setEnabled(state == "active")
        self.stop_btn.setEnabled(state in ("active", "countdown"))
        self.next_btn.setEnabled(state == "done")
        self.skip_btn.setEnabled(state in ("ready", "active"))

    def update_calendar(self) -> None:
        """Adherence of the last four weeks (needs a store that knows the patient)."""
        from poise.home import adherence_calendar

        while self.cal_grid.count():
            w = self.cal_grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        store, patient = self.session.store, self.session.patient
        days = None
        if store is not None and patient:
            try:
                if store.find_patient(patient) is not None:
                    days = adherence_calendar(store, patient, 28)
            except Exception as exc:
                log.warning("adherence calendar: %s", exc)
        self.calendar.setVisible(days is not None)
        self.cal_title.setVisible(days is not None)
        for i, d in enumerate(days or []):
            lab = QLabel(d["date"][8:10])
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setFixedSize(44, 36)
            c = _CAL_COLOURS[d["status"]]
            fg = "white" if d["status"] in ("done", "missed") else "#333"
            lab.setStyleSheet(
                f"background: {c.name()}; color: {fg}; font-size: 13pt; border-radius: 6px;"
            )
            lab.setToolTip(f"{d['date']}: {d['done']} of {d['planned']} exercises ({d['status']})")
            self.cal_grid.addWidget(lab, i // 14, i % 14)

    def closeEvent(self, event: Any) -> None:  # noqa: N802 (Qt name)
        """Finish the session (the recording is closed and imported)."""
        self.timer.stop()
        self.cues.close()
        try:
            self.session.finish()
        except Exception:
            log.exception("finishing the home session failed")
        super().closeEvent(event)


def run(
    *,
    patient: str | None = None,
    data_dir: str | None = None,
    demo: bool = False,
    time_scale: float = 1.0,
    countdown_s: float = 5.0,
    auto: bool = False,
    screenshot: str | None = None,
    quit_after_s: float | None = None,
    record: bool = True,
) -> int:
    """Start the home window; returns the exit code."""
    from gui.app import make_app, save_screenshot
    from gui.errors import install_excepthook
    from poise.store import Store, StoreError

    app = make_app()
    install_excepthook()
    store = None
    try:
        store = Store(data_dir)
    except (StoreError, OSError) as exc:
        print(
            f"poise home: the patient store is not available ({exc}); continuing", file=sys.stderr
        )
    session = HomeSession(
        patient=patient, data_dir=data_dir, store=store, countdown_s=countdown_s, record=record
    )
    win = HomeWindow(session, auto=auto)
    win.show()
    if demo:
        from poise.home import DemoHomeSource

        session.connect(DemoHomeSource(time_scale=time_scale))
    else:
        from poise.sources import BleSource, scan_sensors

        def connect_ble() -> None:
            try:
                found = scan_sensors(timeout_s=4.0)
            except Exception as exc:
                win.sensor_label.setText(f"Bluetooth problem: {exc}")
                return
            if not found:
                win.sensor_label.setText("No sensor found. Switch it on and try again.")
                return
            first = found[0]
            session.connect(
                BleSource([{"device": first.device, "name": first.name, "kind": first.kind}])
            )

        QTimer.singleShot(100, connect_ble)
    if quit_after_s is not None:

        def finish() -> None:
            if screenshot:
                save_screenshot(win, screenshot)
                print(f"screenshot: {screenshot}")
            win.close()
            app.quit()

        QTimer.singleShot(int(quit_after_s * 1000), finish)
    code = app.exec()
    session.finish()
    if store is not None:
        store.close()
    return int(code)

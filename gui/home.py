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

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (
    QGridLayout,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QMainWindow,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.cues import Cues
from gui.widgets import styled_label
from poise.home import HomeSession, result_text
from poise.startup import freeze_startup_objects

log = logging.getLogger(__name__)

__all__ = ["HomeWindow", "run"]


def _legend_html() -> str:
    """The calendar's legend: what each colour means, and today's outline."""
    items = (
        ("done", "all done"),
        ("partial", "some done"),
        ("missed", "missed"),
        ("none", "no plan"),
    )
    return (
        " &nbsp;".join(  # a break may fall between items, not inside one
            f"<span style='color:{_CAL_COLOURS[k].name()}; font-size:16pt'>■</span>&nbsp;"
            + text.replace(" ", "&nbsp;")
            for k, text in items
        )
        + " &nbsp;<span style='color:#1f3b57; font-size:16pt'>□</span>&nbsp;today"
    )


_CAL_COLOURS = {
    "done": QColor(46, 160, 67),
    "partial": QColor(230, 160, 0),
    "missed": QColor(214, 39, 40),
    "none": QColor(225, 225, 225),
}


def _big_button(text: str, colour: str = "#1f77b4", outline: bool = False) -> QPushButton:
    """A large button; ``outline`` draws it white with a dark border (a secondary action
    that must not look disabled, as the grey Skip did)."""
    b = QPushButton(text)
    b.setMinimumHeight(72)
    b.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    look = (
        f"color: {colour}; background: white; border: 3px solid {colour};"
        if outline
        else f"color: white; background: {colour};"
    )
    b.setStyleSheet(
        f"QPushButton {{ font-size: 22pt; font-weight: 600; padding: 8px 28px; {look}"
        " border-radius: 10px; }"
        " QPushButton:disabled { background: #e6e6e6; color: #b0b0b0; border: 3px dashed #d0d0d0; }"
    )
    return b


#: Marks of the exercise list: done, partly done, skipped, not yet (no red cross: stopping
#: early is not a failure).
_MARKS = {"done": ("✔", "#2e7d32"), "partial": ("◐", "#b36b00"), "skipped": ("–", "#666")}


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
        v.addLayout(self._top_bar(session))
        # the exercise on the left, the four-week calendar on the right (the window fits a
        # 1366 x 768 screen), the buttons below both
        middle = QHBoxLayout()
        middle.addLayout(self._exercise_column(), 1)
        middle.addWidget(self._calendar_box())
        v.addLayout(middle, 1)
        v.addLayout(self._buttons())
        self.setCentralWidget(central)
        self._connect(session)
        self.update_greeting()
        self.update_view()
        self.update_calendar()
        self.name_dialog: QInputDialog | None = None
        self.timer = QTimer(self)
        self.timer.setInterval(50)
        self.timer.timeout.connect(self._poll)
        self.timer.start()

    def _top_bar(self, session: HomeSession) -> QHBoxLayout:
        """The greeting, the "My name" button and the sensor's state."""
        top = QHBoxLayout()
        self.hello = styled_label("font-size: 20pt; font-weight: 600;")
        top.addWidget(self.hello)
        self.name_btn = QPushButton("My name…")
        self.name_btn.setToolTip("How should Poise greet you? It stays on this computer.")
        self.name_btn.setStyleSheet("font-size: 13pt; padding: 4px 12px;")
        self.name_btn.clicked.connect(self.ask_name)
        self.name_btn.setVisible(session.store is not None and bool(session.patient))
        top.addWidget(self.name_btn)
        top.addStretch(1)
        self.sensor_label = styled_label("font-size: 16pt; color: #555;", "Connecting the sensor…")
        top.addWidget(self.sensor_label)
        return top

    def _exercise_column(self) -> QVBoxLayout:
        """Steps, title, instructions, the big count and its detail line."""
        left = QVBoxLayout()
        center = Qt.AlignmentFlag.AlignCenter
        self.steps = styled_label("font-size: 16pt; color: #333;", wrap=True)
        self.title = styled_label("font-size: 34pt; font-weight: 700; color: #1f3b57;")
        self.instructions = styled_label("font-size: 19pt; color: #222;", wrap=True)
        self.big = styled_label("font-size: 80pt; font-weight: 700; color: #1f77b4;", align=center)
        self.detail = styled_label("font-size: 20pt; color: #444;", wrap=True, align=center)
        for w in (self.steps, self.title, self.instructions):
            left.addWidget(w)
        left.addWidget(self.big, 1)
        left.addWidget(self.detail)
        return left

    def _calendar_box(self) -> QWidget:
        """The last four weeks' calendar with its title and legend."""
        right = QVBoxLayout()
        right.setContentsMargins(0, 0, 0, 0)
        self.cal_title = styled_label("font-size: 14pt; color: #444;", "Last four weeks", wrap=True)
        right.addWidget(self.cal_title)
        self.calendar = QWidget()
        self.cal_grid = QGridLayout(self.calendar)
        self.cal_grid.setSpacing(3)
        self.cal_grid.setContentsMargins(0, 0, 0, 0)
        right.addWidget(self.calendar)
        self.cal_legend = styled_label("font-size: 12pt; color: #333;", _legend_html(), wrap=True)
        right.addWidget(self.cal_legend)
        right.addStretch(1)
        self.cal_box = QWidget()
        self.cal_box.setLayout(right)
        self.cal_box.setFixedWidth(7 * 46 + 6 * 3 + 4)
        return self.cal_box

    def _buttons(self) -> QHBoxLayout:
        """The same four places in every state: Start/Next, One more, Done, Skip."""
        buttons = QHBoxLayout()
        self.start_btn = _big_button("Start", "#2ca02c")
        self.next_btn = _big_button("Next exercise", "#1f77b4")
        self.main_slot = QStackedWidget()
        self.main_slot.addWidget(self.start_btn)
        self.main_slot.addWidget(self.next_btn)
        self.rep_btn = _big_button("One more", "#1f77b4")
        self.sensor_counts = QLabel("The sensor\ncounts")
        self.sensor_counts.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.sensor_counts.setStyleSheet(
            "font-size: 15pt; color: #555; border: 2px solid #d0d0d0; border-radius: 10px;"
        )
        self.rep_slot = QStackedWidget()
        self.rep_slot.addWidget(self.rep_btn)
        self.rep_slot.addWidget(self.sensor_counts)
        self.stop_btn = _big_button("Done", "#d62728")
        self.skip_btn = _big_button("Skip", "#37474f", outline=True)
        for w in (self.main_slot, self.rep_slot, self.stop_btn, self.skip_btn):
            w.setMinimumHeight(72)
            buttons.addWidget(w, 1)
        return buttons

    def _connect(self, session: HomeSession) -> None:
        """Buttons to the session's actions, the session's events to the view."""
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

    def update_greeting(self) -> None:
        """Greet the patient by the name they chose, never by the pseudonym."""
        name = self.session.display_name
        self.hello.setText(f"Today's exercises, {name}" if name else "Today's exercises")

    def ask_name(self) -> QInputDialog:
        """Let the patient say how to be greeted (non-modal; kept in the store here)."""
        dlg = QInputDialog(self)
        dlg.setWindowTitle("Your name")
        dlg.setLabelText("How should Poise greet you?")
        dlg.setTextValue(self.session.display_name)
        dlg.setStyleSheet("font-size: 16pt;")
        dlg.textValueSelected.connect(self.set_name)
        dlg.open()
        self.name_dialog = dlg
        return dlg

    def set_name(self, name: str) -> None:
        """Keep the patient's display name and greet them with it."""
        try:
            self.session.set_display_name(name)
        except Exception as exc:
            self.statusBar().showMessage(str(exc), 8000)
            return
        self.update_greeting()

    # ------------------------------------------------------------------ view
    def update_view(self) -> None:
        """Show the session's snapshot."""
        s = self.session.snapshot()
        state = s["state"]
        marks = []
        exercises = self.session.exercises
        for i, (t, r) in enumerate(zip(s["titles"], s["results"])):
            how = result_text(r, exercises[i] if i < len(exercises) else None)
            kind = "done" if how == "done" else ("skipped" if how == "skipped" else "partial")
            mark, colour = _MARKS[kind] if r else ("○", "#333")
            note = (
                f": {how}"
                if r and kind == "partial"
                else (" (skipped)" if r and kind == "skipped" else "")
            )
            bold = "<b>" if i == s["index"] else ""
            end = "</b>" if bold else ""
            marks.append(f"{bold}<span style='color:{colour}'>{mark}</span> {t}{note}{end}")
        self.steps.setText("&nbsp;&nbsp;&nbsp;".join(marks))
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
            big = "Well done!" if r.get("completed") else result_text(r, self.session.exercise)
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
        self.main_slot.setCurrentWidget(self.next_btn if state == "done" else self.start_btn)
        self.start_btn.setEnabled(state == "ready")
        self.next_btn.setEnabled(state == "done")
        self.rep_slot.setCurrentWidget(self.sensor_counts if s.get("counted") else self.rep_btn)
        self.rep_btn.setEnabled(state == "active" and ex_kind == "repetitions")
        self.stop_btn.setEnabled(state in ("active", "countdown"))
        self.skip_btn.setEnabled(state in ("ready", "active"))

    def update_calendar(self) -> None:
        """Adherence of the last four weeks by weekday, with the months, today and a
        legend (needs a store that knows the patient)."""
        import datetime as _dt

        from poise.home import adherence_calendar

        while self.cal_grid.count():
            item = self.cal_grid.takeAt(0)
            w = item.widget() if item is not None else None
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
        self.cal_box.setVisible(days is not None)
        if not days:
            return
        first = _dt.date.fromisoformat(days[0]["date"])
        last = _dt.date.fromisoformat(days[-1]["date"])
        span = f"{first:%B} – {last:%B %Y}" if first.month != last.month else f"{last:%B %Y}"
        self.cal_title.setText(f"Last four weeks · {span}")
        for col, name in enumerate(("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")):
            head = QLabel(name)
            head.setAlignment(Qt.AlignmentFlag.AlignCenter)
            head.setStyleSheet("font-size: 12pt; color: #555;")
            self.cal_grid.addWidget(head, 0, col)
        today = _dt.date.today().isoformat()
        offset = first.weekday()
        for i, d in enumerate(days):
            day = _dt.date.fromisoformat(d["date"])
            # the month under the first day shown and under each 1st
            text = f"{day.day}\n{day:%b}" if day.day == 1 or i == 0 else str(day.day)
            lab = QLabel(text)
            lab.setAlignment(Qt.AlignmentFlag.AlignCenter)
            lab.setFixedSize(46, 42)
            c = _CAL_COLOURS[d["status"]]
            fg = "white" if d["status"] in ("done", "missed") else "#333"
            is_today = d["date"] == today
            border = "border: 3px solid #1f3b57;" if is_today else ""
            size = "10pt" if "\n" in text else "13pt"
            lab.setStyleSheet(
                f"background: {c.name()}; color: {fg}; font-size: {size}; border-radius: 6px;"
                f" {border}"
            )
            when = "today" if is_today else d["date"]
            lab.setToolTip(f"{when}: {d['done']} of {d['planned']} exercises ({d['status']})")
            lab.setProperty("today", is_today)
            self.cal_grid.addWidget(lab, 1 + (offset + i) // 7, (offset + i) % 7)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 (Qt name)
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
    freeze_startup_objects()  # start-up objects out of the GC's way (poise.startup)
    code = app.exec()
    session.finish()
    if store is not None:
        store.close()
    return int(code)

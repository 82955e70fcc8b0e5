"""Guided tests: pick a test, read the instructions, run it (countdown, cues, markers)."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.cues import shared_cues
from gui.live_view import SwayPanel
from gui.widgets import TimedWhileShown, styled_label
from poise.protocols import PROTOCOLS, TestProtocol
from poise.session import Session


def patient_text(patient: dict | None, demographics: dict | None) -> str:
    """The session's patient and the data the norms use, for the Guided tests page."""
    if patient is None:
        return (
            "<b>No patient chosen.</b> Start asks whose session this is; their age, sex, "
            "height and weight rate the results."
        )
    if patient.get("anonymous"):
        return (
            "<b>Anonymous session.</b> Norms that need age or sex (chair stands, the TUG age "
            "mean, the 6-minute walk) are not rated."
        )
    d = demographics or {}
    bits = [f"<b>{patient.get('pseudonym')}</b>"]
    bits.append(f"{int(d['age'])} y" if d.get("age") is not None else "age unknown")
    bits.append({"f": "female", "m": "male"}.get(str(d.get("sex") or ""), "sex unknown"))
    bits.append(f"{float(d['height_m']):.2f} m" if d.get("height_m") else "height unknown")
    bits.append(f"{float(d['weight_kg']):.0f} kg" if d.get("weight_kg") else "weight unknown")
    missing = [k for k in ("age", "sex") if d.get(k) is None]
    note = (
        f"<br><i>Without {' and '.join(missing)}, some norms are not rated.</i>" if missing else ""
    )
    return " · ".join(bits) + "<br>The results are rated for these data." + note


class PickPage(QWidget):
    """List of tests, the chosen test's instructions, the session's patient, Start."""

    start_requested = Signal(str)
    patient_requested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        left.addWidget(QLabel("<b>Choose a test</b>"))
        self.list = QListWidget()
        self.list.setMaximumWidth(300)
        self.list.setStyleSheet("font-size: 12pt;")
        for key, p in PROTOCOLS.items():
            item = QListWidgetItem(p.title)
            item.setData(Qt.ItemDataRole.UserRole, key)
            self.list.addItem(item)
        left.addWidget(self.list, 1)
        left.addWidget(QLabel("<b>Patient</b>"))
        self.patient_label = QLabel()
        self.patient_label.setWordWrap(True)
        self.patient_label.setMaximumWidth(300)
        self.patient_label.setStyleSheet("font-size: 11pt; padding: 4px;")
        left.addWidget(self.patient_label)
        self.patient_btn = QPushButton("Choose patient…")
        self.patient_btn.setToolTip("Whose session this is: their data rate the results")
        self.patient_btn.clicked.connect(self.patient_requested.emit)
        left.addWidget(self.patient_btn)
        lay.addLayout(left, 1)
        right = QVBoxLayout()
        self.title = styled_label("font-size: 18pt; font-weight: 600;")
        self.patient = styled_label(
            "font-size: 15pt; background: #eef6ee; padding: 10px;", wrap=True
        )
        self.therapist = styled_label(
            "font-size: 11pt; background: #f3f3f8; padding: 8px;", wrap=True
        )
        self.stages = QLabel()
        self.stages.setWordWrap(True)
        self.start_btn = QPushButton("Start test  (F5)")
        self.start_btn.setStyleSheet("font-size: 15pt; padding: 10px;")
        self.start_btn.clicked.connect(self._start)
        right.addWidget(self.title)
        right.addWidget(QLabel("For the patient:"))
        right.addWidget(self.patient)
        right.addWidget(QLabel("For the therapist:"))
        right.addWidget(self.therapist)
        right.addWidget(self.stages)
        right.addStretch(1)
        right.addWidget(self.start_btn)
        lay.addLayout(right, 2)
        self.list.currentRowChanged.connect(self._show)
        self.list.setCurrentRow(0)
        session.events.patient.connect(lambda _p: self.show_patient())
        self.show_patient()

    def show_patient(self) -> None:
        """Whose session this is and the data the norms will use."""
        self.patient_label.setText(patient_text(self.session.patient, self.session.demographics))
        chosen = self.session.patient is not None
        self.patient_label.setStyleSheet(
            "font-size: 11pt; padding: 4px; "
            + ("background: #eef6ee;" if chosen else "background: #fde9c8;")
        )
        self.patient_btn.setText("Change patient…" if chosen else "Choose patient…")

    def selected(self) -> str:
        """Key of the selected test."""
        item = self.list.currentItem()
        return item.data(Qt.ItemDataRole.UserRole) if item else next(iter(PROTOCOLS))

    def select(self, key: str) -> None:
        """Select a test by key."""
        for i in range(self.list.count()):
            if self.list.item(i).data(Qt.ItemDataRole.UserRole) == key:
                self.list.setCurrentRow(i)
                return
        raise KeyError(key)

    def _show(self, _row: int) -> None:
        p = PROTOCOLS[self.selected()]
        self.title.setText(p.title)
        self.patient.setText(p.patient_instructions)
        self.therapist.setText(p.therapist_instructions)
        parts = []
        for s in p.stages:
            dur = (
                f"{s.duration_s:.0f} s"
                if s.duration_s
                else f"until stopped (max {s.max_duration_s:.0f} s)"
            )
            parts.append(f"• {s.title}: {dur}")
        self.stages.setText(
            "<br>".join(parts) + f"<br><i>Countdown {p.countdown_s:.0f} s before each stage. "
            f"Source: {p.source}</i>"
        )

    def _start(self) -> None:
        self.start_requested.emit(self.selected())


class RunPage(TimedWhileShown):
    """The running test: stage, big countdown/clock, progress, markers, stop."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(33, self._redraw, parent)  # the sway, 30 times a second while shown
        self.session = session
        lay = QHBoxLayout(self)
        left = QVBoxLayout()
        self.test_title = styled_label("font-size: 14pt; color: #555;")
        self.stage = styled_label("font-size: 24pt; font-weight: 700;")
        self.instructions = styled_label("font-size: 15pt;", wrap=True)
        self.clock = QLabel("—")
        self.clock.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clock.setStyleSheet("font-size: 64pt; font-weight: 700;")
        self.clock_note = QLabel()
        self.clock_note.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.clock_note.setStyleSheet("font-size: 13pt; color: #555;")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.warning = styled_label("color: #b35c00; font-size: 12pt;", wrap=True)
        for w in (
            self.test_title,
            self.stage,
            self.instructions,
            self.clock,
            self.clock_note,
            self.progress,
            self.warning,
        ):
            left.addWidget(w)
        buttons = QHBoxLayout()
        self.lost_btn = QPushButton("Lost balance (L)")
        self.assist_btn = QPushButton("Assisted (A)")
        self.note_btn = QPushButton("Note… (N)")
        self.next_btn = QPushButton("Stop stage (Space)")
        self.stop_btn = QPushButton("Stop test (Esc)")
        for b in (self.lost_btn, self.assist_btn, self.note_btn, self.next_btn, self.stop_btn):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setStyleSheet("font-size: 12pt; padding: 8px;")
            buttons.addWidget(b)
        left.addLayout(buttons)
        self.markers = QListWidget()
        self.markers.setMaximumHeight(110)
        left.addWidget(self.markers)
        lay.addLayout(left, 3)
        self.sway = SwayPanel()
        self.sway.setMinimumWidth(280)
        lay.addWidget(self.sway, 2)
        self.lost_btn.clicked.connect(lambda: self.mark("lost_balance"))
        self.assist_btn.clicked.connect(lambda: self.mark("assisted"))
        self.note_btn.clicked.connect(self.ask_note)
        self.next_btn.clicked.connect(session.next_stage)
        self.stop_btn.clicked.connect(lambda: session.stop_test("stopped"))
        ev = session.events
        ev.test_started.connect(self._on_progress)
        ev.test_progress.connect(self._on_progress)
        ev.marker.connect(self._on_marker)
        ev.cue.connect(self._on_cue)
        ev.warning.connect(self._on_warning)
        self.cues: list[tuple[str, int]] = []

    def mark(self, kind: str, text: str = "") -> None:
        """Add a marker (buttons and shortcuts)."""
        if self.session.run is not None and not self.session.run.finished:
            self.session.add_marker(kind, text)

    def ask_note(self) -> None:
        """Ask for a free-text note and add it as a marker."""
        text, ok = QInputDialog.getText(self, "Note", "Note for this moment:")
        if ok and text.strip():
            self.mark("note", text.strip())

    def _redraw(self) -> None:
        if self.isVisible():
            self.sway.update_from(self.session)

    def _on_progress(self, snap: dict) -> None:
        self.test_title.setText(
            f"{snap['title']} · stage {snap['stage_index'] + 1} of {snap['stage_count']}"
        )
        self.stage.setText(snap["stage_title"])
        self.instructions.setText(snap["stage_instructions"])
        self.progress.setValue(int(1000 * snap["progress"]))
        if snap["state"] == "countdown":
            self.clock.setText(f"{max(1, int(snap['countdown_remaining_s'] + 0.999))}")
            self.clock.setStyleSheet("font-size: 64pt; font-weight: 700; color: #ff7f0e;")
            self.clock_note.setText("Get ready…")
        elif snap["state"] == "running":
            rem = snap["stage_remaining_s"]
            if rem is None:
                self.clock.setText(f"{snap['stage_elapsed_s']:.1f} s")
                self.clock_note.setText("Running: press Space when done")
            else:
                self.clock.setText(f"{rem:.1f} s")
                protocol = PROTOCOLS.get(snap["test"])
                hold = protocol is not None and protocol.quiet_stance
                self.clock_note.setText("Hold…" if hold else "Go!")
            self.clock.setStyleSheet("font-size: 64pt; font-weight: 700; color: #2ca02c;")
        else:
            self.clock.setText("Done")
            self.clock.setStyleSheet("font-size: 64pt; font-weight: 700; color: #1f77b4;")
            self.clock_note.setText(f"Ended: {snap['ended_by']}. Computing results…")
        self.next_btn.setEnabled(snap["state"] == "running")

    def _on_marker(self, ev: dict) -> None:
        label = str(ev.get("marker", "")).replace("_", " ")
        text = f"{ev['t_s']:.1f} s  {label}" + (f": {ev['text']}" if ev.get("text") else "")
        self.markers.addItem(text)

    def _on_cue(self, kind: str, remaining: int) -> None:
        self.cues.append((kind, remaining))
        shared_cues().tone(kind)  # tick, start, stop

    def _on_warning(self, message: str) -> None:
        if self.session.run is not None and not self.session.run.finished:
            self.warning.setText(message)

    def reset(self) -> None:
        """Clear the previous run's markers and warnings."""
        self.markers.clear()
        self.warning.clear()


class TestsPage(QStackedWidget):
    """Pick → run. The main window shows the results page when results arrive."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.pick = PickPage(session)
        self.run_page = RunPage(session)
        self.addWidget(self.pick)
        self.addWidget(self.run_page)
        session.events.test_started.connect(lambda _s: self.setCurrentWidget(self.run_page))

    def start(self, test: str | TestProtocol | None = None) -> None:
        """Start ``test`` (default: the selected one). Errors propagate to the caller."""
        self.run_page.reset()
        self.session.start_test(test or self.pick.selected())

    def show_pick(self) -> None:
        """Back to the list of tests."""
        self.setCurrentWidget(self.pick)

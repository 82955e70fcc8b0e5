"""The therapist's main window: sensors panel, live view, guided tests, results, replay."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QApplication,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.errors import ask, show_error, show_exception
from gui.live_view import LiveView
from gui.replay_bar import ReplayBar
from gui.results_page import ResultsPage
from gui.sensors_panel import SensorsPanel
from gui.tests_page import TestsPage
from gui.widgets import styled_label
from poise.session import Session
from sensors import placements

if TYPE_CHECKING:
    from gui.patients import PatientChooser

log = logging.getLogger(__name__)

#: Frames per second of the live view, drawn by the window's one timer (:meth:`MainWindow._tick`).
LIVE_FPS = 60.0

#: Every keyboard shortcut of the window: key, what it does (the help and the status bar).
SHORTCUTS = (
    ("F1", "this help"),
    ("F2", "Live: signals, sway, metrics"),
    ("F3", "Guided tests"),
    ("F4", "Results of the last test"),
    ("F6", "Patients and progress"),
    ("F5", "start the selected test"),
    ("Space", "end the current stage (open-ended stages: TUG, sit-to-stand)"),
    ("L", "marker: lost balance (ends the 4-stage test)"),
    ("A", "marker: assisted"),
    ("N", "marker: free-text note"),
    ("Esc", "stop the test"),
    ("F11", "sway feedback full screen for the patient (Esc closes it)"),
    ("P", "replay: play / pause"),
    ("Ctrl+O", "open a recording"),
)
#: The short form shown at all times in the status bar.
STATUS_KEYS = "F1 help · F5 start · Space end stage · L lost balance · A assisted · N note · Esc stop · F11 patient view"


class MainWindow(QMainWindow):
    """Main window; gets the model in its constructor and subscribes to it.

    Parameters
    ----------
    session
        The session model.
    poll_hz
        How often the session is polled (events are emitted on this, the GUI, thread). One
        timer polls and draws the live view's frames (:data:`LIVE_FPS`), in one wake-up.
    demo_rate_hz
        Sampling rate of demo sensors started from the panel.
    """

    def __init__(self, session: Session, poll_hz: float = 30.0, demo_rate_hz: float = 100.0):
        super().__init__()
        self.session = session
        self.demo_rate_hz = demo_rate_hz
        self.setWindowTitle("Poise: balance session")
        self.resize(1366, 768)
        central = QWidget()
        outer = QVBoxLayout(central)
        outer.setContentsMargins(4, 4, 4, 4)
        nav = QHBoxLayout()
        self.nav_buttons: dict[str, QPushButton] = {}
        for key, label in (
            ("live", "Live (F2)"),
            ("tests", "Guided tests (F3)"),
            ("results", "Results (F4)"),
            ("patients", "Patients (F6)"),
        ):
            b = QPushButton(label)
            b.setCheckable(True)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setStyleSheet("font-size: 12pt; padding: 6px 14px;")
            b.clicked.connect(lambda _c=False, k=key: self.show_page(k))
            nav.addWidget(b)
            self.nav_buttons[key] = b
        nav.addStretch(1)
        self.patient_btn = QPushButton()
        self.patient_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.patient_btn.setToolTip("Whose session this is (their data rate the results)")
        self.patient_btn.clicked.connect(lambda: self.choose_patient())
        nav.addWidget(self.patient_btn)
        self.rec_label = styled_label("color: #d62728; font-weight: 600;")
        nav.addWidget(self.rec_label)
        self.end_btn = QPushButton("End session")
        self.end_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.end_btn.setToolTip("Stop the sensors and close the recording")
        self.end_btn.clicked.connect(lambda: self.ask_end_session())
        nav.addWidget(self.end_btn)
        outer.addLayout(nav)
        body = QHBoxLayout()
        self.sensors_panel = SensorsPanel(session)
        body.addWidget(self.sensors_panel)
        self.pages = QStackedWidget()
        self.live = LiveView(session, fps=None)  # drawn by _tick, after the poll
        self.tests = TestsPage(session)
        self.results = ResultsPage(session)
        self.pages.addWidget(self.live)
        self.pages.addWidget(self.tests)
        self.pages.addWidget(self.results)
        self.patients = self._patients_page(session)
        self.pages.addWidget(self.patients)
        body.addWidget(self.pages, 1)
        outer.addLayout(body, 1)
        self.replay_bar = ReplayBar(session)
        outer.addWidget(self.replay_bar)
        self.setCentralWidget(central)
        self.keys_label = QLabel(STATUS_KEYS)
        self.keys_label.setStyleSheet("color: #555; padding-right: 6px;")
        self.keys_label.setToolTip("Press F1 for every shortcut")
        self.statusBar().addPermanentWidget(self.keys_label)
        self.statusBar().showMessage("Connect sensors or open a recording.")
        self.help_box: QMessageBox | None = None

        self.sensors_panel.demo_requested.connect(self.connect_demo)
        self.sensors_panel.scan_requested.connect(self.scan)
        self.sensors_panel.open_requested.connect(self.ask_open)
        self.tests.pick.start_requested.connect(self.start_test)
        self.tests.pick.patient_requested.connect(lambda: self.choose_patient())
        self.results.back_btn.clicked.connect(self._back_to_tests)

        ev = session.events
        ev.error.connect(lambda msg: show_error(self, "Problem", msg))
        ev.warning.connect(lambda msg: self.statusBar().showMessage(msg, 8000))
        ev.recording.connect(lambda p: self.rec_label.setText(f"● Recording: {Path(p).name}"))
        ev.source_changed.connect(self._source_changed)
        ev.test_result.connect(lambda _r: self.show_page("results"))
        ev.patient.connect(lambda _p: self._show_patient())
        self._show_patient()
        self.chooser: PatientChooser | None = None
        self.confirm_box: QMessageBox | None = None
        self._reported: set[str] = set()
        session.events.set_error_handler(self._listener_failed)

        self._shortcuts()
        # the test keys win over a focused field while a test runs (see eventFilter)
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)
        self._poll_period_s = 1.0 / poll_hz
        self._polled_at = -float("inf")
        self.poll_timer = QTimer(self)  # the one clock: poll, then draw the live frame
        self.poll_timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.poll_timer.timeout.connect(self._tick)
        self.show_page("live")
        self.poll_timer.start()

    def _listener_failed(self, exc: BaseException, name: str) -> None:
        """A view failed on an event: tell once per event (the stream goes on)."""
        key = f"{name}:{type(exc).__name__}"
        if key not in self._reported:
            self._reported.add(key)
            show_exception(self, exc, f"Display error ({name})")

    @staticmethod
    def _patients_page(session: Session) -> QWidget:
        """The patients/progress page (gui.patients); a note instead if it fails to load."""
        try:
            from gui.patients import PatientsPage  # patients, progress, reports

            return PatientsPage(data_dir=session.data_dir, session=session)
        except Exception as exc:  # the live session must open whatever happens here
            log.exception("patients page unavailable")
            label = QLabel(f"The patients page could not be opened: {exc}")
            label.setWordWrap(True)
            return label

    # -------------------------------------------------------------- actions
    def _shortcuts(self) -> None:
        def sc(key, fn) -> None:
            s = QShortcut(QKeySequence(key), self)
            s.setContext(Qt.ShortcutContext.WindowShortcut)
            s.activated.connect(fn)

        sc("F1", self.show_help)
        sc("F11", self.toggle_patient_view)
        sc("F2", lambda: self.show_page("live"))
        sc("F3", lambda: self.show_page("tests"))
        sc("F4", lambda: self.show_page("results"))
        sc("F6", lambda: self.show_page("patients"))
        sc("F5", self.start_test)
        sc("Space", self.session.next_stage)
        sc("Escape", lambda: self.session.stop_test("stopped"))
        sc("L", lambda: self._mark("lost_balance"))
        sc("A", lambda: self._mark("assisted"))
        sc("N", lambda: self._mark("note"))
        sc("P", self.replay_bar.toggle)
        sc("Ctrl+O", self.ask_open)

    #: Keys of a running test (Space, L, A, N, Esc): shortcuts even when a field has focus.
    TEST_KEYS = (Qt.Key.Key_Space, Qt.Key.Key_L, Qt.Key.Key_A, Qt.Key.Key_N, Qt.Key.Key_Escape)

    def eventFilter(self, obj, event) -> bool:  # noqa: N802 (Qt name)
        """While a test runs, a focused field (the target radius box, a list) must not eat
        the therapist's test keys: its shortcut override is refused, so the shortcut fires."""
        if (
            event.type() == QEvent.Type.ShortcutOverride
            and isinstance(obj, QWidget)
            and obj.window() is self
            and event.key() in self.TEST_KEYS
            and event.modifiers() == Qt.KeyboardModifier.NoModifier
            and self.test_running()
        ):
            event.ignore()
            return True
        return super().eventFilter(obj, event)

    def test_running(self) -> bool:
        """True while a guided test runs (countdown included)."""
        return self.session.run is not None and not self.session.run.finished

    def _mark(self, kind: str) -> None:
        """A marker shortcut: added during a test, else the status bar says why not."""
        if not self.test_running():
            self.statusBar().showMessage(
                "Markers are for a running test: start one with F5 (Guided tests, F3).", 6000
            )
            return
        if kind == "note":
            self.tests.run_page.ask_note()
        else:
            self.tests.run_page.mark(kind)
            self.statusBar().showMessage(f"Marker: {kind.replace('_', ' ')}", 4000)

    def show_help(self) -> QMessageBox:
        """List every keyboard shortcut (non-modal)."""
        if self.help_box is None:
            rows = "".join(
                f"<tr><td style='padding-right:14px'><b>{k}</b></td><td>{v}</td></tr>"
                for k, v in SHORTCUTS
            )
            box = QMessageBox(self)
            box.setIcon(QMessageBox.Icon.Information)
            box.setWindowTitle("Poise: keyboard shortcuts")
            box.setText("<b>Keyboard shortcuts</b>")
            box.setInformativeText(
                f"<table>{rows}</table><p>Markers and Space work while a test runs, "
                "from any page.</p>"
            )
            box.setStandardButtons(QMessageBox.StandardButton.Close)
            self.help_box = box
        self.help_box.open()
        return self.help_box

    def toggle_patient_view(self) -> None:
        """Open or close the patient's full-screen sway view (of the page shown)."""
        running = self.pages.currentWidget() is self.tests and (
            self.tests.currentWidget() is self.tests.run_page
        )
        panel = self.tests.run_page.sway if running else self.live.sway_panel
        panel.toggle_patient_view()

    def show_page(self, key: str) -> None:
        """Show ``"live"``, ``"tests"``, ``"results"`` or ``"patients"``."""
        page = {
            "live": self.live,
            "tests": self.tests,
            "results": self.results,
            "patients": self.patients,
        }[key]
        self.pages.setCurrentWidget(page)
        for k, b in self.nav_buttons.items():
            b.setChecked(k == key)
        # the live page draws frames; the others only need the poll
        period_s = 1.0 / LIVE_FPS if page is self.live else self._poll_period_s
        self.poll_timer.setInterval(int(1000 * period_s))

    def _tick(self) -> None:
        """Poll the session when due, then draw the live view's frame: one wake-up for both
        (on an idle core every wake-up is dear, and the frame then shows what the poll just
        computed). A poll is due half a tick early, so 16-ms frames poll every other frame."""
        now = time.monotonic()
        if now - self._polled_at >= self._poll_period_s - self.poll_timer.interval() / 2000:
            self._polled_at = now
            self._poll()
        if self.pages.currentWidget() is self.live:
            self.live.refresh()

    def _poll(self) -> None:
        try:
            self.session.poll()
        except Exception as exc:  # keep the app alive, tell the user
            log.exception("session poll failed")
            show_exception(self, exc, "The session failed")

    def _guard(self, title: str, fn, *args) -> bool:
        try:
            fn(*args)
            return True
        except Exception as exc:
            log.exception(title)
            show_exception(self, exc, title)
            return False

    def _show_patient(self) -> None:
        p = self.session.patient
        if p is None:
            text, style = "Patient: choose…", "background: #fde9c8; font-weight: 600;"
        elif p.get("anonymous"):
            text, style = "Patient: anonymous", ""
        else:
            demo = p.get("demographics") or {}
            age = f", {int(demo['age'])} y" if demo.get("age") is not None else ""
            text, style = f"Patient: {p.get('pseudonym')}{age}", "font-weight: 600;"
        self.patient_btn.setText(text)
        self.patient_btn.setStyleSheet(f"font-size: 11pt; padding: 6px 10px; {style}")

    def _back_to_tests(self) -> None:
        self.tests.show_pick()
        self.show_page("tests")

    def choose_patient(self, then=None):
        """Ask whose session this is (a patient, a new one, or anonymous); then ``then()``.

        Returns the (non-modal) dialog.
        """
        from gui.patients import PatientChooser, PatientsPage

        page = self.patients
        if not isinstance(page, PatientsPage) or page.open_store() is None:
            box = show_error(
                self,
                "No patient store",
                "The patient store can not be used, so this session can only be anonymous: "
                "norms that need age or sex are not rated.",
            )
            anon = box.addButton("Anonymous session", QMessageBox.ButtonRole.AcceptRole)
            anon.clicked.connect(lambda: self._use_patient(None, then))
            return box
        self.chooser = PatientChooser(page, self)
        self.chooser.chosen.connect(lambda p: self._use_patient(p, then))
        self.chooser.open()
        return self.chooser

    def _use_patient(self, patient, then=None) -> None:
        def use() -> None:
            if patient is None:
                self.session.set_patient(None)
            else:
                self.session.set_patient(patient.pseudonym, patient.demographics())

        if self._guard("Could not change the session's patient", use) and then is not None:
            then()

    def start_test(self, test: str | None = None, *, anyway: bool = False) -> None:
        """Start the selected (or given) guided test.

        Without a patient the patient is asked first; a quiet-stance test while the patient
        walks or moves asks whether to start anyway.
        """
        if self.session.run is not None and not self.session.run.finished:
            return
        self.show_page("tests")
        if self.session.patient is None and self.session.kind == "live":
            self.choose_patient(then=lambda: self.start_test(test))
            return
        key = test or self.tests.pick.selected()
        warning = None if anyway else self.session.start_warning(key)
        if warning:
            self._ask_start_anyway(key, warning)
            return
        if self._guard("Could not start the test", self.tests.start, test) and anyway:
            reason = self._pending_warning or "not standing still"
            self.session.add_marker("note", f"started while {reason}")

    _pending_warning: str | None = None

    def _ask_start_anyway(self, key: str, warning: str) -> QMessageBox:
        from poise.protocols import PROTOCOLS

        title = PROTOCOLS[key].title if key in PROTOCOLS else key

        def anyway() -> None:
            self._pending_warning = warning
            self.start_test(key, anyway=True)
            self._pending_warning = None

        self.confirm_box = ask(
            self,
            "not standing still",
            f"{warning[0].upper() + warning[1:]}.",
            f"The {title} measures quiet stance: wait until the patient stands still. "
            "Starting now, the note is saved with the result.",
            "Start anyway",
            anyway,
            "Wait",
            warning=True,
        )
        return self.confirm_box

    def set_source(self, source) -> bool:
        """Use a new source (stops the previous one and closes its recording)."""
        return self._guard("Could not start", self.session.set_source, source)

    def connect_demo(self, demo: int | str) -> None:
        """Demo sensors through the full BLE stack: ``N`` Poise wearables or a ``KIND:N,...``
        spec of virtual twins."""
        from poise.sources import make_demo_source

        try:
            src = make_demo_source(demo, self.demo_rate_hz)
        except Exception as exc:
            show_exception(self, exc, "Could not start demo sensors")
            return
        self.set_source(src)

    def scan(self) -> None:
        """Scan for real sensors in the background; offer demo sensors when none is found."""
        import concurrent.futures

        from poise.sources import scan_sensors

        if getattr(self, "_scan_future", None) is not None:
            return
        self.statusBar().showMessage("Scanning for sensors…")
        self.sensors_panel.scan_btn.setEnabled(False)
        pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self._scan_future: concurrent.futures.Future[list[Any]] | None = pool.submit(
            scan_sensors, 4.0
        )
        pool.shutdown(wait=False)
        self._scan_timer = QTimer(self)
        self._scan_timer.setInterval(100)
        self._scan_timer.timeout.connect(self._scan_done)
        self._scan_timer.start()

    def _scan_done(self) -> None:
        fut = self._scan_future
        if fut is None or not fut.done():
            return
        self._scan_timer.stop()
        self._scan_future = None
        self.sensors_panel.scan_btn.setEnabled(True)
        try:
            found = fut.result()
        except Exception as exc:
            self._offer_demo("No Bluetooth", f"{exc}.")
            return
        if not found:
            self._offer_demo(
                "No sensors found",
                "No supported sensor answered. Switch them on and bring them close.",
            )
            return
        from poise.sources import BleSource

        specs = [
            {
                "address": r.address,
                "name": r.name,
                "kind": r.kind,
                "device": r.device,
                "placement": placements.DEFAULT_ORDER[i],
            }
            for i, r in enumerate(found[:4])
        ]
        self.statusBar().showMessage(f"Found {len(found)} sensor(s); connecting…")
        try:
            self.set_source(BleSource(specs))
        except Exception as exc:
            show_exception(self, exc, "Could not connect")

    def _offer_demo(self, title: str, message: str) -> None:
        box = show_error(self, title, message + " You can try Poise with demo sensors.")
        demo = box.addButton("Use demo sensors", QMessageBox.ButtonRole.AcceptRole)
        demo.clicked.connect(lambda: self.connect_demo(1))
        self.statusBar().showMessage(title)

    def ask_open(self) -> None:
        """Ask for a recording and replay it."""
        folder = str(self.session.data_dir / "recordings")
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Open recording",
            folder,
            "Poise recordings (*.poise);;CSV files (*.csv);;All files (*)",
        )
        if path:  # at the speed the therapist chose for the last one
            self.open_recording(path, speed=self.replay_bar.current_speed())

    def open_recording(
        self,
        path: str | Path,
        speed: float = 1.0,
        autoplay: bool = True,
        rate_hz: float | None = None,
    ) -> bool:
        """Replay a recording (or a CSV) with the same views and analysis as live."""
        from poise.sources import ReplaySource

        try:
            src = ReplaySource(path, speed=speed, autoplay=autoplay, rate_hz=rate_hz)
        except Exception as exc:
            show_exception(self, exc, "Could not open the recording")
            return False
        ok = self.set_source(src)
        if ok and src.warning:  # say what is damaged; the intact part plays
            show_error(self, "Damaged recording", f"{Path(path).name}: {src.warning}")
        return ok

    def ask_end_session(self, then=None) -> QMessageBox | None:
        """The End session button: asks first while a test runs (non-modal), else ends.

        ``then`` runs after the session ended (closing the window uses it).
        """

        def end() -> None:
            self.end_session()
            if then is not None:
                then()

        if not self.test_running():
            end()
            return None
        self.confirm_box = ask(
            self,
            "end the session?",
            "A test is running.",
            "End the session anyway? The test stops; everything recorded so far is kept.",
            "End session" if then is None else "End and close",
            end,
            "Keep going",
            warning=True,
        )
        return self.confirm_box

    def end_session(self) -> None:
        """Stop the source and close the recording."""
        path = self.session.recording_path
        self._guard("Could not end the session", self.session.stop)
        self.rec_label.setText("")
        if path:
            self.statusBar().showMessage(f"Session saved: {Path(path).name} (recordings folder)")

    _closing = False

    def _close_now(self) -> None:
        self._closing = True
        self.close()

    def _source_changed(self, kind: str) -> None:
        self.rec_label.setText("")
        src = self.session.source
        desc = str(getattr(src, "description", kind))
        path = getattr(src, "path", None)
        if path is not None:  # a long path would run under the keys: the file's name
            desc = desc.replace(str(path), Path(path).name)
        self.statusBar().showMessage("Session ended." if kind == "none" else desc)
        self.tests.show_pick()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Stop everything; the recording is closed cleanly. During a test, ask first."""
        if self.test_running() and not self._closing:
            event.ignore()
            self.ask_end_session(then=self._close_now)
            return
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)
        self.poll_timer.stop()
        for panel in (self.live.sway_panel, self.tests.run_page.sway):
            if panel.patient is not None:
                panel.patient.close()
        try:
            self.session.close()
        except Exception:
            log.exception("closing the session failed")
        super().closeEvent(event)

"""Patients page: the patient list, each patient's sessions, progress, reports and exports.

:class:`PatientsPage` owns a :class:`poise.store.Store` on the data folder. Actions:
add/delete a patient, import a recording into the selected patient, session report PDF,
progress report PDF, CSV and FHIR export. Dialog-free methods (``add_patient``,
``import_recording``, ``export_pdf``...) do the work; the buttons only ask for file names,
so tests drive the same code as the user.

If the store can not be opened (damaged or newer database) the page says why instead of
the list and nothing is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QShowEvent
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSpinBox,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui.errors import ask
from gui.progress import STATUS_QCOLOURS, ProgressView
from gui.widgets import styled_label
from poise.errors import PoiseError
from poise.progress import patient_progress
from poise.reports import LEVEL_TEXT
from poise.service import display_time, import_recording
from poise.store import Patient, PatientMismatch, SessionRecord, Store, StoreError

log = logging.getLogger(__name__)

__all__ = ["AddPatientDialog", "PatientChooser", "PatientsPage", "patient_summary"]

_LEVEL_STATUS = {"high": "at_risk", "moderate": "elevated", "low": "normal"}


class AddPatientDialog(QDialog):
    """Pseudonym, birth year, sex, height, weight, notes.

    Parameters
    ----------
    submit
        Called with :meth:`values` on OK; a :class:`poise.store.StoreError` or ``ValueError``
        it raises is shown in the dialog, which stays open with what was typed (an empty
        pseudonym is refused before asking).
    """

    def __init__(
        self, parent: QWidget | None = None, submit: Callable[[dict], Any] | None = None
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Add patient")
        self.submit = submit
        self.added: Any = None
        form = QFormLayout(self)
        self.pseudonym = QLineEdit()
        self.pseudonym.setPlaceholderText("pseudonym, e.g. P-0042 (no names)")
        self.birth_year = QSpinBox()
        self.birth_year.setRange(1900, 2030)
        self.birth_year.setValue(1950)
        self.sex = QComboBox()
        self.sex.addItems(["", "female", "male"])
        self.height_m = QDoubleSpinBox()
        self.height_m.setRange(0.0, 2.5)
        self.height_m.setDecimals(2)
        self.height_m.setSuffix(" m")
        self.height_m.setSpecialValueText("unknown")
        self.weight = QDoubleSpinBox()
        self.weight.setRange(0.0, 300.0)
        self.weight.setDecimals(0)
        self.weight.setSuffix(" kg")
        self.weight.setSpecialValueText("unknown")
        self.notes = QLineEdit()
        self.error = styled_label("color: #d62728; font-weight: 600;", wrap=True)
        self.error.setVisible(False)
        form.addRow("Pseudonym", self.pseudonym)
        form.addRow("Birth year", self.birth_year)
        form.addRow("Sex", self.sex)
        form.addRow("Height", self.height_m)
        form.addRow("Weight", self.weight)
        form.addRow("Notes", self.notes)
        form.addRow(self.error)
        bb = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel
        )
        bb.accepted.connect(self.accept)
        bb.rejected.connect(self.reject)
        form.addRow(bb)

    def values(self) -> dict[str, Any]:
        """The fields as :meth:`poise.store.Store.add_patient` arguments."""
        return {
            "pseudonym": self.pseudonym.text().strip(),
            "birth_year": self.birth_year.value(),
            "sex": {"female": "f", "male": "m"}.get(self.sex.currentText()),
            "height_m": self.height_m.value() or None,
            "weight_kg": self.weight.value() or None,
            "notes": self.notes.text(),
        }

    def show_error(self, message: str) -> None:
        """Say what is wrong, in the dialog (it stays open)."""
        self.error.setText(message)
        self.error.setVisible(True)

    def accept(self) -> None:  # noqa: D102 (Qt slot)
        v = self.values()
        if not v["pseudonym"]:
            self.show_error("Give a pseudonym (no names), e.g. P-0042.")
            self.pseudonym.setFocus()
            return
        if self.submit is not None:
            try:
                self.added = self.submit(v)
            except (StoreError, ValueError) as exc:
                self.show_error(str(exc))
                return
        super().accept()


class PatientChooser(QDialog):
    """Whose session is this? A patient from the store, a new one, or anonymous.

    Emits :attr:`chosen` with a :class:`poise.store.Patient`, or ``None`` for an anonymous
    session (norms that need age or sex are then not rated).
    """

    chosen = Signal(object)

    def __init__(self, page: PatientsPage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.page = page
        self.setWindowTitle("Poise: whose session is this?")
        lay = QVBoxLayout(self)
        head = QLabel(
            "<b>Choose the patient of this session.</b> Their age, sex, height and weight "
            "rate the results against the norms and are saved with every result."
        )
        head.setWordWrap(True)
        lay.addWidget(head)
        self.list = QListWidget()
        self.list.setMinimumHeight(180)
        store = page.open_store()
        current = page.patient.pseudonym if page.patient else None
        for pt in store.list_patients() if store else []:
            item = QListWidgetItem(patient_summary(pt))
            item.setData(Qt.ItemDataRole.UserRole, pt.id)
            self.list.addItem(item)
            if pt.pseudonym == current:
                self.list.setCurrentItem(item)
        if self.list.currentItem() is None and self.list.count():
            self.list.setCurrentRow(0)
        self.list.itemDoubleClicked.connect(lambda _i: self._use())
        lay.addWidget(self.list, 1)
        row = QHBoxLayout()
        self.use_btn = QPushButton("Use this patient")
        self.use_btn.setDefault(True)
        self.use_btn.setEnabled(self.list.count() > 0)
        self.use_btn.clicked.connect(self._use)
        self.add_btn = QPushButton("Add patient…")
        self.add_btn.clicked.connect(self._add)
        self.anon_btn = QPushButton("Anonymous (norms not rated)")
        self.anon_btn.clicked.connect(lambda: self._done(None))
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.clicked.connect(self.reject)
        for b in (self.use_btn, self.add_btn, self.anon_btn, self.cancel_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.add_dialog: AddPatientDialog | None = None

    def select(self, pseudonym: str) -> None:
        """Select a patient by pseudonym."""
        for i in range(self.list.count()):
            if self.list.item(i).text().split(" ·")[0] == pseudonym:
                self.list.setCurrentRow(i)
                return
        raise KeyError(pseudonym)

    def _use(self) -> None:
        item = self.list.currentItem()
        store = self.page.store
        if item is not None and store is not None:
            self._done(store.get_patient(int(item.data(Qt.ItemDataRole.UserRole))))

    def _add(self) -> None:
        def submit(v: dict) -> Any:
            return self.page.add_patient(v.pop("pseudonym"), **v)

        self.add_dialog = AddPatientDialog(self, submit=submit)
        self.add_dialog.accepted.connect(lambda: self._done(self.add_dialog.added))
        self.add_dialog.open()

    def _done(self, patient: Any) -> None:
        self.chosen.emit(patient)
        self.accept()


def patient_summary(patient: Patient, date: Any = None) -> str:
    """``P-7 · 78 y · female · 1.62 m · 60 kg`` (what is known)."""
    bits = [patient.pseudonym]
    age = patient.age_at(date)
    bits.append(f"{age} y" if age is not None else "age unknown")
    bits.append({"f": "female", "m": "male"}.get(patient.sex or "", "sex unknown"))
    if patient.height_m:
        bits.append(f"{patient.height_m:.2f} m")
    if patient.weight_kg:
        bits.append(f"{patient.weight_kg:.0f} kg")
    return " · ".join(bits)


class PatientsPage(QWidget):
    """Patient list | sessions and progress of the selected patient.

    Parameters
    ----------
    data_dir
        The data folder of the store (default: :func:`poise.store.default_data_dir`).
    store
        An open store to use instead.
    session
        The therapist's live :class:`poise.session.Session`, if any: "Use for this session"
        makes the selected patient the session's (their demographics rate the live results
        and go into the recording), a patient added while the session has none becomes
        its patient, and "Add last recording" imports its latest closed recording into the
        selected patient. Only browsing the list never changes whose session it is.
    """

    patient_changed = Signal(object)

    def __init__(
        self,
        data_dir: str | Path | None = None,
        store: Store | None = None,
        parent: QWidget | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(parent)
        self.store: Store | None = store
        self.error: str | None = None
        self.data_dir = data_dir
        self.live_session = session
        self._opened = store is not None
        self.patient: Patient | None = None
        outer = QVBoxLayout(self)
        self.message = styled_label("color: #d62728; font-weight: 600;", wrap=True)
        self.message.setVisible(False)
        outer.addWidget(self.message)

        split = QSplitter(Qt.Orientation.Horizontal)
        left = QWidget()
        ll = QVBoxLayout(left)
        ll.setContentsMargins(0, 0, 0, 0)
        ll.addWidget(QLabel("Patients"))
        self.list = QListWidget()
        self.list.currentItemChanged.connect(self._selected)
        ll.addWidget(self.list, 1)
        self.add_btn = QPushButton("Add patient…")
        self.add_btn.clicked.connect(self.ask_add_patient)
        self.del_btn = QPushButton("Delete patient…")
        self.del_btn.clicked.connect(self.ask_delete_patient)
        ll.addWidget(self.add_btn)
        ll.addWidget(self.del_btn)
        split.addWidget(left)

        right = QWidget()
        rl = QVBoxLayout(right)
        rl.setContentsMargins(0, 0, 0, 0)
        self.info = styled_label("font-size: 11pt;", "")
        rl.addWidget(self.info)
        actions = QHBoxLayout()
        self.import_btn = QPushButton("Import recording…")
        self.import_btn.clicked.connect(self.ask_import)
        self.session_pdf_btn = QPushButton("Session report (PDF)…")
        self.session_pdf_btn.clicked.connect(lambda: self.ask_pdf("session"))
        self.progress_pdf_btn = QPushButton("Progress report (PDF)…")
        self.progress_pdf_btn.clicked.connect(lambda: self.ask_pdf("progress"))
        self.csv_btn = QPushButton("Export CSV…")
        self.csv_btn.clicked.connect(lambda: self.ask_export("csv"))
        self.fhir_btn = QPushButton("Export FHIR…")
        self.fhir_btn.clicked.connect(lambda: self.ask_export("fhir"))
        self.last_btn = QPushButton("Add last recording")
        self.last_btn.setToolTip("Import the latest recording of this session for the patient")
        self.last_btn.clicked.connect(self.ask_add_last_recording)
        self.last_btn.setVisible(session is not None)
        self.use_btn = QPushButton("Use for this session")
        self.use_btn.setToolTip("This patient's data rate the live results and are recorded")
        self.use_btn.clicked.connect(self.ask_use_for_session)
        self.use_btn.setVisible(session is not None)
        # two rows, so the page fits beside the sensors panel at 1366 x 768
        for b in (self.use_btn, self.import_btn, self.last_btn):
            actions.addWidget(b)
        actions.addStretch(1)
        rl.addLayout(actions)
        exports = QHBoxLayout()
        for b in (self.session_pdf_btn, self.progress_pdf_btn, self.csv_btn, self.fhir_btn):
            exports.addWidget(b)
        exports.addStretch(1)
        rl.addLayout(exports)
        self.tabs = QTabWidget()
        self.sessions = QTableWidget(0, 5)
        self.sessions.setHorizontalHeaderLabels(["Date", "Kind", "Tests", "Fall risk", "Recording"])
        self.sessions.verticalHeader().setVisible(False)
        self.sessions.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.sessions.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.sessions.setSelectionMode(QTableWidget.SelectionMode.SingleSelection)
        self.sessions.horizontalHeader().setSectionResizeMode(
            QHeaderView.ResizeMode.ResizeToContents
        )
        self.sessions.horizontalHeader().setStretchLastSection(True)
        self.progress_view = ProgressView()
        self.tabs.addTab(self.sessions, "Sessions")
        self.tabs.addTab(self.progress_view, "Progress")
        rl.addWidget(self.tabs, 1)
        split.addWidget(right)
        split.setStretchFactor(1, 1)
        split.setSizes([220, 1100])
        outer.addWidget(split, 1)
        if self._opened:
            self.refresh()
        else:
            self._show(None)

    def open_store(self) -> Store | None:
        """Open the store on first use (the page does not touch the database before)."""
        if not self._opened:
            self._opened = True
            try:
                self.store = Store(self.data_dir)
            except (StoreError, OSError) as exc:
                self.error = str(exc)
                self.message.setText(f"The patient store can not be used: {exc}")
                self.message.setVisible(True)
            self.refresh()
        return self.store

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 (Qt name)
        """Open the store when the page is first shown."""
        self.open_store()
        super().showEvent(event)

    # ------------------------------------------------------------------ model -> view
    def refresh(self, select: str | None = None) -> None:
        """Reload the patient list (keeping or setting the selection)."""
        keep = select or (self.patient.pseudonym if self.patient else None)
        self.list.blockSignals(True)
        self.list.clear()
        patients = self.store.list_patients() if self.store else []
        for p in patients:
            item = QListWidgetItem(p.pseudonym)
            item.setData(Qt.ItemDataRole.UserRole, p.id)
            self.list.addItem(item)
        self.list.blockSignals(False)
        row = next((i for i, p in enumerate(patients) if p.pseudonym == keep), None)
        if row is None and patients:
            row = 0
        if row is not None:
            self.list.setCurrentRow(row)
            self._show(patients[row])
        else:
            self._show(None)

    def _selected(self, item: QListWidgetItem | None, _prev: Any = None) -> None:
        if item is None or self.store is None:
            self._show(None)
            return
        self._show(self.store.get_patient(int(item.data(Qt.ItemDataRole.UserRole))))

    def select_patient(self, pseudonym: str) -> None:
        """Select a patient by pseudonym."""
        self.refresh(select=pseudonym)

    def _show(self, patient: Patient | None) -> None:
        self.patient = patient
        has = patient is not None
        for b in (
            self.del_btn,
            self.use_btn,
            self.import_btn,
            self.session_pdf_btn,
            self.progress_pdf_btn,
            self.csv_btn,
            self.fhir_btn,
        ):
            b.setEnabled(has and self.store is not None)
        self.import_btn.setEnabled(self.store is not None)
        self.add_btn.setEnabled(self.store is not None)
        self.sessions.setRowCount(0)
        if patient is None or self.store is None:
            self.info.setText("No patient selected." if self.store else "")
            self.progress_view.set_progress(None)
            self.patient_changed.emit(None)
            return
        sex = {"f": "female", "m": "male"}.get(patient.sex or "", "sex unknown")
        bits = [
            f"<b>{patient.pseudonym}</b>",
            f"born {patient.birth_year}" if patient.birth_year else "birth year unknown",
            sex,
            f"{patient.height_m:.2f} m" if patient.height_m else "",
            f"{patient.weight_kg:.0f} kg" if patient.weight_kg else "",
        ]
        text = " · ".join(b for b in bits if b)
        if patient.notes:
            text += f"<br><i>{patient.notes}</i>"
        self.info.setText(text)
        sessions = self.store.sessions(patient)
        self.sessions.setRowCount(len(sessions))
        for r, s in enumerate(sessions):
            level = (s.fall_risk or {}).get("level", "not_determined")
            cells = [
                display_time(s.date),
                s.kind,
                ", ".join(s.tests),
                LEVEL_TEXT.get(level, level),
                Path(s.recording_path).name if s.recording_path else "–",
            ]
            for c, t in enumerate(cells):
                item = QTableWidgetItem(t)
                item.setData(Qt.ItemDataRole.UserRole, s.id)
                if c == 3 and _LEVEL_STATUS.get(level) in STATUS_QCOLOURS:
                    bg = STATUS_QCOLOURS[_LEVEL_STATUS[level]]
                    bg = type(bg)(bg)
                    bg.setAlpha(60)
                    item.setBackground(bg)
                self.sessions.setItem(r, c, item)
        if sessions:
            self.sessions.selectRow(len(sessions) - 1)
        self.progress_view.set_progress(patient_progress(self.store, patient))
        self._show_session_patient()
        self.patient_changed.emit(patient)

    def _show_session_patient(self) -> None:
        sess = self.live_session
        if sess is None:
            return
        current = (getattr(sess, "patient", None) or {}).get("pseudonym")
        mine = self.patient is not None and current == self.patient.pseudonym
        self.use_btn.setEnabled(self.patient is not None and not mine)
        self.use_btn.setText("Session patient ✔" if mine else "Use for this session")

    def selected_session_id(self) -> int | None:
        """The session selected in the table (the latest if none)."""
        rows = (
            self.sessions.selectionModel().selectedRows() if self.sessions.selectionModel() else []
        )
        r = rows[0].row() if rows else self.sessions.rowCount() - 1
        if r < 0:
            return None
        item = self.sessions.item(r, 0)
        return int(item.data(Qt.ItemDataRole.UserRole)) if item else None

    # ------------------------------------------------------------------ actions
    def _fail(self, title: str, exc: Exception) -> None:
        log.warning("%s: %s", title, exc)
        QMessageBox.warning(self, title, str(exc))

    def add_patient(self, pseudonym: str, **fields: Any) -> Patient:
        """Add a patient and select it; a live session without a patient gets this one."""
        self.open_store()
        assert self.store is not None
        p = self.store.add_patient(pseudonym, **fields)
        self.refresh(select=p.pseudonym)
        sess = self.live_session
        if sess is not None and getattr(sess, "patient", None) is None:
            self.use_for_session(p)
        return p

    def ask_add_patient(self) -> AddPatientDialog:
        """The add-patient dialog (non-modal; an error keeps it open with what was typed)."""

        def submit(v: dict) -> Patient:
            return self.add_patient(v.pop("pseudonym"), **v)

        self.add_dialog = AddPatientDialog(self, submit=submit)
        self.add_dialog.open()
        return self.add_dialog

    def use_for_session(self, patient: Patient | None = None) -> None:
        """Make ``patient`` (default: the selected one; ``None`` with nobody selected is
        refused) the live session's patient."""
        sess = self.live_session
        p = patient or self.patient
        if sess is None or p is None:
            raise StoreError("select the patient first")
        sess.set_patient(p.pseudonym, p.demographics())
        self._show_session_patient()

    def ask_use_for_session(self) -> None:
        """Button: use the selected patient, or say why not."""
        try:
            self.use_for_session()
        except PoiseError as exc:
            self._fail("Could not change the session's patient", exc)

    def delete_patient(self) -> int:
        """Delete the selected patient with all their data; returns files deleted."""
        assert self.store is not None and self.patient is not None
        n = self.store.delete_patient(self.patient)
        self.patient = None
        self.refresh()
        return n

    def ask_delete_patient(self) -> None:
        """Confirm, then delete."""
        if self.patient is None:
            return
        answer = QMessageBox.question(
            self,
            "Delete patient",
            f"Delete {self.patient.pseudonym} with all sessions, results, plans and the "
            "recordings stored for them? This can not be undone.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_patient()

    def import_recording(
        self,
        path: str | Path,
        patient: int | str | Patient | None = None,
        reassign: bool = False,
        **kw: Any,
    ) -> SessionRecord:
        """Import a recording: into ``patient``, else the patient it names, else the
        selected patient.

        Raises :class:`poise.store.PatientMismatch` when the recording names another patient
        than the one it would be filed under and ``reassign`` is false (ask the user first:
        :meth:`ask_reassign`).
        """
        self.open_store()
        assert self.store is not None
        if patient is None:
            try:
                rec = import_recording(self.store, path, **kw)
            except PatientMismatch:
                raise
            except StoreError:  # names nobody, or somebody not in the store
                if self.patient is None:
                    raise
                rec = import_recording(
                    self.store, path, patient=self.patient.id, reassign=reassign, **kw
                )
        else:
            rec = import_recording(self.store, path, patient=patient, reassign=reassign, **kw)
        self.refresh(select=self.store.get_patient(rec.patient_id).pseudonym)
        return rec

    def ask_reassign(self, exc: PatientMismatch, retry: Callable[[], Any]) -> QMessageBox:
        """Ask before filing a recording under another patient than the one it names."""

        def confirmed() -> None:
            try:
                retry()
            except (StoreError, ValueError, OSError) as err:
                self._fail("Could not import the recording", err)

        self.confirm_box = ask(
            self,
            "another patient?",
            f"This recording is the session of {exc.named}.",
            f"File it under {exc.chosen} anyway? Only if the recording really is theirs: "
            "its results are then rated with their age and sex.",
            f"File under {exc.chosen}",
            confirmed,
        )
        return self.confirm_box

    def ask_import(self) -> None:
        """Pick a recording and import it."""
        start = Path(self.store.data_dir / "recordings") if self.store else Path.home()
        path, _ = QFileDialog.getOpenFileName(
            self,
            "Import recording",
            str(start if start.is_dir() else Path.home()),
            "Poise recordings (*.poise)",
        )
        if path:
            self.import_or_ask(path)

    def import_or_ask(self, path: str | Path) -> Any:
        """Import ``path``; a recording of another patient asks first (returns the box)."""
        try:
            return self.import_recording(path)
        except PatientMismatch as exc:
            chosen = exc.chosen
            return self.ask_reassign(
                exc, lambda: self.import_recording(path, patient=chosen, reassign=True)
            )
        except (StoreError, ValueError, OSError) as exc:
            self._fail("Could not import the recording", exc)
            return None

    def add_last_recording(self, reassign: bool = False) -> Any:
        """Import the live session's latest recording into the selected patient."""
        sess = self.live_session
        path = getattr(sess, "recording_path", None) if sess is not None else None
        if self.patient is None:
            raise StoreError("select the patient first")
        if not path:
            raise StoreError("this session has no recording yet")
        if getattr(sess, "recorder", None) is not None:
            raise StoreError("the recording is still open: end the session first")
        return self.import_recording(path, patient=self.patient.id, reassign=reassign)

    def ask_add_last_recording(self) -> None:
        """Button: import the latest recording, or say why not."""
        try:
            s = self.add_last_recording()
        except PatientMismatch as exc:
            self.ask_reassign(exc, lambda: self.add_last_recording(reassign=True))
            return
        except (StoreError, ValueError, OSError) as exc:
            self._fail("Could not add the recording", exc)
            return
        QMessageBox.information(
            self,
            "Session added",
            f"Added the session of {display_time(s.date)} ({', '.join(s.tests) or 'no tests'}).",
        )

    def report(self, kind: str) -> dict[str, Any]:
        """The report data of the selected session or the patient's progress."""
        from poise.reports import progress_report, session_report

        assert self.store is not None and self.patient is not None
        if kind == "progress":
            return progress_report(self.store, self.patient, self.progress_view.progress)
        sid = self.selected_session_id()
        if sid is None:
            raise StoreError(f"{self.patient.pseudonym} has no session yet")
        return session_report(self.store.get_session(sid), self.patient)

    def export_pdf(self, kind: str, path: str | Path, page: str = "a4") -> dict[str, Any]:
        """Write a session or progress report PDF; returns the report data."""
        from gui.report_pdf import write_pdf

        rep = self.report(kind)
        write_pdf(rep, path, page)
        return rep

    def ask_pdf(self, kind: str) -> None:
        """Ask for a file name and write the report."""
        if self.patient is None:
            return
        name = f"{self.patient.pseudonym}-{kind}-report.pdf"
        path, filt = QFileDialog.getSaveFileName(
            self, "Save report", str(Path.home() / name), "PDF, A4 (*.pdf);;PDF, Letter (*.pdf)"
        )
        if path:
            try:
                self.export_pdf(kind, path, "letter" if "Letter" in filt else "a4")
            except (StoreError, ValueError, OSError) as exc:
                self._fail("Could not write the report", exc)

    def export(self, fmt: str, path: str | Path) -> int:
        """Write the CSV or FHIR export of the selected patient; returns rows/observations."""
        assert self.store is not None and self.patient is not None
        if fmt == "csv":
            from poise.reports import write_results_csv

            return write_results_csv(self.store, self.patient, str(path))
        from poise.fhir import write_bundle

        return write_bundle(self.store, self.patient, str(path))

    def ask_export(self, fmt: str) -> None:
        """Ask for a file name and export."""
        if self.patient is None:
            return
        ext = "csv" if fmt == "csv" else "json"
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Export results",
            str(Path.home() / f"{self.patient.pseudonym}-results.{ext}"),
            f"{fmt.upper()} (*.{ext})",
        )
        if path:
            try:
                self.export(fmt, path)
            except (StoreError, ValueError, OSError) as exc:
                self._fail("Could not export", exc)

    def close_store(self) -> None:
        """Close the database."""
        if self.store is not None:
            self.store.close()
            self.store = None

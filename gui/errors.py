"""A clear error dialog instead of a stack trace.

:func:`show_error` shows what went wrong in one or two sentences, with the technical
details folded away. :func:`install_excepthook` routes uncaught exceptions of the GUI
thread to it (and to the log), so the app keeps running. Dialogs are shown non-modally
(``open``), so headless runs and tests never block on them; they are kept in
:data:`OPEN_DIALOGS` for tests to inspect.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

from PySide6.QtWidgets import QApplication, QMessageBox, QWidget

log = logging.getLogger(__name__)

#: Error dialogs currently shown (tests look here).
OPEN_DIALOGS: list[QMessageBox] = []


def friendly_message(exc: BaseException) -> str:
    """One readable sentence for an exception (no class paths for the user's errors)."""
    name = type(exc).__name__
    text = _drop_repeats(str(exc) or name)
    if name in ("PoiseError", "RecordingError", "ProtocolError", "FileNotFoundError"):
        return text
    if isinstance(exc, OSError):
        return f"A file or device could not be used: {text}"
    if isinstance(exc, ValueError):
        return text
    return f"Something went wrong ({name}): {text}"


def _drop_repeats(text: str) -> str:
    """Say a path once: ``"f.poise: can not be replayed: f.poise: bad"`` -> ``"...replayed: bad"``."""
    words = text.split(": ")
    out: list[str] = []
    for w in words:
        if w not in out or len(w) < 12:  # a long repeated prefix is a path said twice
            out.append(w)
    return ": ".join(out)


def show_error(
    parent: QWidget | None, title: str, message: str, details: str | None = None
) -> QMessageBox:
    """Show an error dialog (non-modal) and return it."""
    log.error("%s: %s", title, message)
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning)
    box.setWindowTitle(f"Poise: {title}")
    box.setText(f"<b>{title}</b>")
    box.setInformativeText(message)
    box.setStyleSheet("QLabel#qt_msgbox_informativelabel { min-width: 440px; }")  # fewer wraps
    if details:
        box.setDetailedText(details)
    box.setStandardButtons(QMessageBox.StandardButton.Ok)
    OPEN_DIALOGS.append(box)
    box.finished.connect(lambda _r, b=box: OPEN_DIALOGS.remove(b) if b in OPEN_DIALOGS else None)
    box.open()
    return box


def ask(
    parent: QWidget | None,
    title: str,
    question: str,
    details: str,
    yes: str,
    on_yes: Callable[[], object],
    no: str = "Cancel",
    *,
    warning: bool = False,
) -> QMessageBox:
    """Ask before doing something (non-modal): ``on_yes`` runs when ``yes`` is clicked."""
    box = QMessageBox(parent)
    box.setIcon(QMessageBox.Icon.Warning if warning else QMessageBox.Icon.Question)
    box.setWindowTitle(f"Poise: {title}")
    box.setText(f"<b>{question}</b>")
    box.setInformativeText(details)
    role = QMessageBox.ButtonRole.DestructiveRole if warning else QMessageBox.ButtonRole.AcceptRole
    go = box.addButton(yes, role)
    box.addButton(no, QMessageBox.ButtonRole.RejectRole)
    go.clicked.connect(lambda: on_yes())
    box.open()
    return box


def show_exception(parent: QWidget | None, exc: BaseException, title: str = "Error") -> QMessageBox:
    """Show an exception as a friendly error with its traceback under "Details"."""
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return show_error(parent, title, friendly_message(exc), details)


def install_excepthook() -> None:
    """Show uncaught GUI-thread exceptions in the error dialog instead of crashing."""
    previous = sys.excepthook

    def hook(etype: type[BaseException], value: BaseException, tb: TracebackType | None) -> None:
        if issubclass(etype, KeyboardInterrupt):
            previous(etype, value, tb)
            return
        log.error("uncaught exception", exc_info=(etype, value, tb))
        if QApplication.instance() is None:
            previous(etype, value, tb)
            return
        try:
            parent = QApplication.activeWindow()
            show_exception(parent, value.with_traceback(tb), "Unexpected error")
        except Exception:  # never let the hook itself crash the app
            previous(etype, value, tb)

    sys.excepthook = hook

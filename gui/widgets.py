"""Small widget helpers shared by the windows and pages."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QLabel, QWidget


def styled_label(
    style: str, text: str = "", *, wrap: bool = False, align: Qt.AlignmentFlag | None = None
) -> QLabel:
    """A label with this style sheet (word-wrapped, aligned as asked)."""
    label = QLabel(text)
    label.setStyleSheet(style)
    label.setWordWrap(wrap)
    if align is not None:
        label.setAlignment(align)
    return label


class TimedWhileShown(QWidget):
    """A widget with a ``timer`` that runs only while the widget is shown.

    A hidden page or bar has nothing to redraw: its timer would wake the GUI thread for
    nothing (and on an idle core every wake-up costs).

    Parameters
    ----------
    interval_ms
        Period of the timer.
    slot
        What it calls.
    """

    def __init__(
        self, interval_ms: int, slot: Callable[[], None], parent: QWidget | None = None
    ) -> None:
        super().__init__(parent)
        self.timer = QTimer(self)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(slot)

    def showEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Start the timer."""
        self.timer.start()
        super().showEvent(event)

    def hideEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Stop the timer."""
        self.timer.stop()
        super().hideEvent(event)

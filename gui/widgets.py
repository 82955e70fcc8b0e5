"""Small widget helpers shared by the windows and pages."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel


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

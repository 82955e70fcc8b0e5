"""Fixtures shared by the GUI tests: the therapist's window on a fresh session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest


@pytest.fixture
def session(tmp_path: Path) -> Any:
    """A session whose data go to the test's temporary folder (a module may override it)."""
    from poise.session import Session

    return Session(data_dir=tmp_path)


@pytest.fixture
def window(qtbot, session) -> Iterator[Any]:
    """The therapist's window on ``session``, shown at 1366x768 and closed after the test
    without asking (a test still running at the end is ended with the window)."""
    import gui  # noqa: F401  (applies the PySide6 work-around first)
    from gui.app import make_app
    from gui.main_window import MainWindow

    make_app()
    import analysis.sway  # noqa: F401  (warm the imports before clocks run fast)
    import poise.assessments  # noqa: F401

    win = MainWindow(session)
    qtbot.addWidget(win)
    win.resize(1366, 768)
    win.show()
    yield win
    win._closing = True
    win.close()

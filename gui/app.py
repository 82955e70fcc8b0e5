"""Application entry: build the session and the main window, run, screenshot, quit.

``poise gui`` calls :func:`run`. Headless checks use ``screenshot``/``quit_after_s``: the
window is grabbed into a PNG just before quitting.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


def make_app(argv: list[str] | None = None) -> Any:
    """The ``QApplication`` (created once), with pyqtgraph's options."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(argv or [sys.argv[0]])
    app.setApplicationName("Poise")
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    font = app.font()
    if font.pointSize() < 10:
        font.setPointSize(10)
        app.setFont(font)
    return app


def save_screenshot(widget: Any, path: str | Path) -> Path:
    """Grab ``widget`` into a PNG (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write the screenshot {path}")
    return path


def run(
    *,
    demo: int = 0,
    replay: str | None = None,
    data_dir: str | None = None,
    record: bool = True,
    rate_hz: int | None = None,
    screenshot: str | None = None,
    quit_after_s: float | None = None,
    page: str = "live",
    scenario: str = "demo",
) -> int:
    """Start the GUI; returns the exit code."""
    from PySide6.QtCore import QTimer

    from gui.errors import install_excepthook, show_exception
    from gui.main_window import MainWindow
    from poise.session import Session

    app = make_app()
    install_excepthook()
    session = Session(data_dir=data_dir, record=record)
    win = MainWindow(session, demo_rate_hz=rate_hz or 100)
    win.show()
    if replay:
        win.open_recording(replay, rate_hz=rate_hz)
    elif demo:
        from poise.sources import make_demo_source

        try:
            win.set_source(make_demo_source(demo, rate_hz or 100, scenario=scenario))
        except Exception as exc:
            show_exception(win, exc, "Could not start demo sensors")
    else:
        # look for real sensors at once; the dialog offers demo sensors if none answers
        QTimer.singleShot(300, win.scan)
    win.show_page(page)
    if quit_after_s is not None:

        def finish() -> None:
            if screenshot:
                try:
                    save_screenshot(win, screenshot)
                    print(f"screenshot: {screenshot}")
                except OSError as exc:
                    print(f"poise gui: error: {exc}", file=sys.stderr)
            win._closing = True  # a scripted quit does not ask, even during a test
            win.close()
            app.quit()

        QTimer.singleShot(int(quit_after_s * 1000), finish)
    elif screenshot:
        QTimer.singleShot(3000, lambda: save_screenshot(win, screenshot))
    import signal

    # Ctrl+C in the terminal closes the window cleanly (the recording gets its END record)
    def interrupted(*_: Any) -> None:
        win._closing = True
        win.close()

    signal.signal(signal.SIGINT, interrupted)
    tick = QTimer()
    tick.timeout.connect(lambda: None)  # let Python run its signal handlers
    tick.start(250)
    code = app.exec()
    session.close()
    return int(code)


def headless() -> bool:
    """True when no display is available (Qt would fail to start)."""
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False

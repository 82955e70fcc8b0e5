"""Application entry: build the session and the main window, run, screenshot, quit.

``poise gui`` calls :func:`run`. Headless checks use ``screenshot``/``quit_after_s``: the
window is grabbed into a PNG just before quitting.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Qt is imported when the app starts, not by the command line
    from PySide6.QtWidgets import QWidget

log = logging.getLogger(__name__)


def make_app(argv: list[str] | None = None) -> Any:
    """The ``QApplication`` (created once), with pyqtgraph's options."""
    import pyqtgraph as pg
    from PySide6.QtWidgets import QApplication

    existing = QApplication.instance()
    app = existing if isinstance(existing, QApplication) else QApplication(argv or [sys.argv[0]])
    app.setApplicationName("Poise")
    pg.setConfigOptions(antialias=False, background="w", foreground="k")
    font = app.font()
    if font.pointSize() < 10:
        font.setPointSize(10)
        app.setFont(font)
    return app


def run_events_for(seconds: float) -> None:
    """Run Qt's event loop for ``seconds`` as ``app.exec()`` does (it sleeps until a timer
    or an event is due), then return: benchmarks and scripts that drive the window."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(round(seconds * 1000)), loop.quit)
    loop.exec()


def save_screenshot(widget: QWidget, path: str | Path) -> Path:
    """Grab ``widget`` into a PNG (folders created)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not widget.grab().save(str(path)):
        raise OSError(f"could not write the screenshot {path}")
    return path


def run(
    *,
    demo: int | str = 0,
    replay: str | None = None,
    data_dir: str | None = None,
    record: bool = True,
    rate_hz: float | None = None,
    screenshot: str | None = None,
    quit_after_s: float | None = None,
    page: str = "live",
    scenario: str = "demo",
    lsl: bool = False,
) -> int:
    """Start the GUI; returns the exit code (``lsl``: publish the session on the Lab
    Streaming Layer, :func:`poise.lsl.publish_session`)."""
    from PySide6.QtCore import QTimer

    from gui.errors import install_excepthook, show_exception
    from gui.main_window import MainWindow
    from poise.session import Session
    from poise.startup import freeze_startup_objects

    app = make_app()
    install_excepthook()
    session = Session(data_dir=data_dir, record=record)
    if lsl:
        from poise.lsl import publish_session

        publish_session(session)
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
    freeze_startup_objects()  # start-up objects out of the GC's way (poise.startup)
    code = app.exec()
    session.close()
    return int(code)


def xcb_plugin() -> Path | None:
    """Qt's xcb platform plugin of the installed PySide6 (found without loading Qt)."""
    import importlib.util

    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return path if path.exists() else None


def missing_libraries(library: Path, ldd: Any = None) -> list[str]:
    """System libraries ``library`` needs (directly or not) that the loader does not find.

    Asks ``ldd`` (glibc's, on every Debian/Ubuntu); without it, loads the library with
    ``ctypes`` and takes the one library the loader names in its error.
    """
    import re
    import shutil
    import subprocess

    run = ldd or (
        lambda path: (
            subprocess.run(
                ["ldd", str(path)], capture_output=True, text=True, timeout=20, check=False
            ).stdout
        )
    )
    if ldd is not None or shutil.which("ldd"):
        out = run(library)
        return list(dict.fromkeys(re.findall(r"^\s*(\S+)\s*=>\s*not found", out, re.M)))
    import ctypes

    try:
        ctypes.CDLL(str(library))
    except OSError as exc:
        m = re.search(r"(\S+\.so[.\d]*): cannot open shared object file", str(exc))
        return [m.group(1)] if m else []
    return []


def debian_package(soname: str) -> str:
    """The Debian/Ubuntu package of a library by the library-package naming rule:
    ``libxcb-icccm.so.4`` -> ``libxcb-icccm4``, ``libxkbcommon-x11.so.0`` ->
    ``libxkbcommon-x11-0`` (a hyphen when the name ends in a digit)."""
    import re

    m = re.match(r"^(lib[^/]+?)\.so\.(\d+)", soname)
    if not m:
        return soname
    name, version = m.group(1).lower(), m.group(2)
    return f"{name}-{version}" if name[-1].isdigit() else f"{name}{version}"


def xcb_problem(ldd: Any = None) -> str | None:
    """Why Qt could not open a window on this Linux desktop, or ``None``.

    Qt's own message when the xcb platform plugin can not load names only
    ``xcb-cursor0``, whatever is missing (issue 17: ``libxcb-icccm4`` and
    ``libxcb-keysyms1`` were). This asks the loader which libraries the plugin lacks and
    names the packages to install. Only for the xcb platform: not without a display
    (offscreen is used then), nor when ``QT_QPA_PLATFORM`` names another platform.
    """
    if not sys.platform.startswith("linux") or not os.environ.get("DISPLAY"):
        return None
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None
    if not platform and os.environ.get("WAYLAND_DISPLAY"):
        return None  # Qt prefers its Wayland plugin in a Wayland session
    plugin = xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin, ldd)
    if not missing:
        return None
    packages = " ".join(dict.fromkeys(debian_package(m) for m in missing))
    return (
        f"Qt can not open a window: its xcb platform plugin needs {', '.join(missing)}, "
        f"which {'is' if len(missing) == 1 else 'are'} not installed. On Debian or Ubuntu: "
        f"sudo apt install {packages} (or run without a window: QT_QPA_PLATFORM=offscreen)"
    )


def headless() -> bool:
    """True when no display is available (Qt would fail to start)."""
    if sys.platform.startswith("linux"):
        return not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return False

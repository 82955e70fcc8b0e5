"""Starting the windows on a machine that lacks part of Qt's system libraries (issue 17).

Qt's own message when its xcb platform plugin can not load names ``xcb-cursor0`` whatever
is missing; ``poise gui``/``poise home`` ask the loader first and name the packages.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from gui.app import debian_package, missing_libraries, xcb_plugin, xcb_problem

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd)
\tlibQt6XcbQpa.so.6 => /venv/PySide6/Qt/lib/libQt6XcbQpa.so.6 (0x00007f)
\tlibxcb-icccm.so.4 => not found
\tlibxcb-keysyms.so.1 => not found
\tlibxcb-icccm.so.4 => not found
\tlibxkbcommon-x11.so.0 => /lib/x86_64-linux-gnu/libxkbcommon-x11.so.0 (0x00007f)
"""


def test_package_names_follow_the_library_naming_rule():
    assert debian_package("libxcb-icccm.so.4") == "libxcb-icccm4"
    assert debian_package("libxcb-keysyms.so.1") == "libxcb-keysyms1"
    assert debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert debian_package("libxkbcommon-x11.so.0") == "libxkbcommon-x11-0"
    assert debian_package("libX11-xcb.so.1") == "libx11-xcb1"
    assert debian_package("libEGL.so.1") == "libegl1"


def test_the_missing_libraries_and_their_packages_are_named(monkeypatch, tmp_path):
    plugin = tmp_path / "libqxcb.so"
    plugin.write_bytes(b"")
    monkeypatch.setattr("gui.app.xcb_plugin", lambda: plugin)
    assert missing_libraries(plugin, ldd=lambda _p: LDD) == [
        "libxcb-icccm.so.4",
        "libxcb-keysyms.so.1",
    ]
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    text = xcb_problem(ldd=lambda _p: LDD)
    assert "sudo apt install libxcb-icccm4 libxcb-keysyms1" in text
    assert "libxcb-icccm.so.4" in text and "QT_QPA_PLATFORM=offscreen" in text
    assert xcb_problem(ldd=lambda _p: "\tlibc.so.6 => /lib/libc.so.6\n") is None
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")  # another platform: no check
    assert xcb_problem(ldd=lambda _p: LDD) is None
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.delenv("DISPLAY")  # no display: the offscreen fallback, no check
    assert xcb_problem(ldd=lambda _p: LDD) is None


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Qt's xcb plugin is Linux's")
def test_poise_gui_names_the_packages_this_machine_lacks(tmp_path):
    plugin = xcb_plugin()
    missing = missing_libraries(plugin) if plugin else []
    if not missing:
        pytest.skip("this machine has every library of Qt's xcb plugin")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY")}
    env["DISPLAY"] = ":87"  # a display is set, so Qt would use xcb
    proc = subprocess.run(
        [sys.executable, "-m", "gui", "gui", "--demo", "1", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 2, proc.stderr[-1500:]  # Qt aborted (-6) before
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "sudo apt install" in lines[0]
    for lib in missing:
        assert debian_package(lib) in lines[0]

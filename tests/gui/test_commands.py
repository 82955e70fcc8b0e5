"""The ``poise`` console script (gui.commands): poise's headless commands plus gui's."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from gui.commands import build_parser

ROOT = Path(__file__).resolve().parents[2]


def _commands(parser) -> set[str]:
    return set(parser._subparsers._group_actions[0].choices)


def test_the_poise_command_has_every_command_and_the_pdf_writer() -> None:
    from poise.cli import build_parser as headless_parser

    full, headless = build_parser(), headless_parser()
    assert _commands(full) == _commands(headless)  # gui and home replace the placeholders
    args = full.parse_args(["gui", "--demo", "1", "--page", "tests"])
    assert args.demo == "1" and args.page == "tests" and args.func.__module__ == "gui.commands"
    assert full.parse_args(["report", "1", "--pdf", "x.pdf"]).write_pdf is not None
    assert headless.parse_args(["report", "1", "--pdf", "x.pdf"]).write_pdf is None


def test_headless_commands_do_not_load_qt() -> None:
    """Qt is imported by the window commands only: ``poise info`` stays a quick command."""
    rec = sorted((ROOT / "recordings").rglob("*.poise"))[0]
    code = (
        "import sys\n"
        "from gui.commands import main\n"
        f"assert main(['info', {str(rec)!r}]) == 0\n"
        "loaded = [m for m in sys.modules if m.startswith(('PySide6', 'pyqtgraph'))]\n"
        "assert not loaded, loaded\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr

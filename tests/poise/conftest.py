"""Shared fixtures of the tests of ``poise``."""

from __future__ import annotations

import time

import pytest

from gui.commands import main


class CliRunner:
    """Run ``poise ARGV`` in-process (the console script, :func:`gui.commands.main`): ``(exit code, stderr)``; argparse exits count as codes."""

    def __init__(self, capsys: pytest.CaptureFixture) -> None:
        self._capsys = capsys

    def __call__(self, argv: list[str]) -> tuple[int, str]:
        try:
            rc = main(argv)
        except SystemExit as exc:
            rc = exc.code
        return rc, self._capsys.readouterr().err

    @staticmethod
    def one_line(err: str) -> str:
        """The single line of ``err`` (fails if there are more: a traceback, two errors)."""
        lines = err.strip().splitlines()
        assert len(lines) == 1, err
        return lines[0]


@pytest.fixture
def cli(capsys) -> CliRunner:
    """``rc, err = cli([...])`` runs a poise command; ``cli.one_line(err)`` checks stderr."""
    return CliRunner(capsys)


@pytest.fixture
def in_new_york(monkeypatch):
    """This computer's clock in New York (UTC-5 in winter), whatever the machine says."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()

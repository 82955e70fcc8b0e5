"""Every wrong option or file is one line on stderr naming the problem, exit code 2."""

from __future__ import annotations

import pytest

from poise.cli import main


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        (["analyze", "--test", "foo", "x.csv"], "argument --test: invalid choice: 'foo'"),
        (["import-csv"], "required: csv, -o/--output"),
        (["info", "/nonexistent/x.poise"], "/nonexistent/x.poise"),
        (["record", "-o", "/tmp/never.poise", "--demo", "9"], "--demo"),
    ],
)
def test_one_line_error_and_exit_2(argv, needle, capsys):
    try:
        rc = main(argv)
    except SystemExit as exc:  # argparse exits; the console script does the same
        rc = exc.code
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1, err
    assert needle in err and "error" in err

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
        (["analyze", "x.csv", "--bogus"], "unrecognized arguments: --bogus"),
        # python -m poise has no window commands: it says how to start them
        (["gui", "--demo", "1"], "'gui' opens a window: start it with the poise command"),
        (["home", "--help"], "'home' opens a window: start it with the poise command"),
        (["report", "1", "--pdf", "/tmp/never.pdf"], "the PDF is drawn with Qt"),
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


@pytest.mark.parametrize(
    "exc, what",
    [
        # what bleak raises on Linux without the system D-Bus (no BlueZ): the socket is missing
        (FileNotFoundError(2, "No such file or directory"), "no Bluetooth service found"),
        (PermissionError(13, "Permission denied"), "no access to the Bluetooth service"),
        (RuntimeError("No Bluetooth adapters found."), "no Bluetooth adapter found"),
        (RuntimeError("Bluetooth device is turned off"), "Bluetooth is turned off"),
    ],
)
@pytest.mark.parametrize("command", ["scan", "record"])
def test_no_bluetooth_says_what_is_missing_and_what_to_do_issue17_item19(
    exc, what, command, monkeypatch, capsys, tmp_path
):
    from bleak.exc import BleakError

    import sensors.stream

    raised = BleakError(str(exc)) if isinstance(exc, RuntimeError) else exc

    async def no_bluetooth(*_a, **_k):
        raise raised

    monkeypatch.setattr(sensors.stream, "scan", no_bluetooth)
    argv = ["scan"] if command == "scan" else ["record", "-o", str(tmp_path / "r.poise")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err  # one line
    assert what in err and "--transport usb:0" in err and "--demo" in err
    assert "system settings" in err
    assert not (tmp_path / "r.poise").exists()  # nothing half-written

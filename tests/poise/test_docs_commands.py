"""Every ``poise`` command in README.md and docs/*.md runs as written (issue 17).

The commands are extracted from the fenced code blocks (a line starting with ``poise``, or
after a ``$`` prompt in a console block; ``\\`` continues a line), so a command added to the
documentation is picked up by this test without touching it. Each document runs in its own
fresh folder (the working directory, with ``recordings/`` linked in) and its own data folder
(``POISE_DATA_DIR``), its commands in order, as a reader would type them (the window
commands in a process of their own, the others in this one through ``gui.commands.main``, the poise command):
exit code 0 is required.

What can not run here is listed in :data:`SKIPS` with the reason (hardware, a second
terminal); what runs adapted is listed in :data:`ADAPT` (a window quits after a second, a
demo recording lasts 1 s instead of 10). Input files that a document names without making
them (``SESSION.poise``, ``data.csv``, ...) are made by :data:`PLACEHOLDERS`; a new one fails
with a message saying to add it there.

Inline code spans (```poise ...```) are parse-checked: with ``[...]`` unwrapped and
placeholders replaced, the parser must know every option, argument and value they name
(a span may leave out required inputs: it mentions options).
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gui.commands import build_parser, main
from poise.cli import _subparsers

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

#: (regular expression on the command, why it is not run here)
SKIPS = (
    (r"^poise scan(?!.*tcp-client)", "needs a Bluetooth adapter or a USB dongle"),
    (r"--transport usb:", "needs a USB Bluetooth dongle"),
    (r"^poise record(?!.*--demo)(?!.*tcp-client)", "records real sensors over Bluetooth"),
    (
        r"^poise emulate|tcp-client:",
        "a virtual controller served to a second terminal (run across two processes in "
        "tests/sensors/test_stream_e2e.py::test_cli_scan_and_record_reach_emulate_in_another_process)",
    ),
)
#: (regular expression, replacement, why): how a command is adapted to run here
ADAPT = (
    (r"^(poise (?:gui|home)\b.*)$", r"\1 --quit-after 1", "a window: quits after 1 s"),
    (
        r"^(poise record .*--demo .*)--seconds \d+",
        r"\1--seconds 1",
        "a demo recording: 1 s instead of 10-20 s",
    ),
)


def _tug() -> bytes:
    return (ROOT / "recordings" / "scenarios" / "tug.poise").read_bytes()


def _csv_in_g(path: Path) -> None:
    """A CSV like ``import-csv --acc-unit g --gyro-unit deg/s`` expects (a short walk)."""
    from sensors.scenarios import make_scenario

    md = make_scenario("walk", sampling_rate_hz=100, seed=1)
    acc, gyr = md.acc_mps2 / 9.80665, np.degrees(md.gyr_radps)
    rows = ["acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"]
    rows += [",".join(f"{v:.5f}" for v in (*a, *g)) for a, g in zip(acc, gyr)]
    path.write_text("\n".join(rows) + "\n")


def _patient_recording(path: Path, patient: str = "P-7") -> None:
    """A recording of a patient (what home mode writes): the pseudonym in the header."""
    from poise.inputs import ImportHeader, import_csv

    csv = path.with_name(path.name + ".csv")
    _csv_in_g(csv)
    header = ImportHeader(patient=patient)
    import_csv(csv, path, rate_hz=100, acc_unit="g", header=header, warn=lambda _m: None)
    csv.unlink()


#: file names the documents use without making them -> how to make one
PLACEHOLDERS = {
    "SESSION.poise": lambda p: p.write_bytes(_tug()),
    "REC.poise": lambda p: _patient_recording(p, "P-0042"),
    "session.poise": lambda p: p.write_bytes(_tug()),  # made by `poise record` (skipped here)
    "data.csv": _csv_in_g,
    "FILE": _patient_recording,
}


def _commands(doc: Path) -> list[str]:
    """The ``poise`` command lines of a document's fenced code blocks, in order."""
    out = []
    for m in re.finditer(r"```([^\n]*)\n(.*?)```", doc.read_text(encoding="utf-8"), re.S):
        lines = m.group(2).split("\n")
        # a block with prompts is a terminal: commands follow a prompt, the rest is output
        console = m.group(1).strip() == "console" or any(
            re.match(r"^\S*\$\s", x.strip()) for x in lines
        )
        i = 0
        while i < len(lines):
            line = lines[i]
            while line.rstrip().endswith("\\") and i + 1 < len(lines):
                i += 1
                line = line.rstrip()[:-1] + " " + lines[i].strip()
            i += 1
            if console:
                prompt = re.match(r"^[^$\s]*\$\s*(poise\b.*)$", line.strip())
                cmd = prompt.group(1) if prompt else None
            else:
                cmd = line.strip() if re.match(r"^poise(\s|$)", line.strip()) else None
            if cmd:
                out.append(" ".join(shlex.split(cmd, comments=True)))
    return out


def _plan(cmd: str) -> tuple[str | None, str]:
    """The command to run (``None``: skipped) and the reason it is skipped or adapted."""
    for pattern, why in SKIPS:
        if re.search(pattern, cmd):
            return None, why
    for pattern, repl, why in ADAPT:
        if re.search(pattern, cmd):
            return re.sub(pattern, repl, cmd), why
    return cmd, ""


def _run(argv: list[str]) -> tuple[int, str]:
    """``poise ARGV`` in this process; the window commands' excepthook and Ctrl-C handler
    are put back afterwards."""
    out, err = io.StringIO(), io.StringIO()
    hook, sigint = sys.excepthook, signal.getsignal(signal.SIGINT)
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # --help
            code = int(exc.code or 0)
        finally:
            sys.excepthook = hook
            signal.signal(signal.SIGINT, sigint)
    return code, out.getvalue() + err.getvalue()


def _start_window(argv: list[str], log: Path) -> subprocess.Popen:
    """Start ``poise ARGV`` (a window) in a process of its own, as a user would: Qt and a
    BLE loop do not belong in a test process that ran other windows (a second window run
    in one process crashed when the first one's timers were collected on another thread)."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    with open(log, "w") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "gui", *argv],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )


@pytest.fixture(autouse=True)
def _offscreen(monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")


WITH_COMMANDS = [d for d in DOCS if _commands(d)]


@pytest.mark.parametrize("doc", WITH_COMMANDS, ids=[d.name for d in WITH_COMMANDS])
def test_every_documented_command_runs_as_written(doc: Path, tmp_path, monkeypatch):
    cmds = _commands(doc)
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    (work / "recordings").symlink_to(ROOT / "recordings")
    monkeypatch.chdir(work)
    monkeypatch.setenv("POISE_DATA_DIR", str(data))
    ran, skipped, windows = [], [], []
    for cmd in cmds:
        todo, why = _plan(cmd)
        if todo is None:
            skipped.append((cmd, why))
            continue
        argv = shlex.split(todo)[1:]
        for token in argv:
            if token in PLACEHOLDERS and not (work / token).exists():
                PLACEHOLDERS[token](work / token)
        if argv[0] in ("gui", "home"):  # started now, side by side, waited for at the end
            log = tmp_path / f"window{len(windows)}.log"
            windows.append((cmd, _start_window(argv, log), log))
            continue
        code, output = _run(argv)
        assert code == 0, f"{doc.name}: `{cmd}` failed ({code}):\n{output[-1500:]}"
        ran.append(cmd)
    for cmd, proc, log in windows:
        code = proc.wait(timeout=180)
        output = log.read_text(errors="replace")
        assert code == 0, f"{doc.name}: `{cmd}` failed ({code}):\n{output[-1500:]}"
        ran.append(cmd)
    if not ran:
        pytest.skip("; ".join(f"`{c}`: {why}" for c, why in skipped))


# --------------------------------------------------------------------------- inline spans
_INLINE_VALUES = {
    "FILE": "f.poise",
    "REC": "r.poise",
    "OUT": "out",
    "ID": "P-1",
    "N": "1",
    "D": "2026-01-01",
    "T": "tug",
    "HZ": "100",
    "PNG": "s.png",
    "S": "1",
    "SECONDS": "1",
    "NAME": "Anna",
}


def test_inline_commands_in_the_docs_parse():
    """``poise ...`` spans in the text are accepted by the parser (placeholders replaced)."""
    parser = build_parser()
    names = {sub.prog.split()[-1] for sub in _subparsers(parser)}
    checked = 0
    for doc in DOCS:
        for span in re.findall(r"`(poise [^`]+)`", doc.read_text(encoding="utf-8")):
            words = shlex.split(span.replace("[", " ").replace("]", " "))[1:]
            if all(w in names for w in words):
                continue  # a mention of the command, not a command line
            argv = [_INLINE_VALUES.get(w, w) for w in words]
            err = io.StringIO()
            with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                try:
                    parser.parse_args(argv)
                except SystemExit as exc:
                    msg = err.getvalue().strip()
                    # a span may mention some options of a command without its inputs; what
                    # it does say must be right (no unknown option, argument or value)
                    partial = "the following arguments are required" in msg
                    assert exc.code == 0 or partial, f"{doc.name}: `{span}`: {msg}"
            checked += 1
    assert checked >= 5


def test_data_dir_is_accepted_before_and_after_every_command(tmp_path):
    """``--data-dir`` the same way everywhere: ``poise patient add X --data-dir D`` failed
    with 'unrecognized arguments' while ``gui`` and ``home`` took it after the command."""
    for i, argv in enumerate(
        (
            ["patient", "add", "X", "--data-dir", "{d}"],
            ["--data-dir", "{d}", "patient", "add", "X"],
            ["patient", "--data-dir", "{d}", "add", "X"],
        )
    ):
        d = tmp_path / f"d{i}"
        code, out = _run([a.format(d=d) for a in argv])
        assert code == 0, out
        assert (d / "poise.db").exists()
        code, out = _run(["patient", "list", "--data-dir", str(d)])
        assert code == 0 and "X" in out
    parser = build_parser()
    for sub in _subparsers(parser):
        assert any("--data-dir" in a.option_strings for a in sub._actions), sub.prog
    later = parser.parse_args(["--data-dir", "A", "report", "1", "--pdf", "x.pdf"])
    assert later.data_dir == "A"  # the sub-command's own option does not reset it
    both = parser.parse_args(["--data-dir", "A", "report", "1", "--data-dir", "B"])
    assert both.data_dir == "B"

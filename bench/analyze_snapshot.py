"""Snapshot of ``poise analyze`` on every shipped recording, to show a refactor changes no result.

For every ``.poise`` file under ``recordings/`` the script runs, in this process, through
the command line's entry point (:func:`poise.cli.main`, which the console script runs with
gui's window commands added; ``analyze`` is headless):

* ``poise analyze FILE --format json`` and ``poise analyze FILE`` (the gait summary, JSON
  and text);
* ``poise analyze FILE --test T --format json`` for every test the command offers (a test
  that does not apply to a recording gives its error line, which is kept too);
* ``poise analyze FILE --fall-risk --format json``, with the recording's own patient data
  and with ``--age 72 --sex f --weight-kg 68`` (the norms and thresholds that need them).

Each output (stdout, stderr and the exit code) is written to ``OUT/<recording>/<run>.txt``.
Run it before and after a change and compare the folders::

    .venv/bin/python bench/analyze_snapshot.py /tmp/before
    ... change ...
    .venv/bin/python bench/analyze_snapshot.py /tmp/after
    diff -r /tmp/before /tmp/after

``--tests a,b`` limits the tests (default: every ``--test`` choice of the command). With
``--compare DIR`` the script compares what it wrote with DIR's files of the same names and
prints the differing ones (files only one side has are listed, not counted as differences:
a new test adds its own runs).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from poise import cli  # noqa: E402

DEMOGRAPHICS = ["--age", "72", "--sex", "f", "--weight-kg", "68"]


def _run(argv: list[str]) -> str:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(argv)
        except SystemExit as exc:  # argparse refusals
            code = exc.code
    return f"exit {code}\n--- stdout\n{out.getvalue()}--- stderr\n{err.getvalue()}"


def _test_choices() -> list[str]:
    parser = cli.build_parser()
    for action in parser._subparsers._group_actions:  # type: ignore[union-attr]
        analyze = action.choices["analyze"]
        for a in analyze._actions:
            if "--test" in a.option_strings:
                return list(a.choices)
    raise SystemExit("poise analyze has no --test option")


def runs(path: Path, tests: list[str]) -> dict[str, list[str]]:
    """The named ``poise analyze`` command lines for one recording."""
    f = str(path)
    out = {
        "gait.json": ["analyze", f, "--format", "json"],
        "gait.txt": ["analyze", f],
        "fall-risk.json": ["analyze", f, "--fall-risk", "--format", "json"],
        "fall-risk-demographics.json": ["analyze", f, "--fall-risk", "--format", "json"]
        + DEMOGRAPHICS,
    }
    for t in tests:
        out[f"test-{t}.json"] = ["analyze", f, "--test", t, "--format", "json"] + DEMOGRAPHICS
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path, help="folder to write the outputs to")
    ap.add_argument("--tests", help="comma-separated tests (default: all of --test's choices)")
    ap.add_argument("--compare", type=Path, metavar="DIR", help="a previous snapshot")
    args = ap.parse_args()
    tests = args.tests.split(",") if args.tests else _test_choices()
    recordings = sorted((ROOT / "recordings").rglob("*.poise"))
    t_start = time.perf_counter()
    n = 0
    for rec in recordings:
        folder = args.out / rec.relative_to(ROOT / "recordings").with_suffix("")
        folder.mkdir(parents=True, exist_ok=True)
        for name, argv in runs(rec.relative_to(ROOT), tests).items():
            (folder / name).write_text(_run(argv), encoding="utf-8")
            n += 1
    print(f"{n} runs on {len(recordings)} recordings in {time.perf_counter() - t_start:.0f} s")
    if args.compare is None:
        return 0
    differ, only = [], []
    for p in sorted(args.out.rglob("*.txt")) + sorted(args.out.rglob("*.json")):
        q = args.compare / p.relative_to(args.out)
        if not q.exists():
            only.append(str(p.relative_to(args.out)))
        elif q.read_text(encoding="utf-8") != p.read_text(encoding="utf-8"):
            differ.append(str(p.relative_to(args.out)))
    for p in only:
        print(f"new (not in {args.compare}): {p}")
    for p in differ:
        print(f"DIFFERS: {p}")
    print(f"{len(differ)} outputs differ from {args.compare}, {len(only)} new")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())

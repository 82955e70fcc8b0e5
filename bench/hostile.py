"""Hostile recordings: ``poise info``, ``analyze`` and ``export`` on N random files.

Every file comes from :func:`sensors.recording_fuzz.hostile_recording` (valid CRCs, random
record contents: types, nesting, times, counts; seeds 0..N-1, so a run is reproducible).
Each command runs in a worker process whose address space is limited like
``ulimit -v 4000000`` (``RLIMIT_AS``, 4,000,000 KiB), and is counted as:

- **recovered**: exit code 0;
- **refused**: exit code 2 with exactly one line on stderr ("poise info: error: ...");
- **traceback**: an exception escaped the command (what the console script would print
  as a traceback), other than MemoryError;
- **over memory**: a MemoryError (an allocation past the limit) or a worker killed;
- **other**: any other exit code, or an error of more than one line.

Prints the counts per command, the slowest command, the largest traced peak (with
``--trace-memory``: tracemalloc, Python and numpy allocations) and the workers' peak RSS.
Issue 11 asks for 10,000 files with zero tracebacks and zero over-memory.

Run: ``.venv/bin/python bench/hostile.py [--files 10000] [--workers 2] [--trace-memory]
[--commands info,analyze,export,report,import]`` (10,000 files, the three default
commands: about 20 minutes on two cores).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import platform
import random
import resource
import sys
import tempfile
import time
import traceback
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from poise.cli import main  # noqa: E402
from sensors.recording_fuzz import hostile_recording  # noqa: E402

COMMANDS = ("info", "analyze", "export")
#: also available: report --json and patient import (both analyse the recording's events)
ALL_COMMANDS = (*COMMANDS, "report", "import")
OUTCOMES = ("recovered", "refused", "traceback", "over memory", "other")
ULIMIT_V_KIB = 4_000_000


def _init(limit_kib: int) -> None:
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    limit = limit_kib * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _argv(cmd: str, path: Path, out: Path) -> list[str]:
    data = str(out.parent / "data")
    return {
        "info": ["info", str(path)],
        "analyze": ["analyze", str(path), "--format", "json"],
        "export": ["export", str(path), "--csv", str(out), "--force"],
        "report": ["report", str(path), "--json", str(out), "--force", "--data-dir", data],
        "import": ["patient", "--data-dir", data, "import", str(path), "--create"],
    }[cmd]


def _run_one(
    seed: int, trace_memory: bool, commands: tuple[str, ...]
) -> list[tuple[str, str, float, float, str]]:
    """(command, outcome, seconds, traced peak MB, detail) for the three commands."""
    import tracemalloc

    out = []
    data = hostile_recording(random.Random(seed))
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / f"hostile-{seed}.poise"
        path.write_bytes(data)
        for cmd in commands:
            err = io.StringIO()
            detail = ""
            peak = 0.0
            t0 = time.perf_counter()
            if trace_memory:
                tracemalloc.start()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    rc = main(_argv(cmd, path, Path(d) / "out.csv"))
                lines = err.getvalue().strip().splitlines()
                if rc == 0:
                    outcome = "recovered"
                elif rc == 2 and len(lines) == 1:
                    outcome = "refused"
                else:
                    outcome, detail = "other", f"exit {rc}: {err.getvalue()[:300]}"
            except MemoryError:
                outcome, detail = "over memory", f"seed {seed}"
            except BaseException as exc:  # what the console script shows as a traceback
                where = traceback.extract_tb(exc.__traceback__)[-1]
                outcome = "traceback"
                detail = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}: {str(exc)[:120]}"
            finally:
                if trace_memory:
                    peak = tracemalloc.get_traced_memory()[1] / 2**20
                    tracemalloc.stop()
            out.append((cmd, outcome, time.perf_counter() - t0, peak, detail))
    return out


def _chunk(seeds: list[int], trace_memory: bool, commands: tuple[str, ...]) -> tuple[list, float]:
    results = [(s, _run_one(s, trace_memory, commands)) for s in seeds]
    return results, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main_bench() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=10_000)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--limit-kib", type=int, default=ULIMIT_V_KIB, help="RLIMIT_AS per worker")
    ap.add_argument("--trace-memory", action="store_true", help="tracemalloc peaks (slower)")
    ap.add_argument(
        "--commands",
        default=",".join(COMMANDS),
        help=f"comma separated, of {','.join(ALL_COMMANDS)} (default: {','.join(COMMANDS)})",
    )
    args = ap.parse_args()
    commands = tuple(c.strip() for c in args.commands.split(","))
    if not set(commands) <= set(ALL_COMMANDS):
        ap.error(f"--commands: choose from {', '.join(ALL_COMMANDS)}")

    seeds = list(range(args.first_seed, args.first_seed + args.files))
    chunks = [seeds[i : i + 50] for i in range(0, len(seeds), 50)]
    counts = {c: collections.Counter() for c in commands}
    examples: dict[tuple[str, str], list[str]] = collections.defaultdict(list)
    slowest = (0.0, "", -1)
    peaks = {c: 0.0 for c in commands}
    rss_mb = 0.0
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(args.limit_kib,)) as pool:
        futures = [pool.submit(_chunk, ch, args.trace_memory, commands) for ch in chunks]
        for ch, fut in zip(chunks, futures):
            try:
                results, rss = fut.result()
            except Exception as exc:  # a worker killed (e.g. by the kernel): count as memory
                for c in commands:
                    counts[c]["over memory"] += len(ch)
                examples[("all", "over memory")].append(f"seeds {ch[0]}-{ch[-1]}: {exc!r}")
                continue
            rss_mb = max(rss_mb, rss)
            for seed, rows in results:
                for cmd, outcome, secs, peak, detail in rows:
                    counts[cmd][outcome] += 1
                    peaks[cmd] = max(peaks[cmd], peak)
                    if secs > slowest[0]:
                        slowest = (secs, cmd, seed)
                    if detail and len(examples[(cmd, outcome)]) < 3:
                        examples[(cmd, outcome)].append(f"seed {seed}: {detail}")
    wall = time.perf_counter() - t0

    print(
        f"hostile recordings: {args.files} files (seeds {seeds[0]}-{seeds[-1]}), "
        f"{len(commands)} commands each, {args.workers} workers, RLIMIT_AS "
        f"{args.limit_kib} KiB (ulimit -v {args.limit_kib})"
    )
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}"
    )
    print(f"{'command':<9}" + "".join(f"{o:>14}" for o in OUTCOMES))
    for c in commands:
        print(f"{c:<9}" + "".join(f"{counts[c][o]:>14}" for o in OUTCOMES))
    total = collections.Counter()
    for c in commands:
        total.update(counts[c])
    print(f"{'all':<9}" + "".join(f"{total[o]:>14}" for o in OUTCOMES))
    print(
        f"slowest command: {slowest[1]} on seed {slowest[2]}, {slowest[0]:.2f} s; "
        f"wall time {wall:.0f} s"
    )
    if args.trace_memory:
        print(
            "largest traced peak (tracemalloc): "
            + ", ".join(f"{c} {peaks[c]:.1f} MB" for c in commands)
        )
    print(f"largest worker RSS: {rss_mb:.0f} MB")
    for (cmd, outcome), ex in sorted(examples.items()):
        if outcome in ("traceback", "over memory", "other"):
            for e in ex:
                print(f"  {cmd} {outcome}: {e}")


if __name__ == "__main__":
    main_bench()

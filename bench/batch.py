"""Batch analysis of the shipped recordings: local workers and a Dask cluster, same table.

Runs ``poise batch recordings/ --jobs N`` for N = 1 and 2, then the same inputs on a Dask
``LocalCluster`` (2 worker processes, one thread each) through ``--scheduler``, each into
a fresh folder, and prints the wall time of each run, the rows, and whether the three
tables are byte-for-byte identical; then interrupts nothing but re-runs the first table to
show that every file is skipped (resumption by content hash). CSVs without a time column
(the mobgap-lab ``imu_lowerback.csv``) get their error row unless ``--rate 100`` is given.

Run: ``.venv/bin/python bench/batch.py [--rate 100]`` (needs ``pip install -e '.[cluster]'``
for the cluster run).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _poise(*args: str) -> tuple[float, str]:
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "poise", "batch", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"poise batch {' '.join(args)} failed: {proc.stderr.strip()}")
    return wall, proc.stdout.strip()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", help="sampling rate for CSVs without time (Hz)")
    args = ap.parse_args()
    extra = ["--rate", args.rate] if args.rate else []
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores, Python "
        f"{platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    tmp = Path(tempfile.mkdtemp(prefix="poise-bench-batch-"))
    tables = {}
    for jobs in (1, 2):
        out = tmp / f"jobs{jobs}" / "r.csv"
        out.parent.mkdir()
        wall, said = _poise("recordings", "--out", str(out), "--jobs", str(jobs), *extra)
        tables[f"--jobs {jobs}"] = out.read_bytes()
        print(f"--jobs {jobs}: {wall:.1f} s; {said}")
    try:
        from distributed import LocalCluster
    except ImportError:
        print("cluster: distributed is not installed (pip install -e '.[cluster]')")
    else:
        with LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster:
            out = tmp / "cluster" / "r.csv"
            out.parent.mkdir()
            wall, said = _poise(
                "recordings", "--out", str(out), "--scheduler", cluster.scheduler_address, *extra
            )
            tables["LocalCluster"] = out.read_bytes()
            print(f"--scheduler {cluster.scheduler_address} (LocalCluster): {wall:.1f} s; {said}")
    first = next(iter(tables.values()))
    same = all(t == first for t in tables.values())
    print(f"tables identical ({', '.join(tables)}): {same}")
    wall, said = _poise("recordings", "--out", str(tmp / "jobs1" / "r.csv"), *extra)
    print(f"again into the --jobs 1 table: {wall:.1f} s; {said}")
    if not same:
        sys.exit(1)


if __name__ == "__main__":
    main()

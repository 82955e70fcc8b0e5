"""Batch analysis of many recordings and CSVs into one table (``poise batch``).

Every input file is analysed the way a single file is (``poise analyze`` and the store:
:func:`poise.inputs.load_input`, then :func:`poise.service.analyse_session`: the tests
found in the recording, gait when it walks, the fall-risk summary; a home recording of
hours to a week, :func:`poise.daily.is_long_recording`, gives its daily life read in
pieces). The table has one row per recording and test (and a ``fall-risk`` row with
every factor); a file that can not be analysed gives one row with its ``error`` instead of
stopping the run. CSVs that hold no IMU samples (reference tables next to recordings) are
left out and counted.

**Resumption.** Each finished file is appended, as one JSON line keyed by the SHA-256 of
its content and of the options that change results (``--rate``, units, columns,
demographics), to a journal next to the output (``OUT.journal.jsonl``). A run that is
interrupted and started again skips every file whose content is already in the journal
(a renamed or copied file too) and writes the whole table at the end from the journal.

**Where the work runs.** ``jobs == 1``: in this process. ``jobs > 1``: a pool of local
worker processes (spawned, so nothing of this process' state is shared).
``scheduler=ADDRESS``: the same function on the workers of a Dask distributed cluster
(``pip install poise[cluster]``); the workers need Poise installed and the input paths
readable (shared storage). The work per file and the table's order (the order of the
inputs) do not depend on where it ran, so the tables are identical.
"""

from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from poise.errors import PoiseError

__all__ = [
    "FIXED_COLUMNS",
    "BatchSummary",
    "analyse_file",
    "collect_inputs",
    "file_sha256",
    "run_batch",
    "table_columns",
]

#: Columns every table starts with; the measures follow in sorted order.
FIXED_COLUMNS = (
    "file",
    "sha256",
    "test",
    "valid",
    "validity_code",
    "validity_reason",
    "fall_risk_level",
    "error",
)
#: Files taken from a folder.
SUFFIXES = (".poise", ".csv")
#: Journal format (a line of another version is analysed again).
JOURNAL_VERSION = 1


def file_sha256(path: str | Path, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's content (read a megabyte at a time)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def collect_inputs(inputs: Iterable[str | Path]) -> list[Path]:
    """The files named, and the ``.poise`` and ``.csv`` files under the folders named
    (recursively, sorted), each once, in that order.

    Raises
    ------
    PoiseError
        An input that does not exist.
    """
    out: list[Path] = []
    seen: set[Path] = set()
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in SUFFIXES)
        elif p.exists():
            found = [p]
        else:
            raise PoiseError(f"{p}: no such file or folder")
        for f in found:
            key = f.resolve()
            if key not in seen:
                seen.add(key)
                out.append(f)
    return out


# --------------------------------------------------------------------------- one file


def _scalars(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    """Numbers and booleans of nested dicts as ``a.b`` keys (lists and text left out)."""
    if isinstance(obj, dict):
        for k, v in obj.items():
            _scalars(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, bool):
        out[prefix] = obj
    elif isinstance(obj, int | float):
        out[prefix] = float(obj) if isinstance(obj, float) and not math.isfinite(obj) else obj


def _test_row(test: str, result: dict[str, Any]) -> dict[str, Any]:
    v = result.get("validity")
    validity: dict[str, Any] = v if isinstance(v, dict) else {}
    measures: dict[str, Any] = {}
    _scalars("", {k: v for k, v in result.items() if k != "validity"}, measures)
    return {
        "test": test,
        "valid": validity.get("valid"),
        "validity_code": validity.get("code", ""),
        "validity_reason": validity.get("reason", ""),
        **measures,
    }


def _fall_risk_row(fr: dict[str, Any]) -> dict[str, Any]:
    v = fr.get("validity")
    validity: dict[str, Any] = v if isinstance(v, dict) else {}
    row: dict[str, Any] = {
        "test": "fall-risk",
        "valid": validity.get("valid"),
        "validity_code": validity.get("code", ""),
        "validity_reason": validity.get("reason") or fr.get("note") or fr.get("error", ""),
        "n_at_risk": fr.get("n_at_risk"),
        "n_elevated": fr.get("n_elevated"),
    }
    for f in fr.get("factors") or []:
        key = str(f.get("key"))
        row[key] = f.get("value")
        row[f"{key}.status"] = f.get("status") or ""
    return {k: v for k, v in row.items() if v is not None}


def analyse_file(path: str, options: dict[str, Any] | None = None) -> dict[str, Any]:
    """Analyse one file: ``{"rows": [...], "error": str | None, "not_imu": bool}``.

    A plain function of the path and options (no state of the caller), so it runs the same
    in this process, a local worker or a Dask worker. Errors are returned, not raised.
    """
    from poise.daily import analyse_long_recording, is_long_recording
    from poise.inputs import NotImuCsv, load_input
    from poise.service import analyse_session

    opts = dict(options or {})
    demo = dict(opts.pop("demographics", None) or {})
    warnings: list[str] = []
    try:
        if is_long_recording(path) and _is_poise(path):
            from sensors.longread import open_recording

            analysed = analyse_long_recording(open_recording(path), demo)
        else:
            rec = load_input(path, warn=warnings.append, **opts)
            analysed = analyse_session(rec, demo).to_dict()
    except NotImuCsv as exc:
        return {"rows": [], "error": str(exc), "not_imu": True}
    except (PoiseError, ValueError, OSError) as exc:
        return {"rows": [], "error": _one_line(str(exc) or type(exc).__name__), "not_imu": False}
    except Exception as exc:  # a bug must not stop a cohort: say what and where
        return {
            "rows": [],
            "error": _one_line(f"internal error ({type(exc).__name__}: {exc})"),
            "not_imu": False,
        }
    fr = analysed.get("fall_risk") or {}
    level = fr.get("level", "")
    rows = [_test_row(t, analysed["results"][t]) for t in sorted(analysed["results"])]
    rows.append(_fall_risk_row(fr))
    for r in rows:
        r["fall_risk_level"] = level
    return {"rows": rows, "error": None, "not_imu": False, "warnings": warnings}


def _is_poise(path: str | Path) -> bool:
    from sensors.recording import MAGIC

    try:
        with open(path, "rb") as fh:
            return fh.read(len(MAGIC)) == MAGIC
    except OSError:
        return False


def _one_line(text: str) -> str:
    return " ".join(text.split())


# --------------------------------------------------------------------------- the run


@dataclass
class BatchSummary:
    """What a run did."""

    files: int = 0
    analysed: int = 0
    skipped: int = 0  # done in an earlier run (journal)
    errors: int = 0
    not_imu: list[str] = field(default_factory=list)
    rows: int = 0
    out: str = ""


def _options_key(options: dict[str, Any]) -> str:
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def journal_path(out: Path) -> Path:
    """Where the run keeps the files done (next to the table)."""
    return out.with_name(out.name + ".journal.jsonl")


def _read_journal(path: Path) -> dict[str, dict[str, Any]]:
    done: dict[str, dict[str, Any]] = {}
    if not path.exists():
        return done
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            try:
                e = json.loads(line)
            except json.JSONDecodeError:
                continue  # the last line of an interrupted write
            if isinstance(e, dict) and e.get("v") == JOURNAL_VERSION and "key" in e:
                done[e["key"]] = e
    return done


def table_columns(rows: list[dict[str, Any]]) -> list[str]:
    """:data:`FIXED_COLUMNS`, then every other key of the rows, sorted."""
    extra = sorted({k for r in rows for k in r} - set(FIXED_COLUMNS))
    return [*FIXED_COLUMNS, *extra]


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return v


def _write_table(out: Path, rows: list[dict[str, Any]]) -> None:
    cols = table_columns(rows)
    tmp = out.with_name(out.name + ".partial")
    if out.suffix.lower() == ".parquet":
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise PoiseError(
                f"{out}: writing Parquet needs pyarrow (pip install pyarrow); or write .csv"
            ) from None
        columns = parquet_columns(rows, cols)
        pq.write_table(
            pa.table({c: pa.array(v, type=getattr(pa, t)()) for c, (t, v) in columns.items()}),
            tmp,
        )
    else:
        with open(tmp, "w", newline="", encoding="utf-8") as fh:
            w = csv.writer(fh)
            w.writerow(cols)
            for r in rows:
                w.writerow([_cell(r.get(c)) for c in cols])
    os.replace(tmp, out)


def parquet_columns(
    rows: list[dict[str, Any]], cols: list[str]
) -> dict[str, tuple[str, list[Any]]]:
    """The table as typed columns for Parquet: ``{name: (arrow type, values)}``.

    A column whose values are all booleans is ``bool_``, all whole numbers ``int64``, all
    numbers ``float64`` (NaN and infinities become missing, as in the CSV), anything else
    ``string`` (a number among text is written as text). Missing values are ``None``, so a
    researcher reading the table gets numbers as numbers and gaps as nulls.
    """
    out: dict[str, tuple[str, list[Any]]] = {}
    for c in cols:
        values = [r.get(c) for r in rows]
        present = [v for v in values if v is not None]
        if present and all(isinstance(v, bool) for v in present):
            out[c] = ("bool_", values)
        elif present and all(isinstance(v, int) and not isinstance(v, bool) for v in present):
            out[c] = ("int64", values)
        elif present and all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in present
        ):
            out[c] = ("float64", [_finite_or_none(v) for v in values])
        else:
            out[c] = ("string", [_text_or_none(v) for v in values])
    return out


def _finite_or_none(v: Any) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


def _text_or_none(v: Any) -> str | None:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return None
    return v if isinstance(v, str) else str(v)


def _progress_printer(total: int) -> Callable[[int, int, str, str], None]:
    tty = sys.stderr.isatty()

    def show(done: int, errors: int, name: str, status: str) -> None:
        if tty:
            width = 30
            fill = int(width * done / max(total, 1))
            sys.stderr.write(
                f"\r[{'#' * fill}{'.' * (width - fill)}] {done}/{total} files, "
                f"{errors} error(s) {name[-40:]:<40}"
            )
            if done >= total:
                sys.stderr.write("\n")
        else:
            sys.stderr.write(f"batch: {done}/{total} {name}: {status}\n")
        sys.stderr.flush()

    return show


def _local_results(
    todo: list[tuple[str, Path]], options: dict[str, Any], jobs: int
) -> Iterable[tuple[str, Path, dict[str, Any]]]:
    if jobs <= 1 or len(todo) <= 1:
        for key, path in todo:
            yield key, path, analyse_file(str(path), options)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(analyse_file, str(p), options): (k, p) for k, p in todo}
        try:
            for fut in as_completed(futures):
                k, p = futures[fut]
                yield k, p, fut.result()
        finally:
            for fut in futures:
                fut.cancel()


def _dask_results(
    todo: list[tuple[str, Path]], options: dict[str, Any], scheduler: str
) -> Iterable[tuple[str, Path, dict[str, Any]]]:
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise PoiseError(
            "--scheduler needs Dask distributed: pip install 'poise[cluster]'"
        ) from None
    try:
        client = Client(scheduler, timeout=30)
    except OSError as exc:
        raise PoiseError(f"--scheduler {scheduler}: can not reach the scheduler ({exc})") from None
    try:
        futures = {
            client.submit(analyse_file, str(p), options, key=f"poise-batch-{k}", pure=False): (
                k,
                p,
            )
            for k, p in todo
        }
        for fut in as_completed(futures):
            k, p = futures[fut]
            yield k, p, fut.result()
    finally:
        client.close()


def run_batch(
    inputs: Iterable[str | Path],
    out: str | Path,
    *,
    jobs: int = 1,
    scheduler: str | None = None,
    options: dict[str, Any] | None = None,
    progress: Callable[[int, int, str, str], None] | None = None,
) -> BatchSummary:
    """Analyse ``inputs`` into the table ``out`` (``.csv``, or ``.parquet`` with pyarrow).

    Parameters
    ----------
    inputs
        Files and folders (:func:`collect_inputs`).
    out
        The table; its journal (:func:`journal_path`) is kept next to it for resumption.
    jobs
        Local worker processes (1: this process).
    scheduler
        Address of a Dask distributed scheduler (``tcp://host:8786``): run there instead.
    options
        ``rate_hz``, ``acc_unit``, ``gyro_unit``, ``columns`` (CSV reading, as ``poise
        analyze``) and ``demographics`` (age, sex, heights, weight) for every file.
    progress
        Called with (files done, errors, file name, status) after each file (default: a
        progress bar on stderr).
    """
    out = Path(out)
    if out.suffix.lower() not in (".csv", ".parquet"):
        raise PoiseError(f"{out}: the table must be a .csv or .parquet file")
    if jobs < 1:
        raise PoiseError(f"--jobs must be >= 1, got {jobs}")
    options = {k: v for k, v in (options or {}).items() if v is not None}
    files = collect_inputs(inputs)
    if not files:
        raise PoiseError("no .poise or .csv file in the inputs")
    if out.parent and not out.parent.exists():
        raise PoiseError(f"{out.parent}: no such folder")
    opt_key = _options_key(options)
    keys: list[str] = []
    for f in files:
        try:
            keys.append(f"{file_sha256(f)}-{opt_key}")
        except OSError:
            keys.append(f"unreadable:{f.resolve()}")
    jpath = journal_path(out)
    done = _read_journal(jpath)
    summary = BatchSummary(files=len(files), out=str(out))
    show = progress or _progress_printer(len(files))
    todo, dups = _plan(files, keys, done, summary, show)
    if scheduler:
        results = _dask_results(todo, options, scheduler)
    else:
        results = _local_results(todo, options, jobs)
    count = summary.skipped + _journal(jpath, results, done, summary, show, summary.skipped)
    for f in dups:
        count += 1
        show(count, summary.errors, str(f), "same content as an earlier file")
    rows = _table_rows(files, keys, done, summary)
    summary.errors = sum(1 for r in rows if r.get("error"))
    summary.rows = len(rows)
    _write_table(out, rows)
    return summary


def _plan(
    files: list[Path],
    keys: list[str],
    done: dict[str, Any],
    summary: BatchSummary,
    show: Callable[[int, int, str, str], None],
) -> tuple[list[tuple[str, Path]], list[Path]]:
    """What to analyse (key, file) and the files whose content is queued already; files
    done before are counted as skipped and shown."""
    todo: list[tuple[str, Path]] = []
    queued: set[str] = set()
    dups: list[Path] = []
    for f, k in zip(files, keys):
        if k in done or k.startswith("unreadable:"):
            if k in done:
                summary.skipped += 1
                show(summary.skipped, summary.errors, str(f), "done before")
            continue
        if k in queued:  # the same content twice: analysed once
            dups.append(f)
        else:
            queued.add(k)
            todo.append((k, f))
    return todo, dups


def _journal(
    jpath: Path,
    results: Iterable[tuple[str, Path, dict[str, Any]]],
    done: dict[str, Any],
    summary: BatchSummary,
    show: Callable[[int, int, str, str], None],
    count: int,
) -> int:
    """Append each result to the journal as it comes (a restart resumes after it);
    returns how many were written."""
    n = 0
    with open(jpath, "a", encoding="utf-8") as journal:
        for k, f, res in results:
            entry = {"v": JOURNAL_VERSION, "key": k, "file": str(f), **res, "t": time.time()}
            journal.write(json.dumps(entry, default=_json_default) + "\n")
            journal.flush()
            done[k] = entry
            summary.analysed += 1
            if res.get("error") and not res.get("not_imu"):
                summary.errors += 1
            n += 1
            status = (
                "no IMU samples, left out"
                if res.get("not_imu")
                else ("error: " + res["error"] if res.get("error") else "ok")
            )
            show(count + n, summary.errors, str(f), status)
    return n


def _table_rows(
    files: list[Path], keys: list[str], done: dict[str, Any], summary: BatchSummary
) -> list[dict[str, Any]]:
    """The table: each file's rows from the journal, an error row, or nothing for a CSV
    without IMU samples (listed in ``summary.not_imu``)."""
    rows: list[dict[str, Any]] = []
    for f, k in zip(files, keys):
        e = done.get(k)
        base = {"file": str(f), "sha256": k.split("-")[0] if e else ""}
        if e is None:
            rows.append({**base, "error": f"{f}: can not be read"})
            continue
        if e.get("not_imu"):
            summary.not_imu.append(str(f))
            continue
        if e.get("error"):
            rows.append({**base, "error": e["error"]})
            continue
        rows += [{**base, **r} for r in e["rows"]]
    return rows


def _json_default(o: Any) -> Any:
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
    except ImportError:  # pragma: no cover
        pass
    return str(o)

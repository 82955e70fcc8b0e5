"""``poise batch``: one table from many files, locally and on a Dask cluster; resumption."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest

from poise.batch import FIXED_COLUMNS, journal_path, run_batch
from poise.cli import main

ROOT = Path(__file__).resolve().parents[2]
SCEN = ROOT / "recordings" / "scenarios"
LAB = ROOT / "recordings" / "mobgap-lab" / "HA-001-Test5-Trial1"


@pytest.fixture
def cohort(tmp_path) -> Path:
    """Five recordings (a copy of one among them), a CSV with its rate, a damaged file and
    a reference table that is no IMU data."""
    d = tmp_path / "cohort"
    (d / "sub").mkdir(parents=True)
    for name in ("tug.poise", "four-stage-fail-tandem.poise", "stance-eo-firm.poise"):
        shutil.copy(SCEN / name, d / name)
    shutil.copy(SCEN / "tug.poise", d / "sub" / "tug-copy.poise")
    lines = (LAB / "imu_lowerback.csv").read_text().splitlines()
    rows = ["t_s," + lines[0]] + [f"{i / 100:.2f},{x}" for i, x in enumerate(lines[1:])]
    (d / "sub" / "walk.csv").write_text("\n".join(rows) + "\n")
    (d / "broken.poise").write_bytes((SCEN / "tug.poise").read_bytes()[:40])
    shutil.copy(LAB / "reference_strides.csv", d / "sub" / "reference_strides.csv")
    return d


def _table(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_one_row_per_recording_and_test_and_an_error_column(cohort, tmp_path):
    out = tmp_path / "r.csv"
    seen = []
    s = run_batch([cohort], out, progress=lambda *a: seen.append(a))
    assert s.files == 7 and s.analysed == 6  # the copy of tug.poise is analysed once
    assert len(seen) == 7 and seen[-1][0] == 7  # progress: every file, done/total
    assert s.not_imu == [str(cohort / "sub" / "reference_strides.csv")]
    rows = _table(out)
    assert list(rows[0])[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    by = {(Path(r["file"]).name, r["test"]): r for r in rows}
    assert by[("tug.poise", "tug")]["total_time_s"] != ""
    assert by[("tug.poise", "fall-risk")]["tug_time_s"] == by[("tug.poise", "tug")]["total_time_s"]
    assert by[("tug.poise", "fall-risk")]["tug_time_s.status"] == "at_risk"
    assert {k[1] for k in by if k[0] == "four-stage-fail-tandem.poise"} == {
        "four-stage",
        "fall-risk",
    }
    # the copy: the same rows under its own name
    copy = [r for r in rows if r["file"].endswith("tug-copy.poise")]
    orig = [r for r in rows if r["file"].endswith(f"{Path('cohort') / 'tug.poise'}")]
    assert [{**r, "file": ""} for r in copy] == [{**r, "file": ""} for r in orig]
    assert by[("walk.csv", "gait")]["gait_speed_mps"] != ""
    (broken,) = [r for r in rows if r["file"].endswith("broken.poise")]
    assert broken["error"] and broken["test"] == "" and "broken.poise" in broken["error"]
    assert s.errors == 1


def test_an_interrupted_run_continues_where_it_stopped(cohort, tmp_path):
    out = tmp_path / "r.csv"
    done = []

    def stop_after_two(n, errors, name, status):
        done.append(name)
        if len(done) == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch([cohort], out, progress=stop_after_two)
    assert not out.exists()
    assert len(journal_path(out).read_text().splitlines()) == 2
    s = run_batch([cohort], out, progress=lambda *a: None)
    assert s.skipped == 2 and s.analysed == 4
    fresh = tmp_path / "fresh.csv"
    run_batch([cohort], fresh, progress=lambda *a: None)
    assert out.read_bytes() == fresh.read_bytes()
    again = run_batch([cohort], out, progress=lambda *a: None)
    assert again.analysed == 0 and again.skipped == 7
    # other options (a demographic) change results: analysed again
    other = run_batch(
        [cohort], out, options={"demographics": {"age": 85}}, progress=lambda *a: None
    )
    assert other.analysed == 6


def test_local_workers_and_a_dask_cluster_give_identical_tables(cohort, tmp_path):
    distributed = pytest.importorskip("distributed")
    one = tmp_path / "one.csv"
    two = tmp_path / "two.csv"
    dask = tmp_path / "dask.csv"
    run_batch([cohort], one, jobs=1, progress=lambda *a: None)
    run_batch([cohort], two, jobs=2, progress=lambda *a: None)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        s = run_batch([cohort], dask, scheduler=cluster.scheduler_address, progress=lambda *a: None)
    assert s.analysed == 6
    assert one.read_bytes() == two.read_bytes() == dask.read_bytes()
    entries = [json.loads(x) for x in journal_path(dask).read_text().splitlines()]
    assert len(entries) == 6


def test_cli(cohort, tmp_path, capsys):
    out = tmp_path / "r.csv"
    assert main(["batch", str(cohort), "--out", str(out), "--jobs", "1"]) == 0
    text = capsys.readouterr()
    assert "7 file(s): 6 analysed, 0 done before, 1 with an error" in text.out
    assert "batch: 7/7" in text.err  # the progress (one line per file when not a terminal)
    assert main(["batch", str(cohort), "--out", str(tmp_path / "r.txt")]) == 2
    assert "must be a .csv or .parquet" in capsys.readouterr().err


def test_a_home_recording_gives_its_daily_life_row(tmp_path, monkeypatch):
    """Files of LONG_FILE_BYTES or more are read in pieces: their row is the daily life."""
    from poise import daily
    from sensors.daily_life import DailyLife, write_recording

    kw = {"day_s": 1800.0, "wear_start_s": 120.0, "wear_end_s": 1680.0, "outings_per_hour": 10}
    dl = DailyLife(100.0, seed=2)
    home = tmp_path / "in" / "home.poise"
    home.parent.mkdir()
    write_recording(home, dl.blocks(0, **kw), start_epoch_s=1.8e9)
    monkeypatch.setattr(daily, "LONG_FILE_BYTES", 1)
    out = tmp_path / "r.csv"
    s = run_batch([home.parent], out, progress=lambda *a: None)
    assert s.analysed == 1 and s.errors == 0
    rows = _table(out)
    assert [r["test"] for r in rows] == ["daily-life", "fall-risk"]
    walks = dl.plan(0, **kw)[1]["walks"]
    assert int(rows[0]["week.n_bouts"]) == len(walks) > 3
    assert rows[0]["week.classes.all.speed_median_mps"] != ""
    assert rows[1]["fall_risk_level"] == "not_determined"


def test_parquet_columns_keep_numbers_as_numbers():
    """Parquet gets typed columns: numbers stay numbers, gaps and NaN are nulls."""
    from poise.batch import parquet_columns

    rows = [
        {"file": "a.poise", "valid": True, "n_stands": 12, "speed_mps": 1.2, "note": "x"},
        {"file": "b.poise", "valid": False, "n_stands": None, "speed_mps": float("nan")},
        {"file": "c.csv", "error": "c.csv: bad", "speed_mps": 3, "note": 4.5},
    ]
    cols = ["file", "valid", "n_stands", "speed_mps", "note", "error"]
    got = parquet_columns(rows, cols)
    assert got["file"] == ("string", ["a.poise", "b.poise", "c.csv"])
    assert got["valid"] == ("bool_", [True, False, None])
    assert got["n_stands"] == ("int64", [12, None, None])
    assert got["speed_mps"] == ("float64", [1.2, None, 3.0])
    assert got["note"] == ("string", ["x", None, "4.5"])  # text wins in a mixed column
    assert got["error"] == ("string", [None, None, "c.csv: bad"])


def test_a_parquet_table_reads_back_with_its_types(cohort, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")  # optional: pip install pyarrow
    out = tmp_path / "r.parquet"
    run_batch([cohort], out, jobs=1, progress=lambda *a: None)
    table = pq.read_table(out)
    csv_rows = _table(_csv_twin(cohort, tmp_path))
    assert table.num_rows == len(csv_rows)
    assert str(table.schema.field("valid").type) == "bool"
    speeds = [v for v in table.column("gait_speed_mps").to_pylist() if v is not None]
    assert speeds and all(isinstance(v, float) for v in speeds)


def _csv_twin(cohort: Path, tmp_path: Path) -> Path:
    out = tmp_path / "twin.csv"
    run_batch([cohort], out, jobs=1, progress=lambda *a: None)
    return out

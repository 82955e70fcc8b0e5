"""Report content, CSV export and the report/export-results/patient commands."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import pytest

from poise.cli import main
from poise.reports import progress_report, results_rows, session_report
from poise.service import import_recording
from poise.store import Store

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "recordings" / "mobgap-lab"
TRIALS = ["HA-001-Test11-Trial1", "HA-001-Test5-Trial1", "HA-001-Test5-Trial2"]
CHAIR = ROOT / "recordings" / "scenarios" / "chair-stand-30s.poise"


@pytest.fixture
def store(tmp_path):
    s = Store(tmp_path / "data")
    s.add_patient("HA-001", birth_year=1955, sex="f", height_m=1.59, weight_kg=73)
    for i, t in enumerate(TRIALS):
        import_recording(s, LAB / t / f"{t}.poise", date=f"2026-0{i + 1}-10")
    import_recording(
        s, CHAIR, patient="HA-001", tests=["chair-stand-30s"], date="2026-02-20", reassign=True
    )
    yield s
    s.close()


def _texts(report) -> str:
    out = [report["title"], report["subtitle"]]
    for b in report["blocks"]:
        for k in ("text",):
            if k in b:
                out.append(b[k])
        for row in b.get("rows", []):
            out += [str(c) for c in row]
    return "\n".join(out)


def test_session_report_has_values_thresholds_and_sources(store):
    s = store.sessions("HA-001")[-1]
    rep = session_report(s, store.patient("HA-001"))
    text = _texts(rep)
    fr = s.fall_risk
    for f in fr["factors"]:
        assert f["label"] in text
        if f["thresholds"]:
            assert f["thresholds"][0]["source"][:30] in text  # the source is cited
    assert fr["disclaimer"] in text
    assert "HA-001" in text and s.date in text


def test_progress_report_matches_series(store):
    rep = progress_report(store, "HA-001")
    plots = [b["series"] for b in rep["blocks"] if b["type"] == "plot"]
    keys = [p["key"] for p in plots]
    assert "gait_speed_mps" in keys and "chair_stand_30s_count" in keys
    gs = next(p for p in plots if p["key"] == "gait_speed_mps")
    stored = [
        next((f["value"] for f in s.fall_risk["factors"] if f["key"] == "gait_speed_mps"), None)
        for s in store.sessions("HA-001")
    ]
    assert gs["values"] == pytest.approx(stored)
    assert gs["change"] == pytest.approx(gs["values"][-1] - gs["values"][0])
    table = next(b for b in rep["blocks"] if b["type"] == "table")
    assert [r[0] for r in table["rows"]] == [p["label"] for p in plots]


def test_csv_rows_hold_every_stored_number(store):
    rows = results_rows(store, "HA-001")
    chair = store.sessions("HA-001")[2]  # by date: 01-10, 02-10, 02-20, 03-10
    assert chair.date == "2026-02-20"
    n = chair.results["chair-stand-30s"]["n_stands"]
    assert any(
        r["session_id"] == chair.id and r["measure"] == "n_stands" and r["value"] == n for r in rows
    )
    assert {r["date"] for r in rows} == {s.date for s in store.sessions("HA-001")}


def test_cli_report_export_and_patient(tmp_path, capsys):
    d = str(tmp_path / "cli")
    assert main(["patient", "--data-dir", d, "add", "HA-001", "--birth-year", "1955",
                 "--sex", "f", "--height", "159", "--weight", "73"]) == 0  # fmt: skip
    for i, t in enumerate(TRIALS[1:]):
        rec = str(LAB / t / f"{t}.poise")
        assert main(["patient", "--data-dir", d, "import", rec, "--date", f"2026-0{i + 1}-01"]) == 0
    assert main(["patient", "--data-dir", d, "import", str(CHAIR)]) == 2  # unknown patient
    assert "not in the store" in capsys.readouterr().err
    out_csv, out_fhir = tmp_path / "r.csv", tmp_path / "r.json"
    out_csv.write_text("old")
    out_csv.chmod(0o644)  # an existing file is replaced only with --force, keeping its mode
    argv = ["export-results", "--data-dir", d, "--patient", "HA-001", "--csv", str(out_csv)]
    assert main(argv) == 2
    assert "--force" in capsys.readouterr().err and out_csv.read_text() == "old"
    assert main(argv + ["--force"]) == 0
    assert (
        main(["export-results", "--data-dir", d, "--patient", "HA-001", "--fhir", str(out_fhir)])
        == 0
    )
    rows = list(csv.DictReader(out_csv.open()))
    assert rows and {r["patient"] for r in rows} == {"HA-001"}
    assert stat.S_IMODE(out_csv.stat().st_mode) == 0o644
    assert stat.S_IMODE(out_fhir.stat().st_mode) == 0o600  # a new file is user-only
    assert json.loads(out_fhir.read_text())["resourceType"] == "Bundle"
    out_json = tmp_path / "rep.json"
    assert main(["report", "--data-dir", d, "1", "--json", str(out_json)]) == 0
    assert json.loads(out_json.read_text())["kind"] == "session"
    rec = str(LAB / TRIALS[0] / f"{TRIALS[0]}.poise")
    assert main(["report", "--data-dir", d, rec, "--json", str(out_json), "--force"]) == 0
    rep = json.loads(out_json.read_text())
    assert "1955" in _texts(rep)  # the store's patient data joined to the recording's pseudonym
    assert main(["report", "--data-dir", d, "42", "--json", str(out_json)]) == 2
    assert (
        main(["export-results", "--data-dir", d, "--patient", "nobody", "--csv", str(out_csv)]) == 2
    )
    assert main(["patient", "--data-dir", d, "delete", "HA-001"]) == 2  # needs --yes
    assert main(["patient", "--data-dir", d, "delete", "HA-001", "--yes"]) == 0
    assert not list((Path(d) / "recordings").rglob("*.poise"))

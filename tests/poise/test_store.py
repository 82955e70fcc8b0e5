"""Store: schema/migrations, permissions, damaged and newer databases, import, deletion."""

from __future__ import annotations

import shutil
import sqlite3
import stat
from pathlib import Path

import pytest

from poise import migrations
from poise.progress import metric_bands, patient_progress
from poise.service import import_recording
from poise.store import Store, StoreError, default_data_dir

ROOT = Path(__file__).resolve().parents[2]
LAB = ROOT / "recordings" / "mobgap-lab"
TRIALS = ["HA-001-Test11-Trial1", "HA-001-Test5-Trial1", "HA-001-Test5-Trial2"]


def rec(trial: str) -> Path:
    return LAB / trial / f"{trial}.poise"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


def test_default_data_dir_honours_env(monkeypatch, tmp_path):
    monkeypatch.delenv("POISE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_data_dir() == tmp_path / "xdg" / "poise"
    monkeypatch.setenv("POISE_DATA_DIR", str(tmp_path / "explicit"))
    assert default_data_dir() == tmp_path / "explicit"


def test_new_store_is_user_only_and_current(tmp_path):
    d = tmp_path / "a" / "data"
    with Store(d) as s:
        assert s.schema_version == migrations.SCHEMA_VERSION
        assert mode(d) == 0o700
        assert mode(s.path) == 0o600
        p = s.add_patient("P-1", birth_year=1950, sex="female", height_m=168, weight_kg=70)
        assert (p.sex, p.height_m) == ("f", 1.68)  # cm accepted, stored in m
        import_recording(s, rec(TRIALS[1]), patient="P-1", date="2026-01-05", reassign=True)
        folder = s.patient_dir(p)
        assert mode(folder) == 0o700 and mode(folder.parent) == 0o700
        files = list(folder.iterdir())
        assert files and all(mode(f) == 0o600 for f in files)


def test_patient_validation(tmp_path):
    with Store(tmp_path) as s:
        s.add_patient("X")
        with pytest.raises(StoreError, match="already exists"):
            s.add_patient("X")
        with pytest.raises(StoreError, match="sex"):
            s.add_patient("Y", sex="q")
        with pytest.raises(StoreError, match="birth year"):
            s.add_patient("Z", birth_year=1700)
        with pytest.raises(StoreError, match="no patient"):
            s.patient("nobody")


def test_damaged_database_is_refused_and_untouched(tmp_path):
    db = tmp_path / "poise.db"
    garbage = b"this is not a database at all\n" * 100
    db.write_bytes(garbage)
    with pytest.raises(StoreError, match="not a Poise database"):
        Store(tmp_path)
    assert db.read_bytes() == garbage
    # a real database with a damaged page
    d2 = tmp_path / "b"
    with Store(d2) as s:
        for i in range(200):
            s.add_patient(f"P{i:03d}", notes="x" * 200)
    data = bytearray((d2 / "poise.db").read_bytes())
    data[4096 + 8 : 4096 + 600] = b"\xff" * 592  # smash a b-tree page after the header
    (d2 / "poise.db").write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged"):
        Store(d2)
    assert (d2 / "poise.db").read_bytes() == bytes(data)


def test_newer_database_is_refused_and_untouched(tmp_path):
    with Store(tmp_path) as s:
        s.add_patient("P")
    conn = sqlite3.connect(tmp_path / "poise.db")
    conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 5}")
    conn.close()
    before = (tmp_path / "poise.db").read_bytes()
    with pytest.raises(StoreError, match="newer Poise"):
        Store(tmp_path)
    assert (tmp_path / "poise.db").read_bytes() == before


def test_migration_from_v1_keeps_data_and_backs_up(tmp_path):
    db = tmp_path / "poise.db"
    conn = sqlite3.connect(db)
    migrations.migrate(conn, target=1)
    conn.execute(
        "INSERT INTO patients (pseudonym, notes, created_utc) VALUES ('OLD', '', '2025-01-01')"
    )
    conn.commit()
    conn.close()
    with Store(tmp_path) as s:
        assert s.schema_version == migrations.SCHEMA_VERSION >= 3
        assert s.find_patient("OLD") is not None
        s.set_plan("OLD", [{"key": "sit_to_stand", "repetitions": 5}])
        assert s.plan("OLD")["exercises"][0]["key"] == "sit_to_stand"
    bak = tmp_path / "poise.db.v1.bak"
    assert bak.exists() and mode(bak) == 0o600


def test_import_by_pseudonym_progress_and_delete(tmp_path):
    outside = tmp_path / "outside.poise"
    shutil.copy(rec(TRIALS[0]), outside)
    with Store(tmp_path / "data") as s:
        with pytest.raises(StoreError, match="not in the store"):
            import_recording(s, rec(TRIALS[0]))
        other = s.add_patient("OTHER")
        p = s.add_patient("HA-001", birth_year=1955, sex="f", height_m=1.59, weight_kg=73)
        for i, t in enumerate(TRIALS):
            import_recording(s, rec(t), date=f"2026-0{i + 1}-10")  # pseudonym from the header
        # the recording names HA-001: filed under OTHER only when confirmed (reassign)
        import_recording(
            s, outside, patient=other.pseudonym, date="2026-01-01", copy=False, reassign=True
        )
        sessions = s.sessions(p)
        assert [x.date for x in sessions] == ["2026-01-10", "2026-02-10", "2026-03-10"]
        assert s.sessions(other)[0].recording_owned is False
        with pytest.raises(StoreError, match="already imported"):
            import_recording(s, outside, patient="OTHER", copy=False, reassign=True)
        with pytest.raises(StoreError, match="already imported"):  # same content, copied
            import_recording(s, rec(TRIALS[0]))
        # progress: gait speed in every session, a band from the norms, change since first
        prog = patient_progress(s, p)
        gs = prog.get("gait_speed_mps")
        assert gs is not None and all(v is not None and 0.3 < v < 2.0 for v in gs.values)
        assert gs.change == pytest.approx(gs.values[-1] - gs.values[0])
        assert {z["status"] for z in gs.zones} == {"normal", "elevated", "at_risk"}
        assert len(prog.sessions) == 3 and all(h["level"] for h in prog.sessions)
        owned = [Path(x.recording_path) for x in sessions]
        assert all(f.exists() for f in owned)
        s.record_adherence(p, date="2026-03-11", exercise="sit_to_stand", completed=True)
        n = s.delete_patient("HA-001")
        assert n == 3 and not any(f.exists() for f in owned)
        assert s.find_patient("HA-001") is None
        left = s.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0]
        assert left == 1  # OTHER's session only
        assert s.conn.execute("SELECT COUNT(*) FROM adherence").fetchone()[0] == 0
        assert outside.exists()  # not owned: never deleted


def test_bands_depend_on_age_and_sex():
    young_f = metric_bands("chair_stand_30s_count", {"age": 62, "sex": "f"})
    old_m = metric_bands("chair_stand_30s_count", {"age": 92, "sex": "m"})
    cut = lambda b: [z["high"] for z in b["zones"] if z["status"] == "at_risk"][0]  # noqa: E731
    assert cut(young_f) != cut(old_m)
    assert metric_bands("chair_stand_30s_count", {})["zones"] == []  # no age/sex: no band


def test_import_uses_stored_results_and_runs_recorded_tests(tmp_path):
    """A therapist-GUI recording: stored test_result wins; a run test without one is computed."""
    from sensors.recording import append_event, load_recording

    src = ROOT / "recordings" / "scenarios" / "tug.poise"
    rec = tmp_path / "session.poise"
    shutil.copy(src, rec)
    dur = load_recording(rec).duration_s
    saved = {"total_time_s": 9.87, "validity": {"valid": True, "code": "ok", "reason": ""}}
    append_event(rec, {"kind": "test_result", "t_s": 1.0, "test": "sway", "result": saved})
    append_event(rec, {"kind": "test_start", "t_s": 0.0, "test": "tug"})
    append_event(rec, {"kind": "test_stop", "t_s": dur, "test": "tug"})
    append_event(rec, {"kind": "marker", "t_s": 2.0, "marker": "note", "text": "tired"})
    with Store(tmp_path / "d") as s:
        s.add_patient("P-3", birth_year=1946, sex="m")
        sess = import_recording(s, rec, patient="P-3", date="2026-04-01", reassign=True)
        assert sess.results["sway"] == saved  # stored as recorded, not recomputed
        tug = sess.results["tug"]
        assert tug.get("total_time_s") and 5 < tug["total_time_s"] < 30  # computed now
        assert sess.markers == [{"t_s": 2.0, "marker": "note", "text": "tired", "stage": None}]
        keys = {f["key"] for f in sess.fall_risk["factors"]}
        assert "tug_time_s" in keys
        # the header names 'synthetic', unknown here: a clear error, or create on request
        with pytest.raises(StoreError, match="not in the store"):
            import_recording(s, src)
        made = import_recording(s, src, create_patient=True, tests=["tug"])
        assert s.get_patient(made.patient_id).pseudonym == "synthetic"
        with pytest.raises(StoreError, match="unknown test"):
            import_recording(s, src, patient="P-3", tests=["juggling"], copy=False, reassign=True)
        bad = tmp_path / "bad.poise"
        bad.write_bytes(b"not a recording")
        with pytest.raises(StoreError, match="can not be imported"):
            import_recording(s, bad, patient="P-3")
        assert len(s.sessions("P-3")) == 1  # nothing half-imported


def _session_recording(tmp_path: Path, before=None, after=None) -> Path:
    """A short live recording; the patient chosen ``before`` the source starts (header)
    or ``after`` the recording opened (a ``patient`` event)."""
    import time

    from poise.session import Session
    from poise.sources import ScriptedSource

    s = Session(data_dir=tmp_path / "gui")
    if before is not None:
        s.set_patient(*before)
    s.set_source(ScriptedSource(1, scenario="quiet_stance", time_scale=10))
    t0 = time.monotonic()
    while s.recording_path is None or s.now_s() < 2.0:
        s.poll()
        time.sleep(0.01)
        assert time.monotonic() - t0 < 10
    if after is not None:
        s.set_patient(*after)
    path = s.recording_path
    s.close()
    return path


def test_a_recording_names_its_patient_and_demographics_issue17_item1(tmp_path, capsys):
    from poise.assessments import recording_patient
    from poise.cli import main
    from poise.store import PatientMismatch
    from sensors.recording import load_recording

    demo = {"age": 78, "sex": "f", "height_m": 1.62, "weight_kg": 60.0}
    in_header = _session_recording(tmp_path, before=("P-7", demo))
    chosen_later = _session_recording(tmp_path, after=("P-7", demo))
    anonymous = _session_recording(tmp_path, after=(None, demo))
    old_style = ROOT / "recordings" / "scenarios" / "tug.poise"  # written before patient events
    for path in (in_header, chosen_later):
        who = recording_patient(load_recording(path))
        assert who == {"pseudonym": "P-7", "anonymous": False, "demographics": demo}
    who = recording_patient(load_recording(anonymous))
    assert who["anonymous"] and who["pseudonym"] is None and who["demographics"] == {}
    old = recording_patient(load_recording(old_style))
    meta = load_recording(old_style).metadata
    assert old["pseudonym"] == meta["patient"] and not old["anonymous"]  # read as before
    assert old["demographics"] == meta.get("demographics", {})
    data = tmp_path / "data"
    with Store(data) as s:
        s.add_patient("P-7", birth_year=1948, sex="f")
        s.add_patient("P-8", birth_year=1950, sex="m")
        assert import_recording(s, in_header).patient_id == s.patient("P-7").id
        # filed under another patient than the one it names: refused until confirmed
        with pytest.raises(PatientMismatch, match="session of P-7"):
            import_recording(s, chosen_later, patient="P-8")
        assert not s.sessions("P-8")
        moved = import_recording(s, chosen_later, patient="P-8", reassign=True)
        assert moved.patient_id == s.patient("P-8").id
    # the report of the recording names the patient (no "unknown patient")
    out = tmp_path / "r.json"
    assert main(["report", str(chosen_later), "--json", str(out), "--data-dir", str(data)]) == 0
    assert "P-7" in out.read_text() and "unknown patient" not in out.read_text()
    assert main(["info", str(anonymous)]) == 0
    assert "patient anonymous" in capsys.readouterr().out

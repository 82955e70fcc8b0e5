"""The store under concurrency and with bad values (issue 11, items 5, 6, 12, 13): an import
is atomic, a busy database is not called damaged, pseudonyms are printable and short
enough for a folder name, a damaged text field is an error naming the database."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

import poise.store as store_mod
from poise import migrations, service
from poise.cli import main
from poise.service import import_recording
from poise.store import Store, StoreError

ROOT = Path(__file__).resolve().parents[2]
REC = ROOT / "recordings" / "mobgap-lab" / "HA-001-Test5-Trial1" / "HA-001-Test5-Trial1.poise"


# -- 5. the duplicate check is atomic ----------------------------------------------------


def test_two_imports_of_one_recording_racing_give_one_session(tmp_path, monkeypatch):
    """The second import finishes while the first is analysing: the first must not insert."""
    with Store(tmp_path) as s:
        s.add_patient("HA-001")
    real = service.analyse_session
    raced: list = []

    def analyse_while_another_imports(*args, **kwargs):
        if not raced:
            raced.append(True)
            with Store(tmp_path) as other:  # another process, same database
                raced.append(import_recording(other, REC))
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "analyse_session", analyse_while_another_imports)
    with Store(tmp_path) as s:
        with pytest.raises(StoreError, match="already imported for HA-001 as session") as info:
            import_recording(s, REC)
        assert f"session {raced[1].id}" in str(info.value)
        sessions = s.sessions("HA-001")
        assert [x.id for x in sessions] == [raced[1].id]
        folder = s.patient_dir(s.patient("HA-001"))
        assert [f.name for f in folder.iterdir()] == [REC.name]  # the loser's copy is gone


def test_two_import_processes_started_together(tmp_path, cli):
    import subprocess
    import sys

    assert main(["patient", "--data-dir", str(tmp_path), "add", "HA-001"]) == 0
    cmd = [sys.executable, "-m", "poise", "patient", "--data-dir", str(tmp_path), "import"]
    procs = [
        subprocess.Popen(
            cmd + [str(REC)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    results = [(p.wait(120), p.stderr.read()) for p in procs]
    assert sorted(rc for rc, _ in results) == [0, 2], results
    err = next(e for rc, e in results if rc == 2)
    assert "already imported" in cli.one_line(err) and "Traceback" not in err
    with Store(tmp_path) as s:
        assert len(s.sessions("HA-001")) == 1


def test_migration_to_the_unique_index_keeps_earlier_duplicates(tmp_path):
    db = tmp_path / "poise.db"
    conn = sqlite3.connect(db, isolation_level=None)
    migrations.migrate(conn, target=3)
    conn.execute("INSERT INTO patients (pseudonym, created_utc) VALUES ('P', '2025-01-01')")
    for _ in range(2):  # two imports that raced under schema 3
        conn.execute(
            "INSERT INTO sessions (patient_id, date, imported_utc, recording_sha256) "
            "VALUES (1, '2025-01-01', '2025-01-01', 'abc')"
        )
    conn.close()
    with Store(tmp_path) as s:
        assert s.schema_version == migrations.SCHEMA_VERSION
        got = [x.recording_sha256 for x in s.sessions("P")]
        assert got == ["abc", None]  # both kept; only the oldest keeps the hash
        with pytest.raises(StoreError, match="already imported"):
            s.add_session("P", date="2025-01-02", recording_sha256="abc")


# -- 6. busy is not damaged -----------------------------------------------------------------


def _hold_lock(db: Path, how: str, release: threading.Event, held: threading.Event) -> None:
    conn = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    conn.execute(f"BEGIN {how}")
    held.set()
    release.wait(30)
    conn.execute("ROLLBACK")
    conn.close()


@pytest.mark.parametrize(
    "how, argv",
    [
        ("EXCLUSIVE", ["list"]),  # reading is blocked: was "damaged ... move it away"
        ("IMMEDIATE", ["add", "P-2"]),  # writing is blocked: was a traceback
    ],
)
def test_a_busy_database_is_busy_not_damaged(tmp_path, cli, monkeypatch, how, argv):
    monkeypatch.setattr(store_mod, "BUSY_TIMEOUT_S", 0.2)
    assert main(["patient", "--data-dir", str(tmp_path), "add", "P-1"]) == 0
    release, held = threading.Event(), threading.Event()
    t = threading.Thread(target=_hold_lock, args=(tmp_path / "poise.db", how, release, held))
    t.start()
    try:
        assert held.wait(10)
        rc, err = cli(["patient", "--data-dir", str(tmp_path)] + argv)
    finally:
        release.set()
        t.join()
    line = cli.one_line(err)
    assert rc == 2 and "another Poise is using the database" in line and "try again" in line
    assert "damaged" not in line and "move it away" not in line
    assert str(tmp_path / "poise.db") in line
    assert main(["patient", "--data-dir", str(tmp_path)] + argv) == 0  # free again: works


# -- 12. pseudonyms ------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", ["P\n1", "P\t1", "P\x00", "x" * 300, "é" * 41])
def test_pseudonyms_are_printable_and_short(tmp_path, cli, bad):
    with Store(tmp_path) as s:
        with pytest.raises(StoreError, match="pseudonym"):
            s.add_patient(bad)
        assert s.list_patients() == []
    rc, err = cli(["patient", "--data-dir", str(tmp_path), "add", bad])
    assert rc == 2 and "pseudonym" in cli.one_line(err)
    with Store(tmp_path) as s:
        s.add_patient("é" * 40)  # the longest allowed, in letters of 2 UTF-8 bytes
        import_recording(s, REC, patient="é" * 40, reassign=True)


def test_an_old_long_pseudonym_still_imports(tmp_path):
    with Store(tmp_path) as s:
        s.conn.execute(
            "INSERT INTO patients (pseudonym, created_utc) VALUES (?, '2025-01-01')", ("y" * 300,)
        )
        import_recording(s, REC, patient="y" * 300, reassign=True)  # was: File name too long
        assert len(s.sessions("y" * 300)) == 1


def test_import_create_refuses_a_bad_pseudonym_from_the_header(tmp_path, cli):
    from sensors.recording import RecordingWriter, load_recording

    src = load_recording(REC)
    bad = tmp_path / "bad.poise"
    with RecordingWriter(bad, {**src.metadata, "patient": "A\nB"}) as w:
        w.write_event({"kind": "note", "t_s": 0.0})
    rc, err = cli(["patient", "--data-dir", str(tmp_path / "d"), "import", str(bad), "--create"])
    assert rc == 2 and "pseudonym" in cli.one_line(err)


def test_commands_writing_a_pseudonym_into_a_header_check_it(tmp_path, cli):
    csv = ROOT / "recordings" / "mobgap-lab" / "HA-001-Test5-Trial1" / "imu_lowerback.csv"
    for argv in (
        ["import-csv", str(csv), "-o", str(tmp_path / "x.poise"), "--rate", "100"],
        ["record", "-o", str(tmp_path / "x.poise"), "--demo", "1", "--seconds", "0.2"],
    ):
        rc, err = cli(argv + ["--patient", "A\tB"])
        assert rc == 2 and "pseudonym" in cli.one_line(err)
        assert not (tmp_path / "x.poise").exists()


# -- 13. a damaged text field -------------------------------------------------------------------


def test_undecodable_text_in_the_database_names_the_file(tmp_path, cli):
    with Store(tmp_path) as s:
        s.add_patient("P-1")
        s.conn.execute("UPDATE patients SET notes = CAST(x'41ff42' AS TEXT)")
    rc, err = cli(["patient", "--data-dir", str(tmp_path), "list"])
    line = cli.one_line(err)
    assert rc == 2 and str(tmp_path / "poise.db") in line and "UTF-8" in line
    assert "notes" in line

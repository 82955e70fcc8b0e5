"""What commands do to the files they write: never an input, never an existing file without
--force, atomically (a failed write leaves the old file), new files private from creation,
nothing existing chmod-ed, a write error is a one-line failure (issue 11, items 1-4)."""

from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

import numpy as np
import pytest

from gui.commands import main
from poise.errors import PoiseError

ROOT = Path(__file__).resolve().parents[2]
SCENARIO = ROOT / "recordings" / "scenarios" / "stance-ec-firm.poise"
TRIAL = ROOT / "recordings" / "mobgap-lab" / "HA-001-Test5-Trial1" / "imu_lowerback.csv"


def mode(p: Path) -> int:
    return stat.S_IMODE(p.stat().st_mode)


@pytest.fixture
def rec(tmp_path) -> Path:
    p = tmp_path / "x.poise"
    shutil.copyfile(SCENARIO, p)
    return p


@pytest.fixture
def csv_in(tmp_path) -> Path:
    p = tmp_path / "in.csv"
    shutil.copyfile(TRIAL, p)
    return p


def _leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(f.name for f in folder.iterdir() if f.name not in keep)


# -- 1. never over an input ------------------------------------------------------------


@pytest.mark.parametrize("flag", ["--pdf", "--json"])
@pytest.mark.parametrize("force", [[], ["--force"]])
def test_report_refuses_to_write_over_its_recording(rec, flag, force, cli, tmp_path):
    before = rec.read_bytes()
    rc, err = cli(["report", str(rec), flag, str(rec), "--data-dir", str(tmp_path / "d")] + force)
    assert rc == 2
    assert "input" in cli.one_line(err) and str(rec) in err
    assert rec.read_bytes() == before


@pytest.mark.parametrize("link", ["hard", "sym"])
def test_export_refuses_a_link_to_its_recording(rec, link, cli):
    before = rec.read_bytes()
    out = rec.with_name("alias.csv")
    os.link(rec, out) if link == "hard" else os.symlink(rec, out)
    rc, err = cli(["export", str(rec), "--csv", str(out), "--force"])
    assert rc == 2 and "input" in cli.one_line(err)
    assert rec.read_bytes() == before


def test_import_csv_refuses_a_hard_link_to_its_csv(csv_in, cli):
    before = csv_in.read_bytes()
    out = csv_in.with_name("alias.poise")
    os.link(csv_in, out)
    rc, err = cli(["import-csv", str(csv_in), "-o", str(out), "--rate", "100", "--force"])
    assert rc == 2 and "input" in cli.one_line(err)
    assert csv_in.read_bytes() == before


def test_report_pdf_and_json_to_one_file_is_refused(rec, cli, tmp_path):
    out = tmp_path / "r.out"
    rc, err = cli(["report", str(rec), "--pdf", str(out), "--json", str(out)])
    assert rc == 2 and "twice" in cli.one_line(err)
    assert not out.exists()


def test_report_refuses_to_write_over_the_database(tmp_path, cli):
    d = tmp_path / "d"
    assert main(["patient", "--data-dir", str(d), "add", "P-1"]) == 0
    db = d / "poise.db"
    before = db.read_bytes()
    rc, err = cli(
        ["report", "--data-dir", str(d), "--progress", "P-1", "--json", str(db), "--force"]
    )
    assert rc == 2 and "input" in cli.one_line(err)
    assert db.read_bytes() == before
    rc, err = cli(
        ["export-results", "--data-dir", str(d), "--patient", "P-1", "--csv", str(db), "--force"],
    )
    assert rc == 2 and "input" in cli.one_line(err)
    assert db.read_bytes() == before


# -- 2. --force, atomic replacement -------------------------------------------------------


def test_export_and_report_need_force_to_replace(rec, tmp_path, cli):
    data = tmp_path / "d"
    for argv in (
        ["export", str(rec), "--csv", "{out}"],
        ["report", str(rec), "--json", "{out}", "--data-dir", str(data)],
    ):
        out = tmp_path / "old.txt"
        out.write_text("old")
        rc, err = cli([a.format(out=out) for a in argv])
        assert rc == 2 and "--force" in cli.one_line(err) and "exists" in err
        assert out.read_text() == "old"
        rc, err = cli([a.format(out=out) for a in argv] + ["--force"])
        assert rc == 0, err
        assert out.read_text() != "old"
        assert _leftovers(tmp_path, {"x.poise", "old.txt"}) == []


def test_a_failed_export_leaves_the_old_file(rec, tmp_path, cli, monkeypatch):
    out = tmp_path / "e.csv"
    out.write_text("old")

    def broken_savetxt(fh, *args, **kwargs):
        fh.write("0.0,1,2,3\n")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savetxt", broken_savetxt)
    rc, err = cli(["export", str(rec), "--csv", str(out), "--force"])
    assert rc == 2 and "No space left" in cli.one_line(err)
    assert out.read_text() == "old"
    assert _leftovers(tmp_path, {"x.poise", "e.csv"}) == []


def test_output_file_is_replaced_by_rename_only_on_success(tmp_path):
    from poise.outputs import OutputFile, write_atomically

    target = tmp_path / "t.txt"
    target.write_text("old")
    ino = target.stat().st_ino
    with pytest.raises(RuntimeError):
        with write_atomically(target, force=True) as fh:
            fh.write("new")
            raise RuntimeError("interrupted")
    assert target.read_text() == "old" and target.stat().st_ino == ino
    assert _leftovers(tmp_path, {"t.txt"}) == []
    with write_atomically(target, force=True) as fh:
        fh.write("new")
    assert target.read_text() == "new"
    with pytest.raises(PoiseError, match="already exists"):
        OutputFile(target)


# -- 3. a write error is an error --------------------------------------------------------


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full")
@pytest.mark.parametrize(
    "argv",
    [
        ["report", "{rec}", "--pdf", "/dev/full"],
        ["report", "{rec}", "--json", "/dev/full"],
        ["export", "{rec}", "--csv", "/dev/full"],
    ],
)
def test_writing_to_a_full_device_fails_with_one_line(rec, argv, tmp_path, cli):
    argv = [a.format(rec=rec) for a in argv] + ["--data-dir", str(tmp_path / "d")] * (
        argv[0] == "report"
    )
    before = os.stat("/dev/full")
    rc, err = cli(argv + ["--force"])
    assert rc == 2 and "No space left on device" in cli.one_line(err)
    after = os.stat("/dev/full")
    assert (after.st_mode, after.st_ino, after.st_rdev) == (
        before.st_mode,
        before.st_ino,
        before.st_rdev,
    )  # still the same device, its mode untouched
    rc, err = cli(argv)  # without --force: exists
    assert rc == 2 and "--force" in cli.one_line(err)


# -- 4. nothing touched that is not ours ---------------------------------------------------


def test_replaced_files_keep_their_mode_and_new_files_are_private(rec, csv_in, tmp_path, cli):
    d = tmp_path / "d"
    targets = {
        "e.csv": ["export", str(rec), "--csv", "{out}", "--force"],
        "r.json": ["report", str(rec), "--json", "{out}", "--data-dir", str(d), "--force"],
        "i.poise": ["import-csv", str(csv_in), "-o", "{out}", "--rate", "100", "--force"],
    }
    for name, argv in targets.items():
        out = tmp_path / name
        out.write_text("old")
        out.chmod(0o644)
        rc, err = cli([a.format(out=out) for a in argv])
        assert rc == 0, err
        assert out.read_text(errors="replace") != "old"
        assert mode(out) == 0o644, name  # replaced, not chmod-ed
        new = tmp_path / "new" / "deeper" / name
        rc, err = cli([a.format(out=new) for a in argv])
        assert rc == 0, err
        assert mode(new) == 0o600 and mode(new.parent) == 0o700, name
    assert not d.exists()  # reading a recording's report created no data folder


def test_export_into_a_fifo_writes_in_place_without_chmod(rec, tmp_path, cli):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo, 0o644)
    fifo.chmod(0o644)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(fifo.read_bytes()), daemon=True)
    reader.start()
    rc, err = cli(["export", str(rec), "--csv", str(fifo), "--force"])
    reader.join(10)
    assert rc == 0, err
    assert stat.S_ISFIFO(fifo.lstat().st_mode) and mode(fifo) == 0o644
    assert got and got[0].startswith(b"t_s,acc_x_mps2")


def test_read_only_patient_commands_create_and_chmod_nothing(tmp_path, cli):
    d = tmp_path / "shared"
    d.mkdir()
    d.chmod(0o755)
    rc, err = cli(["patient", "--data-dir", str(d), "list"])
    assert rc == 0, err
    assert mode(d) == 0o755 and list(d.iterdir()) == []
    rc, err = cli(["patient", "--data-dir", str(tmp_path / "none"), "list"])
    assert rc == 0, err
    assert not (tmp_path / "none").exists()
    # a command that writes creates the database, but leaves the existing folder's mode
    assert main(["patient", "--data-dir", str(d), "add", "P-1"]) == 0
    assert mode(d) == 0o755 and mode(d / "poise.db") == 0o600


def test_record_overwrite_keeps_the_mode_and_mtu_is_checked_first(tmp_path, cli):
    out = tmp_path / "r.poise"
    for mtu, needle in (("5", "--mtu"), ("100000", "--mtu")):
        argv = ["record", "-o", str(out), "--demo", "1", "--seconds", "0.3", "--quiet"]
        rc, err = cli(argv + ["--mtu", mtu])
        assert rc == 2 and needle in cli.one_line(err) and "23" in err and "517" in err
        assert not out.exists()
    out.write_text("old")
    out.chmod(0o644)
    rc, err = cli(
        ["record", "-o", str(out), "--demo", "1", "--seconds", "0.5", "--quiet", "--overwrite"],
    )
    assert rc == 0, err
    assert out.read_bytes().startswith(b"\x89POISE") and mode(out) == 0o644
    assert _leftovers(tmp_path, {"r.poise"}) == []


def test_emulate_truth_is_checked_before_serving(rec, tmp_path, cli):
    before = rec.read_bytes()
    rc, err = cli(["emulate", "--source", str(rec), "--truth", str(rec), "--seconds", "0.1"])
    assert rc == 2 and "input" in cli.one_line(err)
    assert rec.read_bytes() == before
    old = tmp_path / "truth.json"
    old.write_text("old")
    rc, err = cli(["emulate", "--truth", str(old), "--seconds", "0.1"])
    assert rc == 2 and "--force" in cli.one_line(err) and old.read_text() == "old"

"""``poise analyze``: JSON contract, text summary, dispatch to tests/fall risk, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from poise.cli import main

ROOT = Path(__file__).resolve().parents[2]
TRIAL = ROOT / "recordings" / "mobgap-lab" / "HA-001-Test5-Trial1"
CSV = TRIAL / "imu_lowerback.csv"


def _run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(["analyze", *map(str, argv)])
    out = capsys.readouterr()
    return rc, out.out, out.err


def test_json_contract_on_csv(capsys):
    rc, out, _ = _run(capsys, CSV, "--rate", 100, "--format", "json", "--sensor-height-m", 0.964)
    assert rc == 0
    d = json.loads(out)
    assert {"walking_bouts", "initial_contacts_s", "turns", "transitions"} <= d.keys()
    assert len(d["walking_bouts"]) == 1
    b = d["walking_bouts"][0]
    for k in (
        "start_s",
        "end_s",
        "n_steps",
        "cadence_spm",
        "walking_speed_mps",
        "stride_length_m",
        "stride_time_cv",
    ):
        assert k in b
    # reference (INDIP): bout 5.04-9.88 s, 100.5 steps/min, 1.06 m/s
    assert 4.5 < b["start_s"] < 5.5 and 9.3 < b["end_s"] < 10.5
    assert b["cadence_spm"] == pytest.approx(100.5, abs=5)
    assert b["walking_speed_mps"] == pytest.approx(1.06, abs=0.15)
    assert len(d["initial_contacts_s"]) >= 7
    assert d["sensor_height_source"] == "given"
    for tr in d["transitions"]:
        assert tr["type"] in {"sit-to-stand", "stand-to-sit"}


def test_recording_input_uses_the_header_sensor_height_and_falls_back(capsys):
    rec = TRIAL / "HA-001-Test5-Trial1.poise"
    if not rec.exists():
        pytest.skip("no .poise copy of the trial")
    info = json.loads((TRIAL / "info.json").read_text())["participant"]
    rc, out, _ = _run(capsys, rec, "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["sensor_height_source"] == "given"
    assert d["sensor_height_m"] == pytest.approx(info["sensor_height_m"], abs=1e-3)
    assert len(d["walking_bouts"]) == 1
    # the command line wins over the header
    rc, out, _ = _run(capsys, rec, "--format", "json", "--sensor-height-m", 1.0)
    assert json.loads(out)["sensor_height_m"] == pytest.approx(1.0)
    # a CSV has no header: the body height gives 0.53 x height
    rc, out, _ = _run(capsys, CSV, "--rate", 100, "--format", "json", "--height-m", 1.59)
    d = json.loads(out)
    assert d["sensor_height_source"] == "body-height"
    assert d["sensor_height_m"] == pytest.approx(0.53 * 1.59, abs=1e-3)


def test_text_summary(capsys):
    rc, out, _ = _run(capsys, CSV, "--rate", 100)
    assert rc == 0
    assert "bout 1:" in out and "steps/min" in out and "initial contacts" in out


def test_no_walking_csv_gives_empty_results(tmp_path, capsys):
    rng = np.random.default_rng(0)
    x = np.hstack(
        [
            np.tile([9.81, 0, 0], (1500, 1)) + rng.normal(0, 0.02, (1500, 3)),
            rng.normal(0, 0.5, (1500, 3)),
        ]
    )
    p = tmp_path / "still.csv"
    np.savetxt(p, x, delimiter=",", header="acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z", comments="")
    rc, out, _ = _run(capsys, p, "--rate", 100, "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["walking_bouts"] == [] and d["initial_contacts_s"] == [] and d["turns"] == []


def test_test_and_fall_risk_dispatch(capsys):
    rc, out, _ = _run(capsys, CSV, "--rate", 100, "--test", "walk-2min", "--format", "json")
    assert rc == 0
    d = json.loads(out)
    assert d["test"] == "walk-2min" and "validity" in d
    rc, out, _ = _run(
        capsys, CSV, "--rate", 100, "--fall-risk", "--age", 72, "--sex", "f", "--format", "json"
    )
    assert rc == 0
    assert "level" in json.loads(out)


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["/no/such/file.csv"], "no such file"),
        ([str(CSV), "--rate", "100", "--sensor-height-m", "-1"], "sensor-height-m"),
        ([str(CSV), "--rate", "0"], "rate"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv, needle):
    rc, out, err = _run(capsys, *argv)
    assert rc == 2 and out == ""
    assert needle in err and err.count("\n") == 1


def test_analyze_does_not_load_the_event_loop(tmp_path):
    """Reading and analysing a recording needs no asyncio (30-70 ms of imports): the BLE
    commands and the device drivers import it where they wait for a sensor."""
    import subprocess
    import sys

    rec = ROOT / "recordings" / "scenarios" / "tug.poise"
    code = (
        "import sys, contextlib, io\n"
        "from poise.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    code = main(['analyze', {str(rec)!r}, '--format', 'json',"
        f" '--data-dir', {str(tmp_path)!r}])\n"
        "assert code == 0, code\n"
        "assert 'asyncio' not in sys.modules, 'asyncio imported'\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr

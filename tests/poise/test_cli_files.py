"""The file commands of the CLI: import-csv, info, export, and poise.inputs.load_input."""

from __future__ import annotations

import csv
import json
import stat
from pathlib import Path

import numpy as np
import pytest

from firmware_protocol import codec
from firmware_protocol.types import (
    ACC_RANGES_G,
    GYRO_RANGES_DPS,
    STANDARD_GRAVITY_MPS2,
    SensorConfig,
)
from poise.cli import main
from poise.errors import PoiseError
from poise.inputs import load_input
from sensors.recording import RecordingWriter, load_recording

REPO = Path(__file__).resolve().parents[2]
TRIALS = sorted((REPO / "recordings" / "mobgap-lab").glob("*/imu_lowerback.csv"))
COLS = ["acc_x", "acc_y", "acc_z", "gyr_x", "gyr_y", "gyr_z"]


def _read(path: Path) -> tuple[list[str], np.ndarray]:
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], np.array(rows[1:], dtype=float)


def _write_csv(path: Path, header: list[str], data) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(data)
    return path


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    return err[0]


def test_there_are_trials():
    assert len(TRIALS) == 5


@pytest.mark.parametrize("csv_path", TRIALS, ids=lambda p: p.parent.name)
def test_import_then_export_round_trips_within_quantisation(tmp_path, csv_path, capsys):
    out = tmp_path / "t.poise"
    trial = csv_path.parent.name
    args = ["import-csv", str(csv_path), "-o", str(out), "--rate", "100"]
    args += ["--acc-unit", "m/s2", "--gyro-unit", "deg/s", "--patient", trial]
    assert main(args) == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert main(["export", str(out), "--csv", str(tmp_path / "e.csv")]) == 0
    header, orig = _read(csv_path)
    assert header == COLS
    eh, exp = _read(tmp_path / "e.csv")
    # time, then acc x, y, z in m/s^2 and gyro x, y, z in rad/s
    si = [f"{q}_{axis}_{unit}" for q, unit in (("acc", "mps2"), ("gyr", "radps")) for axis in "xyz"]
    assert eh == ["t_s", *si]
    assert exp.shape == orig.shape[:1] + (7,)
    np.testing.assert_allclose(exp[:, 0], np.arange(len(orig)) / 100.0, atol=1e-6)
    md = load_recording(out).metadata
    assert md["patient"] == trial and md["sensors"][0]["placement"] == "lower-back"
    cfg = SensorConfig.from_dict(md["sensors"][0]["config"])
    acc_err = np.abs(exp[:, 1:4] - orig[:, :3])
    gyr_err = np.abs(exp[:, 4:7] - np.deg2rad(orig[:, 3:]))
    assert acc_err.max() <= 0.5 * cfg.acc_scale_mps2 * (1 + 1e-6)
    assert gyr_err.max() <= 0.5 * cfg.gyro_scale_radps * (1 + 1e-6)
    # the smallest ranges that hold the data were chosen
    acc_peak = np.abs(orig[:, :3]).max() / STANDARD_GRAVITY_MPS2
    gyr_peak = np.abs(orig[:, 3:]).max()
    smaller_acc = [r for r in ACC_RANGES_G if r < cfg.acc_range_g]
    smaller_gyr = [r for r in GYRO_RANGES_DPS if r < cfg.gyro_range_dps]
    assert all(acc_peak > r * 32767 / 32768 for r in smaller_acc)
    assert all(gyr_peak > r * 32767 / 32768 for r in smaller_gyr)
    assert acc_peak <= cfg.acc_range_g and gyr_peak <= cfg.gyro_range_dps


def test_info_json_and_text(tmp_path, capsys):
    n = 500
    t = np.arange(n) / 200
    data = np.column_stack([np.sin(t), np.cos(t), t, 10 * t, -t, np.ones(n)])
    data[100:110] = np.nan  # missing rows in the source
    src = _write_csv(tmp_path / "s.csv", COLS, data)
    out = tmp_path / "s.poise"
    assert (
        main(["import-csv", str(src), "-o", str(out), "--rate", "200", "--placement", "left-shank"])
        == 0
    )
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    (s,) = info["sensors"]
    assert s["id"] == "left-shank" and s["placement"] == "left-shank" and s["rate_hz"] == 200
    assert s["samples"] == n - 10
    assert s["gaps"] == [
        {"start_s": 0.5, "end_s": 0.55, "samples": 10, "reason": s["gaps"][0]["reason"]}
    ]
    assert info["duration_s"] == pytest.approx(n / 200)
    assert info["damage"] == [] and info["events"] == 0
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "left-shank" in text and "490 samples" in text and "damage: none" in text


def test_info_reports_damage_with_offsets_and_keeps_the_rest(tmp_path, capsys):
    out = tmp_path / "t.poise"
    assert main(["import-csv", str(TRIALS[1]), "-o", str(out), "--rate", "100"]) == 0
    data = bytearray(out.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 4] = b"\xff\xff\xff\xff"
    out.write_bytes(bytes(data[:-7]))  # and a torn end
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    offsets = [d["offset"] for d in info["damage"]]
    assert len(offsets) == 2 and offsets[0] <= mid < offsets[1]
    assert not info["closed_cleanly"]
    s = info["sensors"][0]
    n = len(_read(TRIALS[1])[1])
    assert n - 2 * 19 <= s["samples"] < n  # one packet in the middle, one at the end
    assert sum(g["samples"] for g in s["gaps"]) == s["missing_samples"]


def test_csv_and_its_recording_load_identically(tmp_path):
    out = tmp_path / "t.poise"
    assert main(["import-csv", str(TRIALS[0]), "-o", str(out), "--rate", "100"]) == 0
    a = load_input(TRIALS[0], rate_hz=100)
    b = load_input(out)
    np.testing.assert_array_equal(a.sensors[0].acc_mps2, b.sensors[0].acc_mps2)
    np.testing.assert_array_equal(a.sensors[0].gyr_radps, b.sensors[0].gyr_radps)
    np.testing.assert_array_equal(a.sensors[0].t_s, b.sensors[0].t_s)


def test_exported_csv_imports_again_with_its_time_column(tmp_path):
    n = 300
    rng = np.random.default_rng(1)
    data = rng.normal(0, 2, (n, 6))
    data[50:60] = np.nan
    src = _write_csv(tmp_path / "s.csv", COLS, data)
    assert main(["import-csv", str(src), "-o", str(tmp_path / "a.poise"), "--rate", "50"]) == 0
    assert main(["export", str(tmp_path / "a.poise"), "--csv", str(tmp_path / "a.csv")]) == 0
    cols = "acc_x_mps2,acc_y_mps2,acc_z_mps2,gyr_x_radps,gyr_y_radps,gyr_z_radps"
    args = ["import-csv", str(tmp_path / "a.csv"), "-o", str(tmp_path / "b.poise")]
    assert main(args + ["--gyro-unit", "rad/s", "--columns", cols]) == 0  # no --rate: t_s says 50
    a = load_input(tmp_path / "a.poise").sensors[0]
    b = load_input(tmp_path / "b.poise").sensors[0]
    assert b.sampling_rate_hz == 50 and [g.samples for g in b.gaps] == [10]
    np.testing.assert_allclose(b.acc_mps2, a.acc_mps2, atol=0.5 * b.config.acc_scale_mps2 + 1e-9)
    np.testing.assert_allclose(b.t_s, a.t_s, atol=1e-6)


def test_unsupported_rate_is_resampled_and_said(tmp_path, capsys):
    rate = 128.0
    t = np.arange(1280) / rate
    sig = np.column_stack([np.sin(2 * np.pi * 0.5 * t)] * 3 + [np.cos(2 * np.pi * 0.5 * t)] * 3)
    src = _write_csv(tmp_path / "r.csv", COLS, sig)
    out = tmp_path / "r.poise"
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "128"]) == 0
    err = capsys.readouterr().err
    assert "128 Hz" in err and "resampled to 100 Hz" in err
    s = load_input(out).sensors[0]
    assert s.sampling_rate_hz == 100
    expect = np.sin(2 * np.pi * 0.5 * s.t_s)
    np.testing.assert_allclose(s.acc_mps2[:, 0], expect, atol=2e-3)


def test_out_of_range_values_are_clipped_with_a_warning(tmp_path, capsys):
    data = np.zeros((40, 6))
    data[5, 0] = 20.0  # g
    src = _write_csv(tmp_path / "c.csv", COLS, data)
    out = tmp_path / "c.poise"
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "100", "--acc-unit", "g"]) == 0
    assert "1 accelerometer values exceed +-16 g; clipped" in capsys.readouterr().err
    s = load_input(out).sensors[0]
    assert s.config.acc_range_g == 16
    assert s.acc_mps2[5, 0] == pytest.approx(16 * STANDARD_GRAVITY_MPS2, rel=1e-4)


@pytest.mark.parametrize(
    ("content", "extra", "message"),
    [
        ("acc_x,acc_y,gyr_x,gyr_y,gyr_z\n1,2,3,4,5\n", [], "missing column(s) acc_z"),
        (
            "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,3,4,5,6\n1,2,x3,4,5,6\n",
            [],
            "line 3, column 'acc_z': not a number: 'x3'",
        ),
        (
            "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,,4,5,6\n",
            [],
            "line 2, column 'acc_z': not a number: ''",
        ),
        ("", [], "empty file"),
        ("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n", [], "no data rows"),
        ("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,3,4,5\n", [], "line 2: 5 fields"),
        ("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,3,4,5,6\n", ["--rate", "0"], "invalid rate"),
        ("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,3,4,5,6\n", ["--rate", "nan"], "invalid rate"),
        (
            "t_s,acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n0,1,2,3,4,5,6\n0.02,1,2,3,4,5,6\n0.04,1,2,3,4,5,6\n",
            ["--rate", "100"],
            "says 50 Hz",
        ),
        ("acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z\n1,2,3,4,5,6\n", ["--columns", "a,b"], "6 columns"),
    ],
)
def test_bad_csv_is_one_clear_line_and_writes_nothing(tmp_path, capsys, content, extra, message):
    src = tmp_path / "bad.csv"
    src.write_text(content)
    out = tmp_path / "out.poise"
    rate = [] if "--rate" in extra else ["--rate", "100"]
    code = main(["import-csv", str(src), "-o", str(out), *rate, *extra])
    assert code != 0
    line = _one_error_line(capsys)
    assert message in line and line.startswith("poise import-csv: error:")
    assert not out.exists()
    with pytest.raises(PoiseError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_input(
            src,
            rate_hz=float(extra[1]) if "--rate" in extra else 100.0,
            columns=extra[1] if "--columns" in extra else None,
        )


def test_missing_rate_without_time_column(tmp_path, capsys):
    src = _write_csv(tmp_path / "x.csv", COLS, np.zeros((5, 6)))
    assert main(["import-csv", str(src), "-o", str(tmp_path / "x.poise")]) == 2
    assert "--rate" in _one_error_line(capsys)


def test_wrong_files_give_one_line_errors(tmp_path, capsys):
    src = _write_csv(tmp_path / "x.csv", COLS, np.zeros((5, 6)))
    for cmd in (["info", str(src)], ["export", str(src), "--csv", str(tmp_path / "o.csv")]):
        assert main(cmd) == 2
        line = _one_error_line(capsys)
        assert "x.csv: not a Poise recording (bad magic)" in line
    assert main(["info", str(tmp_path / "nope.poise")]) == 2
    assert "nope.poise: no such file" in _one_error_line(capsys)
    out = tmp_path / "x.poise"
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "100"]) == 0
    capsys.readouterr()
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "100"]) == 2
    assert "already exists" in _one_error_line(capsys)
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "100", "--force"]) == 0
    assert (
        main(
            [
                "import-csv",
                str(tmp_path / "none.csv"),
                "-o",
                str(tmp_path / "n.poise"),
                "--rate",
                "100",
            ]
        )
        == 2
    )
    assert "none.csv" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["import-csv", str(src), "-o", str(out), "--acc-unit", "furlongs"])
    assert exc.value.code == 2


def test_export_of_several_sensors_to_prefix_and_folder(tmp_path, capsys):
    cfgs = [SensorConfig(100, 4, 500), SensorConfig(200, 8, 1000)]
    rec = tmp_path / "two.poise"
    with RecordingWriter(
        rec,
        {
            "sensors": [
                {"id": i, "placement": i, "config": c}
                for i, c in zip(["lower back", "shank/L"], cfgs)
            ]
        },
    ) as w:
        for k, cfg in enumerate(cfgs):
            acc = np.full((19, 3), 100 * (k + 1), np.int16)
            for p in range(3):
                ts = p * 19 * cfg.sample_period_us
                pk = codec.encode_data(p, ts, acc, acc, config=cfg)
                w.write_packet(k, pk, host_time_s=(ts + 18 * cfg.sample_period_us) * 1e-6)
    assert main(["export", str(rec), "--csv", str(tmp_path / "out.csv")]) == 0
    a, b = tmp_path / "out_lower_back.csv", tmp_path / "out_shank_L.csv"
    assert _read(a)[1].shape == (57, 7) and _read(b)[1].shape == (57, 7)
    np.testing.assert_allclose(_read(b)[1][:, 1], 200 * cfgs[1].acc_scale_mps2, rtol=1e-8)
    assert main(["export", str(rec), "--csv", str(tmp_path / "new" / "dir") + "/"]) == 0
    d = tmp_path / "new" / "dir"
    assert sorted(p.name for p in d.iterdir()) == ["lower_back.csv", "shank_L.csv"]
    assert stat.S_IMODE(d.stat().st_mode) == 0o700
    assert stat.S_IMODE((d / "shank_L.csv").stat().st_mode) == 0o600


@pytest.mark.parametrize("csv_path", TRIALS, ids=lambda p: p.parent.name)
def test_shipped_recordings_hold_their_csv(csv_path):
    trial = csv_path.parent.name
    shipped = load_input(csv_path.parent / f"{trial}.poise")
    fresh = load_input(csv_path, rate_hz=100)
    assert shipped.damage == [] and shipped.closed_cleanly
    assert shipped.metadata["patient"] == trial.rsplit("-Test", 1)[0]
    (a,), (b,) = shipped.sensors, fresh.sensors
    assert a.placement == "lower-back" and a.config == b.config
    np.testing.assert_array_equal(a.acc_mps2, b.acc_mps2)
    np.testing.assert_array_equal(a.gyr_radps, b.gyr_radps)
    np.testing.assert_array_equal(a.t_s, b.t_s)
    participant = json.loads((csv_path.parent / "info.json").read_text())["participant"]
    demo = shipped.metadata["demographics"]
    assert demo["sensor_height_m"] == pytest.approx(participant["sensor_height_m"])
    assert demo["height_m"] == pytest.approx(participant["height_m"])


def test_import_stores_the_patient_data_the_analysis_needs(tmp_path, capsys):
    out = tmp_path / "x.poise"
    rc = main(
        ["import-csv", str(TRIALS[0]), "-o", str(out), "--rate", "100", "--age", "71"]
        + ["--sex", "f", "--height-m", "1.6", "--sensor-height-m", "0.95"]
    )
    assert rc == 0
    demo = load_recording(out).metadata["demographics"]
    assert demo == {"age": 71.0, "sex": "f", "height_m": 1.6, "sensor_height_m": 0.95}


def test_info_text_shows_a_gap_whose_time_is_unknown(tmp_path, capsys):
    # a GAP record without times cannot be placed on the grid (start/end NaN -> None)
    cfg = SensorConfig(100, 8, 2000)
    out = tmp_path / "g.poise"
    with RecordingWriter(out, {"sensors": [{"id": "s", "config": cfg}]}) as w:
        z = np.zeros((19, 3), np.int16)
        w.write_packet(0, codec.encode_data(0, 0, z, z, config=cfg), host_time_s=0.2)
        w.write_gap(0, samples=40, reason="lost while reconnecting")
    assert main(["info", str(out)]) == 0
    text = capsys.readouterr().out
    assert "gap ?-? s: 40 samples (lost while reconnecting)" in text


def test_time_column_in_milliseconds_is_refused_not_stretched(tmp_path, capsys):
    # 100 Hz with the time in ms would be inferred as 0.1 Hz and resampled 500x longer
    data = np.column_stack([np.arange(50) * 10.0, np.zeros((50, 6))])
    src = _write_csv(tmp_path / "ms.csv", ["timestamp", *COLS], data)
    assert main(["import-csv", str(src), "-o", str(tmp_path / "ms.poise")]) == 2
    assert "must be in seconds" in _one_error_line(capsys)
    assert not (tmp_path / "ms.poise").exists()
    # in seconds it imports at its own rate
    data[:, 0] /= 1000.0
    src = _write_csv(tmp_path / "s.csv", ["t_s", *COLS], data)
    assert main(["import-csv", str(src), "-o", str(tmp_path / "s.poise")]) == 0


def test_info_counts_samples_lost_after_the_last_received_one(tmp_path, capsys):
    data = np.zeros((400, 6))
    data[:, 0] = 9.81
    data[100:150] = np.nan
    data[-30:] = np.nan  # lost at the end: no grid rows hold them
    src = _write_csv(tmp_path / "x.csv", COLS, data)
    out = tmp_path / "x.poise"
    assert main(["import-csv", str(src), "-o", str(out), "--rate", "100"]) == 0
    capsys.readouterr()
    assert main(["info", str(out), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)["sensors"][0]
    assert s["samples"] == 320 and s["missing_samples"] == 80
    assert sum(g["samples"] for g in s["gaps"]) == 80

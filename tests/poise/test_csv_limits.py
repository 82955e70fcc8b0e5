"""Bad CSV input on the command line (issue 11, items 10, 11, 13): refused with one line
naming the file and line, before anything large is allocated or written."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from poise.errors import PoiseError
from poise.inputs import read_csv

HEADER = "acc_x,acc_y,acc_z,gyr_x,gyr_y,gyr_z"


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _rows(n: int, t: bool = False) -> list[str]:
    return [(f"{i / 100:.2f}," if t else "") + "0.1,0.2,9.8,1,2,3" for i in range(n)]


@pytest.mark.parametrize("command", ["import-csv", "analyze"])
def test_a_giant_field_is_one_line_naming_the_line(tmp_path, cli, command):
    src = _csv(tmp_path / "in.csv", HEADER, _rows(3) + ["x" * 200_000 + ",0,0,0,0,0"])
    argv = [command, str(src), "--rate", "100"]
    if command == "import-csv":
        argv += ["-o", str(tmp_path / "out.poise")]
    rc, err = cli(argv)
    line = cli.one_line(err)
    assert rc == 2 and "line 5" in line and "131072" in line and str(src) in line
    assert not (tmp_path / "out.poise").exists()


@pytest.mark.parametrize("rate", ["1e-9", "0.5"])
def test_a_rate_that_would_blow_up_the_resampled_data_is_refused(tmp_path, cli, rate):
    src = _csv(tmp_path / "in.csv", HEADER, _rows(50))
    out = tmp_path / "out.poise"
    rc, err = cli(["import-csv", str(src), "-o", str(out), "--rate", rate])
    line = cli.one_line(err)
    assert rc == 2 and "--rate" in line and "50 rows" in line
    assert not out.exists()
    rc, err = cli(["import-csv", str(src), "-o", str(out), "--rate", "5"])  # 10x: still fine
    assert rc == 0, err


def test_a_time_column_with_a_huge_jump_is_refused_not_allocated(tmp_path, cli):
    rows = _rows(100, t=True) + ["1000000.0,0.1,0.2,9.8,1,2,3"]
    src = _csv(tmp_path / "in.csv", "t_s," + HEADER, rows)
    rc, err = cli(["analyze", str(src)])
    line = cli.one_line(err)
    assert rc == 2 and "line 102" in line and "t_s" in line
    # a real outage (2 minutes without samples in 1 minute of data) is kept as a gap
    rows = _rows(6000, t=True) + [f"{180 + i / 100:.2f},0.1,0.2,9.8,1,2,3" for i in range(100)]
    s = read_csv(_csv(tmp_path / "gap.csv", "t_s," + HEADER, rows))
    assert s.acc_mps2.shape[0] == 18100 and np.isnan(s.acc_mps2[:, 0]).sum() == 12000


def test_huge_values_are_clipped_without_numpy_warnings(tmp_path, cli):
    src = _csv(
        tmp_path / "in.csv",
        HEADER,
        ["1e308,0,9.8,0,0,0", "0,0,9.8,1e308,0,0", "-1e308,0,9.8,0,0,-1e308", "0,0,9.8,0,0,0"],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a RuntimeWarning would fail the command
        rc, err = cli(["import-csv", str(src), "-o", str(tmp_path / "o.poise"), "--rate", "60"])
        assert rc == 0, err
    assert "RuntimeWarning" not in err and "clipped" in err


@pytest.mark.parametrize(
    "header, needle",
    [
        (HEADER + ",acc_x", "'acc_x' appears twice (columns 1 and 7)"),
        ("ACC_X," + HEADER[6:] + ",acc_x", "appears twice"),
        ("t_s," + HEADER + ",T_S", "'T_S' appears twice"),
    ],
)
def test_duplicate_columns_that_are_used_are_refused(tmp_path, header, needle):
    n = header.count(",") + 1
    src = _csv(tmp_path / "in.csv", header, [",".join(["1"] * n)] * 3)
    with pytest.raises(PoiseError, match="line 1") as info:
        read_csv(src, rate_hz=100)
    assert needle in str(info.value)


def test_duplicate_unused_columns_are_a_warning(tmp_path, cli):
    src = _csv(tmp_path / "in.csv", HEADER + ",temp,temp", [",".join(["1"] * 8)] * 3)
    rc, err = cli(["import-csv", str(src), "-o", str(tmp_path / "o.poise"), "--rate", "100"])
    assert rc == 0 and "'temp' appears twice" in err and "warning" in err

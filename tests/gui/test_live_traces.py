"""The live view's traces: peak decimation and what a plot draws (offscreen, no BLE)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import gui  # noqa: E402,F401  I001 (applies the PySide6 work-around first)
import pyqtgraph as pg  # noqa: E402
from gui.app import make_app  # noqa: E402
from gui.live_view import SensorPlots, peak_decimate  # noqa: E402


def test_peak_decimation_keeps_every_bins_extremes_and_a_one_sample_spike() -> None:
    rng = np.random.default_rng(3)
    n, per_bin = 1000, 7
    x = np.arange(n) / 200.0
    y = rng.normal(0.0, 1.0, size=(n, 2))
    y[537, 0] = 40.0  # one sample: a stride of 7 would miss it 6 times in 7
    xd, yd = peak_decimate(x, y, first_index=12, per_bin=per_bin)
    assert xd.shape[0] == yd.shape[0] and xd.shape[0] < n / 3
    assert yd[:, 0].max() == 40.0
    # every point is a bin's minimum or maximum, and together they span the data
    assert yd.min(axis=0).tolist() == y.min(axis=0).tolist()
    assert yd.max(axis=0).tolist() == y.max(axis=0).tolist()
    # bins start on multiples of per_bin of the absolute index (12 + i)
    starts = np.rint(xd[::2] * 200.0).astype(int)
    assert starts[0] == 0 and all((s + 12) % per_bin == 0 for s in starts[1:])
    assert np.all(np.diff(starts) > 0)


def test_peak_decimation_bins_stay_put_as_the_window_scrolls() -> None:
    rng = np.random.default_rng(4)
    data = rng.normal(size=(3000, 3))
    t = np.arange(3000) / 200.0
    first = {}
    for shift in (0, 3, 4, 10):  # new samples arrive, the oldest leave
        a, b = 500 + shift, 2500 + shift
        xd, yd = peak_decimate(t[a:b], data[a:b], first_index=a, per_bin=6)
        first[shift] = {round(float(v) * 200): tuple(yd[2 * i]) for i, v in enumerate(xd[::2])}
    common = set(first[0]) & set(first[10])
    inner = sorted(common)[1:-1]  # whole bins in both windows
    assert len(inner) > 300
    assert all(first[0][k] == first[10][k] for k in inner)


def test_peak_decimation_makes_a_bin_with_a_gap_a_gap_and_leaves_short_data_alone() -> None:
    x = np.arange(100.0)
    y = np.ones((100, 1))
    y[50, 0] = np.nan
    _xd, yd = peak_decimate(x, y, 0, 5)
    assert np.isnan(yd[20:22, 0]).all() and np.isfinite(np.delete(yd[:, 0], [20, 21])).all()
    short_x, short_y = x[:9], y[:9]
    xs, ys = peak_decimate(short_x, short_y, 0, 5)
    assert xs is short_x and ys is short_y


def test_a_plot_draws_at_most_two_points_per_pixel_and_breaks_at_gaps(qtbot) -> None:
    make_app()
    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    w.resize(800, 300)
    sp = SensorPlots(w, 0, "test", 10.0)
    w.show()
    qtbot.waitExposed(w)
    n = 2000
    t = np.arange(n) / 200.0
    rows = np.zeros((n, 7))
    rows[:, 0] = t
    rows[:, 1] = 9.81
    rows[1234, 2] = 30.0  # a spike on one axis
    sp.update(rows, now_s=t[-1], frame=np.eye(3), count=5000)
    x, y = sp.curves[1].getData()
    width = sp.acc.getViewBox().width()
    assert 0 < x.shape[0] <= 2 * width + 4
    assert y.max() == 30.0 and x[-1] <= 0.0 and x[0] >= -10.0
    acc_set = sp.traces[0]
    assert [len(polys) for polys in acc_set._lines] == [1, 1, 1]
    rows[700:720, 1:7] = np.nan  # a gap: every trace breaks there
    sp.update(rows, now_s=t[-1], frame=np.eye(3), count=5000)
    assert [len(polys) for polys in acc_set._lines] == [2, 2, 2]
    assert np.isnan(sp.curves[0].getData()[1]).any()
    # the axis ladders still follow the norm of the data
    assert sp.acc.getViewBox().viewRange()[1][1] == 48.0

"""The live view's traces: peak decimation and what a plot draws (offscreen, no BLE)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pytestqt")

import gui  # noqa: E402,F401  I001 (applies the PySide6 work-around first)
import pyqtgraph as pg  # noqa: E402
from gui.app import make_app  # noqa: E402
from gui.live_view import (  # noqa: E402
    ScrollingPeaks,
    SensorPlots,
    SwayPanel,
    body_rows,
    peak_decimate,
)


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


def _shown_plots(qtbot) -> tuple[pg.GraphicsLayoutWidget, SensorPlots]:
    """One sensor's plots in a shown 800 x 300 widget (keep the widget: it owns them)."""
    make_app()
    w = pg.GraphicsLayoutWidget()
    qtbot.addWidget(w)
    w.resize(800, 300)
    sp = SensorPlots(w, 0, "test", 10.0)
    w.show()
    qtbot.waitExposed(w)
    return w, sp


def test_a_plot_draws_at_most_two_points_per_pixel_and_breaks_at_gaps(qtbot) -> None:
    _w, sp = _shown_plots(qtbot)
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
    # (later samples: the same index is the same sample, what the plots keep bins by)
    sp.update(rows, now_s=t[-1], frame=np.eye(3), count=9000)
    assert [len(polys) for polys in acc_set._lines] == [2, 2, 2]
    assert np.isnan(sp.curves[0].getData()[1]).any()
    # the axis ladders still follow the norm of the data
    assert sp.acc.getViewBox().viewRange()[1][1] == 48.0


def _batch(t, raw, first, per_bin, frame):
    """What the scrolling decimation must give: the whole window decimated at once."""
    vals, sq = body_rows(raw, frame)
    x, y = peak_decimate(t, vals, first, per_bin)
    peaks = np.array([_finite_max(sq[:, 0]), _finite_max(sq[:, 1])])
    return x, y, peaks


def _finite_max(v):
    v = v[np.isfinite(v)]
    return float(v.max()) if v.size else np.nan


def test_scrolling_decimation_equals_decimating_the_whole_window_every_frame() -> None:
    """Blocks of any size arrive, the window scrolls, the bin size and the body frame change,
    gaps (NaN rows) pass, the buffer restarts: the kept bins always give what
    decimating the whole window gives, bit for bit, and the same largest norms."""
    rng = np.random.default_rng(11)
    total = 9000
    t = np.arange(total) / 200.0
    raw = np.cumsum(rng.normal(size=(total, 6)), axis=0)
    raw[3000:3013] = np.nan  # a gap
    raw[5000, 2] = np.inf  # a broken sample: the largest finite norm is taken
    frames = [np.eye(3), np.linalg.qr(rng.normal(size=(3, 3)))[0]]
    done = []  # rows transformed: the new ones and the two partial bins, not the window

    def transform(r):
        done.append(r.shape[0])
        return body_rows(r, frame)

    sp = ScrollingPeaks(transform)
    window, count, calls, frame, per_bin = 2000, 0, 0, frames[0], 5
    base = 0  # index of the buffer's first sample (a restart starts a new count)
    while count < total - base:
        count += int(rng.integers(0, 40))
        calls += 1
        if calls == 120:
            per_bin = 7  # the plot was resized
        if calls == 200:
            frame = frames[1]  # new body axes: the caller resets
            sp.reset()
        if calls == 320:  # the buffer restarted (a replay seek): counts from 0 again
            base, count = base + count, 30
        if calls == 380:  # restarted, and as many samples came before this frame as before
            base += 777
        if count > total - base:
            break
        n = min(window, count)
        first = count - n
        lo, hi = base + first, base + count
        x, y, peaks = sp.update(t[lo:hi], raw[lo:hi], first, per_bin)
        xb, yb, pb = _batch(t[lo:hi], raw[lo:hi], first, per_bin, frame)
        assert np.array_equal(x, xb, equal_nan=True), calls
        assert np.array_equal(y, yb, equal_nan=True), calls
        assert np.array_equal(peaks, pb, equal_nan=True), calls
    assert calls > 350
    assert sum(done) < 0.05 * window * calls


def test_a_sensor_plot_fed_frame_by_frame_draws_what_the_whole_window_gives(qtbot) -> None:
    _w, sp = _shown_plots(qtbot)
    rng = np.random.default_rng(5)
    rows = np.zeros((6000, 7))
    rows[:, 0] = np.arange(6000) / 200.0
    rows[:, 1:] = np.cumsum(rng.normal(size=(6000, 6)), axis=0) * 0.2
    frame = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    fed = []  # the peaks the y ranges are given
    for rng_ in sp.ranges:
        rng_.update = lambda peak, now, _f=rng_.update: fed.append(peak) or _f(peak, now)
    for count in range(2100, 6000, 7):
        win = rows[count - 2000 : count]
        sp.update(win, now_s=win[-1, 0], frame=frame.copy(), count=count)
    per_bin = int(np.ceil(2000 / sp.acc.getViewBox().width()))
    xb, yb, pb = _batch(win[:, 0], win[:, 1:], count - 2000, per_bin, frame)
    for k, curve in enumerate(sp.curves):
        x, y = curve.getData()
        assert np.array_equal(x, xb - win[-1, 0]) and np.array_equal(y, yb[:, k])
    assert fed[-2:] == [np.sqrt(pb[0]), np.degrees(np.sqrt(pb[1]))]


def test_the_sway_panel_redraws_only_what_changed(qtbot) -> None:
    """Frames come twice as often as the trail changes: the same trail is not given to the
    curves again (each setData repaints the plot); a new trail, target or pause is drawn."""
    make_app()
    panel = SwayPanel()
    qtbot.addWidget(panel)
    calls = []
    curve = panel.plot.trail
    curve.setData = lambda *a, _f=curve.setData, **k: calls.append(1) or _f(*a, **k)
    t = np.linspace(0, 6, 500)
    trail = 0.05 * np.column_stack([np.sin(t), np.cos(t)])
    panel.draw(trail)
    panel.draw(trail.copy())  # the same values: nothing to do
    assert len(calls) == 1
    panel.set_target(0.03)  # the time in target changes with the target
    panel.draw(trail.copy())
    assert len(calls) == 2
    panel.draw(trail[1:])
    assert len(calls) == 3
    panel.draw(trail[1:], paused=True, reason="walking")
    assert panel.plot.paused and len(calls) == 4  # the trail is cleared

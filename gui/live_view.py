"""Live view: scrolling signals per sensor, the sway biofeedback plot, metric tiles.

Habits of pyqtgraph's ``scrollingPlots.py``/``PlotSpeedTest.py``: every plot and curve is
created once (when a sensor appears); a ``QTimer`` at about 30 Hz pulls the newest samples
from the session's ring buffers (:meth:`poise.session.Session.latest`) and calls ``setData``;
plots clip to the view and downsample by peaks. Nothing here is called from another thread.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from poise.session import PLACEMENTS, Session

AXIS_PENS = ("#d62728", "#2ca02c", "#1f77b4")  # x, y, z
#: chi-square quantile, 2 degrees of freedom, 95 % (ellipse of the sway trail)
CHI2_2DOF_95 = 5.991464547107979


class MetricTile(QFrame):
    """A big number with its name and unit."""

    def __init__(self, title: str, unit: str, fmt: str = "{:.2f}", parent: QWidget | None = None):
        super().__init__(parent)
        self.fmt = fmt
        self.setFrameShape(QFrame.Shape.StyledPanel)
        self.setObjectName("tile")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(8, 4, 8, 4)
        lay.setSpacing(0)
        self.title = QLabel(title)
        self.title.setStyleSheet("color: #555; font-size: 11pt;")
        self.value = QLabel("—")
        self.value.setStyleSheet("font-size: 20pt; font-weight: 600;")
        self.unit = QLabel(unit)
        self.unit.setStyleSheet("color: #777; font-size: 9pt;")
        for w in (self.title, self.value, self.unit):
            lay.addWidget(w)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)

    def set_value(self, value: Any, note: str = "") -> None:
        """Show ``value`` (``None``/NaN as a dash)."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            text = "—"
        elif isinstance(value, int | float):
            text = self.fmt.format(value)
        else:
            text = str(value)
        self.value.setText(text)
        self.value.setToolTip(note)
        self.value.setStyleSheet(
            "font-size: 20pt; font-weight: 600;" + (" color: #999;" if note else "")
        )


def format_clock(seconds: float) -> str:
    """``m:ss`` for a session time."""
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class SwayPlot(pg.PlotWidget):
    """Biofeedback: the trunk's horizontal sway as a dot with its trail, 95 % ellipse, target.

    Parameters
    ----------
    target_radius_mps2
        Radius of the target circle the patient keeps the dot in.
    """

    def __init__(self, target_radius_mps2: float = 0.15, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAspectLocked(True)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        self.setLabel("bottom", "ML (m/s²)")
        self.setLabel("left", "AP (m/s²)")
        self.setTitle("Sway (last 5 s)")
        lim = 2.2 * target_radius_mps2
        self._lim = lim
        self.setRange(xRange=(-lim, lim), yRange=(-lim, lim), padding=0)
        self.showGrid(x=True, y=True, alpha=0.2)
        ang = np.linspace(0, 2 * np.pi, 97)
        self.target_radius = target_radius_mps2
        self.target = self.plot(
            target_radius_mps2 * np.cos(ang),
            target_radius_mps2 * np.sin(ang),
            pen=pg.mkPen("#2ca02c", width=3, style=Qt.PenStyle.DashLine),
        )
        self.trail = self.plot([], [], pen=pg.mkPen("#1f77b4", width=1.5))
        self.ellipse = self.plot([], [], pen=pg.mkPen("#ff7f0e", width=2))
        self.dot = pg.ScatterPlotItem(size=22, brush=pg.mkBrush("#d62728"), pen=None)
        self.addItem(self.dot)
        self._unit = np.column_stack([np.cos(ang), np.sin(ang)])
        self.ellipse_area = float("nan")

    def update_trail(self, trail: np.ndarray) -> None:
        """Draw a trail ``(n, 2)`` of (AP, ML); x is ML, y is AP."""
        if trail.shape[0] < 2:
            self.trail.setData([], [])
            self.ellipse.setData([], [])
            self.dot.setData([], [])
            return
        ml, ap = trail[:, 1], trail[:, 0]
        extent = float(np.max(np.abs(trail)))
        base = 2.2 * self.target_radius
        want = base if extent < base / 1.5 else 1.2 * extent
        if want > self._lim * 1.01 or want < self._lim / 2:  # follow big moves, settle back
            self._lim = want
            self.setRange(xRange=(-want, want), yRange=(-want, want), padding=0)
        self.trail.setData(ml, ap)
        self.dot.setData([ml[-1]], [ap[-1]])
        cov = np.cov(np.column_stack([ml, ap]).T)
        w, v = np.linalg.eigh(cov)
        w = np.clip(w, 0.0, None)
        pts = (self._unit * np.sqrt(CHI2_2DOF_95 * w)) @ v.T
        self.ellipse.setData(pts[:, 0], pts[:, 1])
        self.ellipse_area = float(np.pi * CHI2_2DOF_95 * np.sqrt(w[0] * w[1]))
        inside = ml[-1] ** 2 + ap[-1] ** 2 <= self.target_radius**2
        self.dot.setBrush(pg.mkBrush("#2ca02c" if inside else "#d62728"))


class SensorPlots:
    """The acceleration and angular-velocity plots of one sensor (created once).

    Time runs on a fixed axis (seconds before now, ``-window_s..0``), so scrolling costs no
    axis re-layout; the y ranges follow the data at most once a second; curves show at most
    ``max_points`` points (a stride over the window).
    """

    def __init__(
        self,
        layout: pg.GraphicsLayoutWidget,
        row: int,
        title: str,
        window_s: float,
        max_points: int = 500,
    ):
        self.acc = layout.addPlot(row=row, col=0)
        self.gyr = layout.addPlot(row=row, col=1)
        self.curves: list[pg.PlotDataItem] = []
        self.window_s = window_s
        self.max_points = max_points
        for p in (self.acc, self.gyr):
            p.setClipToView(True)
            # no grid: an axis with a grid repaints every line each frame (half the cost)
            p.getViewBox().setBackgroundColor("#ffffff")
            p.addLine(y=0, pen=pg.mkPen("#c8c8c8"))
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.disableAutoRange()
            p.setXRange(-window_s, 0, padding=0)
            p.getAxis("bottom").setHeight(18)
            p.getAxis("left").setWidth(48)
            p.titleLabel.setMaximumHeight(18)
            p.titleLabel.setMinimumWidth(10)
            for pen in AXIS_PENS:
                self.curves.append(
                    p.plot(
                        [], [], pen=pg.mkPen(pen, width=1), connect="finite", skipFiniteCheck=True
                    )
                )
        self.acc.setYRange(-12, 12, padding=0)
        self.gyr.setYRange(-2, 2, padding=0)
        self._ranges = [(-12.0, 12.0), (-2.0, 2.0)]
        self.set_title(title)
        self._last_range_update = 0.0

    def set_title(self, title: str) -> None:
        """Change the plots' titles (placement changed)."""
        self.acc.setTitle(f"{title} · acc (m/s²)", size="9pt")
        self.gyr.setTitle("gyro (rad/s)", size="9pt")

    def update(self, rows: np.ndarray, now_s: float | None = None) -> None:
        """Show rows ``[t, acc xyz, gyr xyz]``; x is time relative to ``now_s`` (or the last row)."""
        if rows.shape[0] == 0:
            for c in self.curves:
                c.setData([], [])
            return
        step = max(1, rows.shape[0] // self.max_points)
        r = rows[-1 - (rows.shape[0] - 1) // step * step :: step] if step > 1 else rows
        t_end = rows[-1, 0] if now_s is None else max(now_s, rows[-1, 0])
        x = r[:, 0] - t_end
        for k, c in enumerate(self.curves):
            c.setData(x, r[:, 1 + k])
        if time.monotonic() - self._last_range_update > 1.0:
            self._last_range_update = time.monotonic()
            for i, (p, cols) in enumerate(((self.acc, slice(1, 4)), (self.gyr, slice(4, 7)))):
                v = rows[:, cols]
                v = v[np.isfinite(v)]
                if v.size == 0:
                    continue
                lo, hi = float(v.min()), float(v.max())
                pad = max(0.1 * (hi - lo), 0.05)
                lo, hi = lo - pad, hi + pad
                olo, ohi = self._ranges[i]
                # change only when the data leave the range or use less than half of it
                if lo < olo or hi > ohi or (hi - lo) < 0.5 * (ohi - olo):
                    self._ranges[i] = (lo, hi)
                    p.setYRange(lo, hi, padding=0)


class LiveView(QWidget):
    """Signals, sway and live metrics of a session.

    Parameters
    ----------
    session
        The model; the view subscribes to its events.
    window_s
        Seconds of signal shown.
    fps
        Redraw rate asked of the timer (40 Hz, so that 30+ frames/s are drawn even when the
        BLE threads delay the GUI thread).
    """

    def __init__(
        self, session: Session, window_s: float = 10.0, fps: float = 40.0, parent=None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.window_s = window_s
        self.frames = 0
        self.samples_seen = 0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        self.plots_widget = pg.GraphicsLayoutWidget()
        self.plots_widget.ci.setSpacing(2)
        self.placeholder = self.plots_widget.addLabel(
            "Connect sensors (left) or open a recording to see live data.", row=0, col=0
        )
        lay.addWidget(self.plots_widget, 1)
        right_w = QWidget()
        right_w.setFixedWidth(380)
        right = QVBoxLayout(right_w)
        right.setContentsMargins(0, 0, 0, 0)
        self.sway = SwayPlot()
        self.sway.setMinimumSize(260, 260)
        right.addWidget(self.sway, 3)
        grid = QGridLayout()
        grid.setSpacing(4)
        self.tiles: dict[str, MetricTile] = {
            "sway_rms_mps2": MetricTile("Sway RMS", "m/s²", "{:.3f}"),
            "sway_ellipse_area_m2ps4": MetricTile("Sway area (95 %)", "m²/s⁴", "{:.4f}"),
            "cadence_spm": MetricTile("Cadence", "steps/min", "{:.0f}"),
            "speed_mps": MetricTile("Gait speed", "m/s", "{:.2f}"),
            "steps": MetricTile("Steps", "count", "{:.0f}"),
            "session_time_s": MetricTile("Session time", "m:ss", "{}"),
        }
        for i, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, i // 2, i % 2)
        right.addLayout(grid, 2)
        lay.addWidget(right_w)
        self.sensor_plots: dict[str, SensorPlots] = {}
        session.events.sensor_added.connect(self._on_sensor_added)
        session.events.sensor_state.connect(self._on_sensor_state)
        session.events.metrics.connect(self._on_metrics)
        session.events.samples.connect(self._on_samples)
        session.events.source_changed.connect(self._on_source_changed)
        for info in list(session.sensors.values()):
            self._on_sensor_added(info)
        self.timer = QTimer(self)
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(int(1000 / fps))
        self.timer.timeout.connect(self.refresh)
        self.timer.start()

    # -------------------------------------------------------------- events
    def _on_source_changed(self, _kind: str) -> None:
        self.plots_widget.clear()
        self.sensor_plots.clear()
        self.placeholder = None
        for t in self.tiles.values():
            t.set_value(None)

    def _title(self, info) -> str:
        return f"{info.name or info.id} · {PLACEMENTS.get(info.placement, info.placement or '?')}"

    def _on_sensor_added(self, info) -> None:
        if info.id in self.sensor_plots:
            return
        if self.placeholder is not None:
            self.plots_widget.clear()
            self.placeholder = None
        row = len(self.sensor_plots)
        self.sensor_plots[info.id] = SensorPlots(
            self.plots_widget, row, self._title(info), self.window_s
        )

    def _on_sensor_state(self, info) -> None:
        sp = self.sensor_plots.get(info.id)
        if sp is not None:
            suffix = "" if info.state in ("streaming", "replay") else f" [{info.state}]"
            sp.set_title(self._title(info) + suffix)

    def _on_samples(self, counts: dict) -> None:
        self.samples_seen += sum(counts.values())

    def _on_metrics(self, m: dict) -> None:
        for key, tile in self.tiles.items():
            if key == "session_time_s":
                continue
            note = ""
            if key.startswith("sway") and m.get("sway_valid") is False:
                note = m.get("sway_reason") or "not quiet stance"
            tile.set_value(m.get(key), note)

    # -------------------------------------------------------------- redraw
    def refresh(self) -> None:
        """Pull the newest samples and redraw (the timer's slot)."""
        if not self.isVisible():
            return
        for sid, sp in self.sensor_plots.items():
            sp.update(self.session.latest(sid, self.window_s))
        self.sway.update_trail(self.session.sway_trail())
        self.tiles["session_time_s"].set_value(format_clock(self.session.now_s()))
        self.frames += 1

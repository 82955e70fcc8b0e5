"""Live view: scrolling signals per sensor, the sway biofeedback plot, metric tiles.

Habits of pyqtgraph's ``scrollingPlots.py``/``PlotSpeedTest.py``: every plot and trace is
created once (when a sensor appears); a timer at up to 60 Hz pulls the newest samples
from the session's ring buffers (:meth:`poise.session.Session.latest_counted`) and redraws
the traces, peak-decimated to one bin per pixel column (:func:`peak_decimate`), each plot's
traces in one item (:class:`_TraceSet`); the axes are static (a fixed time axis, cached as
pixmaps), so a frame repaints the traces only. Nothing here is called from another thread.

What the therapist reads:

- every signal plot has a fixed time axis (seconds before now) and a y range taken from a
  short ladder of round ranges (:class:`StableRange`): it grows at once when the data leave
  it and shrinks only after the data have stayed in a smaller one for a few seconds, so the
  picture does not jump; one legend names the colours (V, ML, AP as the sensor is worn);
- the sway plot (:class:`SwayPanel`) is biofeedback for balance training: a dot, its trail
  and 95 % ellipse, a target circle, on a fixed, zoomable scale; it pauses (greyed, with the
  reason) while the patient moves and can be shown full screen for the patient.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QGuiApplication, QPolygonF
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFrame,
    QGraphicsItem,
    QGraphicsView,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from poise.session import Session
from poise.sinks import SamplesBlock
from sensors.placements import placement_label

#: Body axes the signals are shown along: key, clinical name, colour. Colours from the
#: Okabe-Ito palette (distinguishable with colour-vision deficiency).
AXES = (
    ("V", "vertical", "#0072B2"),
    ("ML", "side to side", "#D55E00"),
    ("AP", "forward-back", "#009E73"),
)
#: Sensor frame of the guide (x up, y side, z forward): the frame until one is estimated.
GUIDE_FRAME = np.eye(3)
AXIS_PENS = tuple(c for _k, _n, c in AXES)
#: Half-ranges the signal plots choose from (acc in m/s^2 incl. gravity; gyro in deg/s).
ACC_LADDER_MPS2 = (12.0, 24.0, 48.0, 96.0, 160.0)
GYR_LADDER_DPS = (50.0, 100.0, 250.0, 500.0, 1000.0, 2000.0)
#: Half-widths of the sway plot (m/s^2) the zoom buttons step through.
SWAY_SCALES_MPS2 = (0.25, 0.5, 1.0, 2.0, 4.0)
#: Seconds the biofeedback trail (2-Hz low-pass in :mod:`poise.live`) rings after a movement.
TRAIL_SETTLE_S = 0.5
#: chi-square quantile, 2 degrees of freedom, 95 % (ellipse of the sway trail)
CHI2_2DOF_95 = 5.991464547107979
DIM = "#b4b4b4"


def repaint_as_one_rect(view: QGraphicsView) -> None:
    """Repaint a view's changed items as one rectangle (their bounding rectangle).

    pyqtgraph's views repaint the exact region the changed items cover: with several plots
    that is a region of many rectangles, and Qt's raster painter clips every fill and pixmap
    to it span by span, handing each fill of more than ~100 lines to its thread pool in
    segments and waiting for them: about 60 thread wake-ups per frame of the four sensors'
    plots (~3600 a second at 60 fps, ~1 ms of CPU per frame on a 2-core laptop). Clipped to
    one rectangle the same fills take the painter's direct paths, on this thread. The
    picture is the same: a few more pixels (the axes between the plots, cached as pixmaps)
    are copied again.
    """
    view.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.BoundingRectViewportUpdate)


def legend_html() -> str:
    """The colour legend shared by all signal plots."""
    parts = [f"<span style='color:{c}; font-weight:700'>━ {k}</span> {n}" for k, n, c in AXES]
    return (
        "&nbsp;&nbsp;".join(parts)
        + "&nbsp;&nbsp;<span style='color:#555'>· body axes, any mounting · acceleration "
        "m/s² (V with gravity) · angular velocity °/s · time: s before now</span>"
    )


class MetricTile(QFrame):
    """A big number with its name and unit; a note (greyed value) when it is not current."""

    def __init__(self, title: str, unit: str, fmt: str = "{:.2f}", parent: QWidget | None = None):
        super().__init__(parent)
        self.fmt = fmt
        self.unit_text = unit
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
        self.unit.setWordWrap(True)  # "m²/s⁴ · paused: walking" must not be cut
        for w in (self.title, self.value, self.unit):
            lay.addWidget(w)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        self.note = ""

    def set_value(self, value: Any, note: str = "") -> None:
        """Show ``value`` (``None``/NaN as a dash); a ``note`` greys it and replaces the unit."""
        if value is None or (isinstance(value, float) and not math.isfinite(value)):
            text = "—"
        elif isinstance(value, int | float):
            text = self.fmt.format(value)
        else:
            text = str(value)
        self.value.setText(text)
        if note == self.note:
            return
        self.note = note
        self.value.setToolTip(note)
        self.value.setStyleSheet(
            "font-size: 20pt; font-weight: 600;" + (f" color: {DIM};" if note else "")
        )
        self.unit.setText(f"{self.unit_text} · {note}" if note else self.unit_text)
        self.unit.setStyleSheet("font-size: 9pt; color: " + ("#b35c00;" if note else "#777;"))


def format_clock(seconds: float) -> str:
    """``m:ss`` for a session time."""
    seconds = max(0.0, float(seconds))
    return f"{int(seconds // 60)}:{int(seconds % 60):02d}"


class StableRange:
    """A symmetric y range picked from a ladder, with hysteresis (no jumping axes).

    Grows to the smallest rung holding the data at once; shrinks only when the data have
    fitted in a smaller rung (with 5 % room) for ``shrink_after_s``.

    Parameters
    ----------
    ladder
        Increasing half-ranges.
    shrink_after_s
        Seconds the data must fit a smaller rung before the range shrinks.
    """

    def __init__(self, ladder: tuple[float, ...], shrink_after_s: float = 5.0) -> None:
        self.ladder = tuple(float(v) for v in ladder)
        self.shrink_after_s = float(shrink_after_s)
        self.half = self.ladder[0]
        self._smaller_since: float | None = None

    def rung_for(self, peak: float) -> float:
        """Smallest rung holding ``peak`` with 5 % room (the largest if none does)."""
        for h in self.ladder:
            if peak <= 0.95 * h:
                return h
        return self.ladder[-1]

    def update(self, peak: float, now_s: float) -> bool:
        """Feed the current absolute peak; True when :attr:`half` changed."""
        if not math.isfinite(peak):
            return False
        want = self.rung_for(peak)
        if want > self.half:
            self.half = want
            self._smaller_since = None
            return True
        if want < self.half:
            if self._smaller_since is None:
                self._smaller_since = now_s
            elif now_s - self._smaller_since >= self.shrink_after_s:
                self.half = want
                self._smaller_since = None
                return True
        else:
            self._smaller_since = None
        return False


#: Seconds of stillness the live sway measures need (their window, ``poise.live``).
SWAY_WINDOW_S = 10.0


def sway_state(metrics: dict[str, Any], still_s: float, have_data: bool = True) -> tuple[str, str]:
    """What the sway plot and the sway tiles both show: one decision for both.

    Returns ``("paused", reason)`` while the patient walks or moves (no sway at all),
    ``("settling", text)`` while they stand still but the live sway measures' 10-s window
    still holds the movement (the dot only: no trail, ellipse or time in target, and the
    tiles keep their last quiet-stance value, greyed), ``("ok", "")`` in quiet stance.
    """
    if metrics.get("walking"):
        return "paused", "walking"
    if still_s < 0.5 + TRAIL_SETTLE_S:
        return "paused", "moving" if have_data else "stand still"
    if metrics.get("sway_valid") is not True:
        left = max(1, int(math.ceil(SWAY_WINDOW_S - still_s)))
        return "settling", f"settling, {left} s left"
    return "ok", ""


def session_sway_state(session: Session) -> tuple[str, str, float, bool]:
    """:func:`sway_state` of a session's primary sensor, its seconds of stillness and
    whether it has more than a second of data (what :meth:`Session.stillness` says)."""
    sid = session.primary_sensor()
    if sid is None or sid not in session.sensors:
        return "paused", "stand still", 0.0, False
    fs = float(session.sensors[sid].sampling_rate_hz or 100.0)
    still_s, n = session.stillness()
    kind, text = sway_state(session.metrics, still_s, n > fs)
    return kind, text, still_s, n > fs


class SwayPlot(pg.PlotWidget):
    """Biofeedback: the trunk's horizontal sway as a dot with its trail, 95 % ellipse, target.

    The scale is fixed (``scale_mps2`` each side of the centre, zoomed with
    :meth:`set_scale`), so quiet-stance sway keeps its size on screen. ML runs across, AP up.

    Parameters
    ----------
    target_radius_mps2
        Radius of the target circle the patient keeps the dot in.
    scale_mps2
        Half-width of the plot.
    big
        Larger dot and fonts (the patient's full-screen view).
    """

    def __init__(
        self,
        target_radius_mps2: float = 0.2,
        scale_mps2: float = 0.5,
        big: bool = False,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.big = big
        repaint_as_one_rect(self)
        self.setAspectLocked(True)
        self.setMenuEnabled(False)
        self.setMouseEnabled(False, False)
        self.hideButtons()
        for side, text in (("bottom", "ML, side to side (m/s²)"), ("left", "AP, forward (m/s²)")):
            ax = self.getAxis(side)
            ax.enableAutoSIPrefix(False)  # never "(x0.001)": the unit stays m/s^2
            self.setLabel(side, text)
        self.showGrid(x=True, y=True, alpha=0.15)
        if big:  # the patient needs the dot and the circle, not axes
            self.hideAxis("left")
            self.hideAxis("bottom")
            self.showGrid(x=False, y=False)
        ang = np.linspace(0, 2 * np.pi, 97)
        self._unit = np.column_stack([np.cos(ang), np.sin(ang)])
        self.target = self.plot(
            [], [], pen=pg.mkPen("#2ca02c", width=4 if big else 3, style=Qt.PenStyle.DashLine)
        )
        self.trail = self.plot([], [], pen=pg.mkPen("#1f77b4", width=2 if big else 1.5))
        self.ellipse = self.plot([], [], pen=pg.mkPen("#ff7f0e", width=2))
        self.dot = pg.ScatterPlotItem(size=48 if big else 22, brush=pg.mkBrush("#d62728"), pen=None)
        self.addItem(self.dot)
        self.banner = pg.TextItem("", color="#b35c00", anchor=(0.5, 0.0))
        font = self.banner.textItem.font()
        font.setPointSize(22 if big else 11)
        font.setBold(True)
        self.banner.setFont(font)
        self.addItem(self.banner, ignoreBounds=True)
        self.ellipse_area = float("nan")
        self.in_target_pct = float("nan")
        self.paused = False
        self.settling = False
        self._banner_text = ""
        self._dot_xy: tuple[float, float] | None = None  # what is drawn: set only changes
        self._dot_colour = ""
        self._empty: set[str] = set()
        self._title_shown: tuple[str, str] | None = None
        self.target_radius = float(target_radius_mps2)
        self.scale_mps2 = float(scale_mps2)
        self.set_target(target_radius_mps2)
        self.set_scale(scale_mps2)
        self._title()

    # ------------------------------------------------------------ settings
    def set_scale(self, scale_mps2: float) -> None:
        """Half-width of the view (m/s^2): the zoom."""
        self.scale_mps2 = float(scale_mps2)
        s = self.scale_mps2
        self.setRange(xRange=(-s, s), yRange=(-s, s), padding=0)
        self.banner.setPos(0.0, 0.95 * s)

    def set_target(self, radius_mps2: float) -> None:
        """Radius of the target circle (m/s^2)."""
        self.target_radius = float(radius_mps2)
        r = self.target_radius
        self.target.setData(r * self._unit[:, 0], r * self._unit[:, 1])

    def _set_dot(self, xy: tuple[float, float] | None, colour: str | None = None) -> None:
        """Move (None: hide) the dot and colour it, touching the item only on a change
        (a ScatterPlotItem rebuilds its spots on every setData and setBrush)."""
        if xy != self._dot_xy:
            self._dot_xy = xy
            if xy is None:
                self.dot.setData([], [])
            else:
                self.dot.setData([xy[0]], [xy[1]])  # new spots take the item's default brush
        if colour is not None and colour != self._dot_colour:
            self._dot_colour = colour
            self.dot.setBrush(pg.mkBrush(colour))

    def _clear(self, *names: str) -> None:
        """Empty the named curves (``trail``, ``ellipse``) unless they are already empty."""
        for name in names:
            if name not in self._empty:
                getattr(self, name).setData([], [])
                self._empty.add(name)

    def _title(self, settling: str = "") -> None:
        size = "20pt" if self.big else "11pt"
        if self.paused:
            text = "" if self.big else "Sway: paused"
        elif self.settling:
            text = "" if self.big else f"Sway: {settling or 'settling'}"
        elif math.isfinite(self.in_target_pct):
            text = (
                f"In the circle {self.in_target_pct:.0f} % of the time"
                if self.big
                else f"Sway · in target {self.in_target_pct:.0f} % of the time shown"
            )
        else:
            text = "" if self.big else "Sway (last 5 s)"
        if (text, size) != self._title_shown:  # a new title re-lays out and repaints the plot
            self._title_shown = (text, size)
            self.setTitle(text, size=size)

    # ------------------------------------------------------------ drawing
    def update_trail(
        self, trail: np.ndarray, paused: bool = False, reason: str = "", settling: bool = False
    ) -> None:
        """Draw a trail ``(n, 2)`` of (AP, ML); x is ML, y is AP.

        ``paused`` (the patient moves: no sway) hides the trail, the ellipse and the dot and
        shows ``reason``; ``settling`` (still, but the sway measures do not hold yet) shows
        the dot only, without trail, ellipse or time in target.
        """
        self.paused = paused
        self.settling = settling and not paused
        if (reason if paused else "") != self._banner_text:
            self._banner_text = reason if paused else ""
            head, tail = self._banner_text, "resumes when the patient stands still"
            if self.big:  # words for the patient
                head, tail = "Stand still", "and the dot comes back"
            self.banner.setHtml(
                "<div style='text-align:center; color:#b35c00'><b>"
                f"{head}</b><br><span style='font-size:{'18' if self.big else '9'}pt'>"
                f"{tail}</span></div>"
                if self._banner_text
                else ""
            )
        if paused:  # movement is not sway: no dot, no trail, only the reason (any trail)
            self._set_dot(None, DIM)
            self._clear("trail", "ellipse")
            self.ellipse_area = float("nan")
            self.in_target_pct = float("nan")
            self._title()
            return
        if trail.shape[0] < 2:
            self._clear("trail", "ellipse")
            self._set_dot(None)
            self.in_target_pct = float("nan")
            self._title()
            return
        ml, ap = trail[:, 1], trail[:, 0]
        lim = self.scale_mps2
        # a dot beyond the scale stays on the edge, in its direction
        xy = (float(np.clip(ml[-1], -lim, lim)), float(np.clip(ap[-1], -lim, lim)))
        if self.settling:  # the dot only: a trail of the last movement is not sway
            self._clear("trail", "ellipse")
            self.ellipse_area = float("nan")
            self.in_target_pct = float("nan")
            inside = ml[-1] ** 2 + ap[-1] ** 2 <= self.target_radius**2
            self._set_dot(xy, "#2ca02c" if inside else "#d62728")
            self._title(reason)
            return
        self._empty.difference_update(("trail", "ellipse"))
        self.trail.setData(np.clip(ml, -lim, lim), np.clip(ap, -lim, lim))
        cov = np.cov(np.column_stack([ml, ap]).T)
        w, v = np.linalg.eigh(cov)
        w = np.clip(w, 0.0, None)
        pts = (self._unit * np.sqrt(CHI2_2DOF_95 * w)) @ v.T
        self.ellipse.setData(pts[:, 0], pts[:, 1])
        self.ellipse_area = float(np.pi * CHI2_2DOF_95 * np.sqrt(w[0] * w[1]))
        r2 = ml**2 + ap**2
        self.in_target_pct = float(100.0 * np.mean(r2 <= self.target_radius**2))
        inside = r2[-1] <= self.target_radius**2
        self._set_dot(xy, "#2ca02c" if inside else "#d62728")
        self._title()


class PatientSwayWindow(QWidget):
    """The sway biofeedback alone, full screen, for the patient to watch (Esc closes)."""

    closed = Signal()

    def __init__(self, panel: SwayPanel) -> None:
        super().__init__(None, Qt.WindowType.Window)
        self.setWindowTitle("Poise: balance feedback")
        lay = QVBoxLayout(self)
        self.hint = QLabel("Keep the dot inside the green circle.")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setStyleSheet("font-size: 28pt; font-weight: 600; color: #333;")
        lay.addWidget(self.hint)
        self.plot = SwayPlot(panel.plot.target_radius, panel.plot.scale_mps2, big=True)
        lay.addWidget(self.plot, 1)
        close_hint = QLabel("Esc or double-click closes this view")
        close_hint.setStyleSheet("color: #777;")
        close_hint.setAlignment(Qt.AlignmentFlag.AlignRight)
        lay.addWidget(close_hint)

    def keyPressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Esc or F11 closes."""
        if event.key() in (Qt.Key.Key_Escape, Qt.Key.Key_F11):
            self.close()
        else:
            super().keyPressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Double-click closes (a quick exit on a touch screen)."""
        self.close()

    def closeEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """Tell the panel."""
        self.closed.emit()
        super().closeEvent(event)


class SwayPanel(QWidget):
    """The sway plot with its controls: zoom, target radius, the patient's full-screen view.

    Call :meth:`update_from` on a timer: it pulls the trail and the motion state from the
    session and pauses the feedback while the patient moves.

    Parameters
    ----------
    target_radius_mps2, scale_mps2
        Initial target radius and half-width (m/s^2).
    """

    def __init__(
        self,
        target_radius_mps2: float = 0.2,
        scale_mps2: float = 0.5,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(2)
        self.plot = SwayPlot(target_radius_mps2, scale_mps2)
        lay.addWidget(self.plot, 1)
        row = QHBoxLayout()
        row.setSpacing(3)
        self.zoom_in = QPushButton("+")
        self.zoom_out = QPushButton("−")
        for b, tip in (
            (self.zoom_in, "Zoom in (smaller sway fills the plot)"),
            (self.zoom_out, "Zoom out"),
        ):
            b.setFixedWidth(30)
            b.setToolTip(tip)
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.scale_label = QLabel()
        self.zoom_in.clicked.connect(lambda: self.step_zoom(-1))
        self.zoom_out.clicked.connect(lambda: self.step_zoom(+1))
        self.target = QDoubleSpinBox()
        self.target.setRange(0.02, 2.0)
        self.target.setSingleStep(0.05)
        self.target.setDecimals(2)
        self.target.setSuffix(" m/s²")
        self.target.setValue(target_radius_mps2)
        self.target.setToolTip("Radius of the green target circle")
        self.target.valueChanged.connect(self.set_target)
        self.patient_btn = QPushButton("Patient view")
        self.patient_btn.setToolTip("Show the sway feedback full screen for the patient (F11)")
        self.patient_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.patient_btn.clicked.connect(self.toggle_patient_view)
        row.addWidget(self.zoom_out)
        row.addWidget(self.scale_label)
        row.addWidget(self.zoom_in)
        row.addSpacing(6)
        row.addWidget(QLabel("Target"))
        row.addWidget(self.target)
        row.addStretch(1)
        row.addWidget(self.patient_btn)
        lay.addLayout(row)
        self.patient: PatientSwayWindow | None = None
        self._drawn: tuple[tuple, np.ndarray] = ((), np.empty((0, 2)))  # what draw was given
        self._show_scale()

    # ------------------------------------------------------------ controls
    @property
    def scale_mps2(self) -> float:
        """Current half-width of the plot (m/s^2)."""
        return self.plot.scale_mps2

    def _show_scale(self) -> None:
        self.scale_label.setText(f"±{self.plot.scale_mps2:g} m/s²")
        self.scale_label.setToolTip("Half-width of the sway plot (m/s²)")
        i = (
            SWAY_SCALES_MPS2.index(self.plot.scale_mps2)
            if self.plot.scale_mps2 in SWAY_SCALES_MPS2
            else -1
        )
        self.zoom_in.setEnabled(i != 0)
        self.zoom_out.setEnabled(i != len(SWAY_SCALES_MPS2) - 1)

    def step_zoom(self, direction: int) -> None:
        """One step out (+1) or in (-1) along :data:`SWAY_SCALES_MPS2`."""
        s = self.plot.scale_mps2
        scales = np.asarray(SWAY_SCALES_MPS2)
        i = int(np.argmin(np.abs(scales - s))) + (1 if direction > 0 else -1)
        self.set_scale(float(scales[min(max(i, 0), len(scales) - 1)]))

    def set_scale(self, scale_mps2: float) -> None:
        """Zoom to a half-width (m/s^2)."""
        self.plot.set_scale(scale_mps2)
        if self.patient is not None:
            self.patient.plot.set_scale(scale_mps2)
        self._show_scale()

    def set_target(self, radius_mps2: float) -> None:
        """Target radius (m/s^2)."""
        self.plot.set_target(radius_mps2)
        if self.patient is not None:
            self.patient.plot.set_target(radius_mps2)
        if abs(self.target.value() - radius_mps2) > 1e-9:
            self.target.blockSignals(True)
            self.target.setValue(radius_mps2)
            self.target.blockSignals(False)

    def toggle_patient_view(self) -> None:
        """Open (full screen) or close the patient's view."""
        if self.patient is not None:
            self.patient.close()
            return
        self.patient = PatientSwayWindow(self)
        self.patient.closed.connect(self._patient_closed)
        # a second screen (facing the patient) gets the view; else this one
        here = self.screen()
        others = [sc for sc in QGuiApplication.screens() if sc is not here]
        target = others[0] if others else here
        if target is not None:
            self.patient.setScreen(target)
            # without a window manager "full screen" is only a hint: cover the screen anyway
            self.patient.setGeometry(target.geometry())
        self.patient.showFullScreen()
        self.patient_btn.setText("Close view")

    def _patient_closed(self) -> None:
        if self.patient is not None:
            self.patient.deleteLater()
        self.patient = None
        self.patient_btn.setText("Patient view")

    # ------------------------------------------------------------ data
    def update_from(self, session: Session, state: tuple | None = None) -> None:
        """Pull the trail and the motion state from ``session`` and redraw.

        The state is :func:`session_sway_state` (or ``state``, already computed), the one
        the sway tiles show: paused while the patient walks or moves, the dot only while
        the sway measures settle.
        """
        kind, text, still_s, have_data = state or session_sway_state(session)
        # paused: no trail is drawn, none is computed
        trail = np.empty((0, 2)) if kind == "paused" else session.sway_trail()
        if kind in ("ok", "settling") and have_data:
            # show only the still part, less the trail filter's settling, re-centred (the
            # session's trail has the mean of the whole trail removed, movement included)
            primary = session.primary_sensor()
            assert primary is not None, "have_data: a sensor has samples"
            fs = float(session.sensors[primary].sampling_rate_hz or 100.0)
            k = int((still_s - TRAIL_SETTLE_S) * fs)
            if 2 <= k < trail.shape[0]:
                trail = trail[-k:] - trail[-k:].mean(axis=0)
        reason = f"Paused: {text}" if kind == "paused" else text
        if kind == "paused" and text == "stand still":
            reason = "Stand still…"
        self.draw(trail, kind == "paused", reason, kind == "settling")

    def draw(
        self, trail: np.ndarray, paused: bool = False, reason: str = "", settling: bool = False
    ) -> None:
        """Draw ``trail`` here and in the patient's view (unless that is what they show: the
        trail changes at the poll rate, the frames come twice as often, and a curve given its
        data again repaints the plot)."""
        plot = self.plot
        key = (paused, reason, settling, self.patient, plot.scale_mps2, plot.target_radius)
        if key == self._drawn[0] and np.array_equal(trail, self._drawn[1]):
            return
        self._drawn = (key, trail)
        self.plot.update_trail(trail, paused, reason, settling)
        if self.patient is not None:
            self.patient.plot.update_trail(trail, paused, reason, settling)


def _bin_extremes(blocks: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum and maximum of each bin of ``blocks`` ``(bins, per_bin, k)``."""
    # element-wise over the bin's columns: a reduction along the short middle axis is
    # four times slower in numpy
    b_lo = blocks[:, 0].copy()
    b_hi = b_lo.copy()
    for j in range(1, blocks.shape[1]):
        np.minimum(b_lo, blocks[:, j], out=b_lo)
        np.maximum(b_hi, blocks[:, j], out=b_hi)
    return b_lo, b_hi


def peak_decimate(
    x: np.ndarray, y: np.ndarray, first_index: int, per_bin: int
) -> tuple[np.ndarray, np.ndarray]:
    """Each bin's minimum and maximum, so no spike is lost (peak decimation).

    Bins hold ``per_bin`` consecutive samples and are aligned on the absolute sample index
    (``first_index`` is the index of ``x[0]``), so a scrolling window keeps its bins: only
    the newest (partial) bin changes from one frame to the next, the picture does not
    shimmer. Each bin gives two points at its first sample's time, the minimum then the
    maximum (pyqtgraph's "peak" mode); a NaN in a bin (a gap) makes both NaN.
    :class:`ScrollingPeaks` gives the same for a scrolling window from its new samples.

    Parameters
    ----------
    x
        Times ``(n,)``.
    y
        Values ``(n, k)``, ``k`` traces sharing ``x``.
    first_index
        Absolute index of the first sample.
    per_bin
        Samples per bin (at least 2; with fewer, return the input).

    Returns
    -------
    x, y
        ``(2 m,)`` and ``(2 m, k)`` for ``m`` bins.
    """
    n = x.shape[0]
    if per_bin < 2 or n <= 2 * per_bin:
        return x, y
    lead = (-first_index) % per_bin  # rows before the first whole bin
    whole = (n - lead) // per_bin
    end = lead + whole * per_bin
    b_lo, b_hi = _bin_extremes(y[lead:end].reshape(whole, per_bin, -1))
    xs, lo, hi = [x[lead:end:per_bin]], [b_lo], [b_hi]
    if lead:  # a partial bin at either end
        xs.insert(0, x[:1])
        lo.insert(0, y[:lead].min(axis=0, keepdims=True))
        hi.insert(0, y[:lead].max(axis=0, keepdims=True))
    if end < n:
        xs.append(x[end : end + 1])
        lo.append(y[end:].min(axis=0, keepdims=True))
        hi.append(y[end:].max(axis=0, keepdims=True))
    xb = np.concatenate(xs)
    out = np.empty((2 * xb.shape[0], y.shape[1]))
    out[0::2] = np.concatenate(lo)
    out[1::2] = np.concatenate(hi)
    return np.repeat(xb, 2), out


def body_rows(raw: np.ndarray, frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sensor rows ``[acc xyz, gyr xyz]`` along the body axes, and their squared norms.

    Returns ``(m, 6)`` values (acceleration along the rows V, ML, AP of ``frame`` in m/s^2,
    angular velocity along them in deg/s) and ``(m, 2)`` squared norms of the acceleration
    (m^2/s^4) and the angular velocity (rad^2/s^2), NaN where not finite. Row by row, in a
    fixed order of operations: a block of rows gives what the same rows give inside a
    longer block (what :class:`ScrollingPeaks` relies on).
    """
    m = raw.shape[0]
    v = raw.reshape(m, 2, 3)  # [acc, gyr] x sensor axes
    f = np.stack([frame, np.degrees(frame)])  # [acc, gyr] x body axes x sensor axes
    out = v[:, :, 0:1] * f[:, :, 0] + v[:, :, 1:2] * f[:, :, 1] + v[:, :, 2:3] * f[:, :, 2]
    v2 = v * v
    sq = v2[:, :, 0] + v2[:, :, 1] + v2[:, :, 2]
    np.copyto(sq, np.nan, where=~np.isfinite(sq))
    return out.reshape(m, 6), sq


class ScrollingPeaks:
    """:func:`peak_decimate` of a scrolling window, computed from its new samples only.

    The bins are pinned to the absolute sample index, so a whole bin never changes once its
    last sample has arrived: each is computed once and kept while it is in the window; only
    the partial bins at the two ends are computed on every call. The result equals
    ``peak_decimate`` of the whole window (``tests/gui/test_live_traces.py``). Each bin also
    keeps the largest finite value of some extra columns (the squared norms the plots' y
    ranges come from), so the window's largest is a maximum over bins, not over samples.

    Parameters
    ----------
    transform
        Raw rows ``(m, c)`` -> values ``(m, k)`` to decimate and extra columns ``(m, e)``
        (NaN where not finite), row by row (:func:`body_rows`). Call :meth:`reset` when it
        changes.
    """

    def __init__(self, transform: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]):
        self.transform = transform
        self.per_bin = 0
        self._k0 = 0  # absolute index (in bins) of the first kept bin
        self._n = 0  # bins kept
        self._s = 0  # their position in the arrays
        self._x = np.empty(0)  # each bin's first time
        self._lo = self._hi = self._pk = np.empty((0, 0))

    def reset(self) -> None:
        """Forget the bins (the transform or the data changed)."""
        self._n = 0

    def _keep(self, x: np.ndarray, lo: np.ndarray, hi: np.ndarray, pk: np.ndarray) -> None:
        """Append whole bins, moving the kept ones to the front (or growing) when full."""
        m, s, n = x.shape[0], self._s, self._n
        if self._x.shape[0] < s + n + m or self._lo.shape[1:] != lo.shape[1:]:
            cap = max(64, 2 * (n + m))
            old = (
                self._x[s : s + n],
                self._lo[s : s + n],
                self._hi[s : s + n],
                self._pk[s : s + n],
            )
            self._x = np.empty(cap)
            self._lo, self._hi = np.empty((cap,) + lo.shape[1:]), np.empty((cap,) + hi.shape[1:])
            self._pk = np.empty((cap,) + pk.shape[1:])
            if n:
                for arr, prev in zip((self._x, self._lo, self._hi, self._pk), old, strict=True):
                    arr[:n] = prev
            self._s = s = 0
        for arr, new in zip((self._x, self._lo, self._hi, self._pk), (x, lo, hi, pk), strict=True):
            arr[s + n : s + n + m] = new
        self._n = n + m

    def update(
        self, t: np.ndarray, raw: np.ndarray, first_index: int, per_bin: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The window ``t`` ``(n,)``, ``raw`` ``(n, c)`` whose first row has the absolute
        index ``first_index``: ``peak_decimate(t, values, first_index, per_bin)`` of the
        transformed rows, and the largest finite value of each extra column (NaN: none)."""
        n = t.shape[0]
        if per_bin < 2 or n <= 2 * per_bin:
            self.reset()
            vals, extra = self.transform(raw)
            return t, vals, np.fmax.reduce(extra, axis=0, initial=np.nan)
        k_first = -(-first_index // per_bin)  # the first whole bin (absolute)
        k_end = (first_index + n) // per_bin  # after the last whole bin
        lead = k_first * per_bin - first_index  # rows before the first whole bin
        end = k_end * per_bin - first_index  # rows up to the end of the last whole bin
        kept = self._n > 0 and per_bin == self.per_bin
        kept = kept and self._k0 <= k_first <= self._k0 + self._n <= k_end
        if kept:  # drop the bins that left the window; the rest must still be these rows
            drop = k_first - self._k0
            self._s, self._n, self._k0 = self._s + drop, self._n - drop, k_first
            starts = t[lead : lead + self._n * per_bin : per_bin]
            kept = np.array_equal(self._x[self._s : self._s + self._n], starts, equal_nan=True)
        if not kept:  # a new window, bin size, transform, or the buffer was reset
            self.per_bin, self._k0, self._n, self._s = per_bin, k_first, 0, 0
        a = lead + self._n * per_bin  # the first row of the first new whole bin
        # one transform: the partial bin at the start, the new whole bins, the partial at the end
        vals, extra = self.transform(raw[a:] if not lead else np.concatenate((raw[:lead], raw[a:])))
        w = lead + end - a  # where the partial bin at the end starts in vals
        if end > a:
            m = (end - a) // per_bin
            lo, hi = _bin_extremes(vals[lead:w].reshape(m, per_bin, -1))
            pk = np.fmax.reduce(extra[lead:w].reshape(m, per_bin, -1), axis=1)
            self._keep(t[a:end:per_bin], lo, hi, pk)
        s, nb = self._s, self._n
        parts: list[tuple[np.ndarray, ...]] = [
            (self._x[s : s + nb], self._lo[s : s + nb], self._hi[s : s + nb], self._pk[s : s + nb])
        ]
        if lead:  # a partial bin at either end
            parts.insert(0, _one_bin(t[:1], vals[:lead], extra[:lead]))
        if end < n:
            parts.append(_one_bin(t[end : end + 1], vals[w:], extra[w:]))
        xb, lo, hi, pk = (np.concatenate(c) for c in zip(*parts, strict=True))
        out = np.empty((2 * xb.shape[0], lo.shape[1]))
        out[0::2] = lo
        out[1::2] = hi
        return np.repeat(xb, 2), out, np.fmax.reduce(pk, axis=0, initial=np.nan)


def _one_bin(t0: np.ndarray, vals: np.ndarray, extra: np.ndarray) -> tuple[np.ndarray, ...]:
    """A partial bin: its time, minimum, maximum and the extra columns' largest."""
    lo, hi = vals.min(axis=0, keepdims=True), vals.max(axis=0, keepdims=True)
    return t0, lo, hi, np.fmax.reduce(extra, axis=0, keepdims=True)


class _Trace:
    """One trace of a :class:`_TraceSet` (what a curve's ``getData`` gives)."""

    def __init__(self, traces: _TraceSet, k: int) -> None:
        self._traces = traces
        self._k = k

    def getData(self) -> tuple[np.ndarray, np.ndarray]:  # noqa: N802 (pyqtgraph's name)
        """``(x, y)`` as drawn (after decimation)."""
        return self._traces.x, self._traces.y[:, self._k]


class _TraceSet(pg.GraphicsObject):
    """A plot's traces (body axes) and its zero line, painted in one call.

    One item instead of a ``PlotCurveItem`` per trace and an ``InfiniteLine``: a live plot
    repaints every frame, and each Python item costs a paint call, a bounds query and
    a path built point by point. Here each trace is a ``QPolygonF`` filled from numpy and
    drawn with ``drawPolyline`` (a 1-px cosmetic pen, no antialiasing); NaN rows (gaps)
    split a trace. The bounds are set, not measured: a live trace fills its plot's fixed
    range (the view box clips anything beyond it).

    Parameters
    ----------
    colours
        One pen colour per trace.
    zero_colour
        Colour of the line at y = 0 (drawn under the traces).
    """

    def __init__(self, colours: tuple[str, ...], zero_colour: str = "#c8c8c8") -> None:
        super().__init__()
        self._pens = [pg.mkPen(c, width=1) for c in colours]
        self._zero_pen = pg.mkPen(zero_colour, width=1)
        self._bounds = QRectF()
        self._lines: list[list[QPolygonF]] = [[] for _ in colours]
        self._mem: list[np.ndarray] = []  # the reused polygons' points, as numpy views
        self.x = np.empty(0)
        self.y = np.empty((0, len(colours)))

    def set_bounds(self, x0: float, x1: float, y0: float, y1: float) -> None:
        """The rectangle, in data coordinates, the traces may be drawn in."""
        self.prepareGeometryChange()
        self._bounds = QRectF(x0, y0, x1 - x0, y1 - y0)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        """The set bounds."""
        return self._bounds

    def set_data(self, x: np.ndarray, y: np.ndarray, finite: bool | None = None) -> None:
        """Traces ``y[:, k]`` over ``x``; non-finite points break a trace.

        ``finite``: whether ``x`` and ``y`` are all finite, if the caller knows.
        """
        self.x, self.y = x, y
        m = x.shape[0]
        if finite is None:
            finite = bool(np.isfinite(y).all() and np.isfinite(x).all())
        if m and finite:
            self._fill(x, y)
        else:
            self._mem = []
            self._lines = [self._pieces(x, y[:, k]) for k in range(y.shape[1])]
        self.update()

    def _fill(self, x: np.ndarray, y: np.ndarray) -> None:
        """One polygon per trace, reused from frame to frame: the point count only varies
        by a bin or two, so a polygon a few points longer takes it, its first point
        repeated in front (zero-length segments draw nothing more)."""
        m, k = x.shape[0], y.shape[1]
        if len(self._mem) != k or not m <= self._mem[0].shape[0] <= m + 8:
            polys = [pg.functions.create_qpolygonf(m + 4) for _ in range(k)]
            self._lines = [[poly] for poly in polys]
            self._mem = [pg.functions.ndarray_from_qpolygonf(poly) for poly in polys]
        pad = self._mem[0].shape[0] - m
        for j, mem in enumerate(self._mem):
            mem[pad:, 0] = x
            mem[pad:, 1] = y[:, j]
            mem[:pad] = mem[pad]

    @staticmethod
    def _pieces(x: np.ndarray, y: np.ndarray) -> list[QPolygonF]:
        """A trace's runs of finite points, as polygons (runs of one point draw nothing)."""
        ok = np.isfinite(x) & np.isfinite(y)
        edges = np.flatnonzero(np.diff(np.concatenate(([False], ok, [False]))))
        return [
            pg.functions.arrayToQPolygonF(x[a:b], y[a:b])
            for a, b in zip(edges[0::2], edges[1::2], strict=True)
            if b - a >= 2
        ]

    def paint(self, p, *_args) -> None:
        """The zero line, then each trace."""
        r = self._bounds
        p.setPen(self._zero_pen)
        p.drawLine(QPointF(r.left(), 0.0), QPointF(r.right(), 0.0))
        for pen, polys in zip(self._pens, self._lines, strict=False):
            p.setPen(pen)
            for poly in polys:
                p.drawPolyline(poly)


class _Axis(pg.AxisItem):
    """An axis whose bounds are computed once per size, not on every ask.

    Qt asks each axis for its bounds about three times a frame (the traces it borders
    repaint every frame); pyqtgraph's ``boundingRect`` maps the geometry each time. The
    rectangle only changes with the size or the style, which call ``resizeEvent`` or
    ``prepareGeometryChange``.
    """

    _bounds: QRectF | None = None

    def prepareGeometryChange(self) -> None:  # noqa: N802 (Qt name)
        """Forget the bounds (style or font changed)."""
        self._bounds = None
        super().prepareGeometryChange()

    def resizeEvent(self, ev=None) -> None:  # noqa: N802 (Qt name)
        """Forget the bounds (new size)."""
        self._bounds = None
        super().resizeEvent(ev)

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        """pyqtgraph's bounds, kept until the size or style changes."""
        if self._bounds is None:
            self._bounds = super().boundingRect()
        return self._bounds


#: Flag of a graphics item that draws nothing itself (its children do): Qt then skips its
#: paint call and its bounds when it repaints.
NO_CONTENTS = QGraphicsItem.GraphicsItemFlag.ItemHasNoContents


class SensorPlots:
    """The acceleration and angular-velocity plots of one sensor (created once).

    Time runs on a fixed axis (seconds before now, ``-window_s..0``), so scrolling costs no
    axis re-layout (the axes are cached as pixmaps: only the traces repaint); the y ranges
    come from :class:`StableRange` ladders; each trace shows at most two points per pixel
    column (:func:`peak_decimate`: a spike stays visible), computed for the new samples only
    (:class:`ScrollingPeaks`). Angular velocity is shown in deg/s.
    """

    def __init__(self, layout: pg.GraphicsLayoutWidget, row: int, title: str, window_s: float):
        self.acc, self.gyr = (
            layout.addPlot(row=row, col=col, axisItems={k: _Axis(k) for k in ("left", "bottom")})
            for col in (0, 1)
        )
        self.window_s = window_s
        self.traces: list[_TraceSet] = []
        for p in (self.acc, self.gyr):
            # no grid: an axis with a grid repaints every line each frame (half the cost)
            p.getViewBox().setBackgroundColor("#ffffff")
            p.setMenuEnabled(False)
            p.setMouseEnabled(x=False, y=False)
            p.hideButtons()
            p.disableAutoRange()
            p.setXRange(-window_s, 0, padding=0)
            p.getAxis("bottom").setHeight(18)
            p.getAxis("left").setWidth(44)
            for side in ("bottom", "left"):
                ax = p.getAxis(side)
                ax.enableAutoSIPrefix(False)
                # the ticks reach into the view box, so every frame's traces expose the axes:
                # a cached pixmap is copied instead of the axis being drawn again (redrawn
                # when the range changes)
                ax.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            p.titleLabel.setMaximumHeight(18)
            p.titleLabel.setMinimumWidth(10)
            # the frame repaints the plots as one rectangle (repaint_as_one_rect), the titles
            # with them: a cached pixmap instead of laying out and drawing the text each frame
            p.titleLabel.item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            # containers (the title's text is a child item; the view box has no border)
            for item in (p, p.getViewBox(), p.titleLabel):
                item.setFlag(NO_CONTENTS)
            traces = _TraceSet(AXIS_PENS)
            p.addItem(traces)
            self.traces.append(traces)
        #: the six traces (acc V, ML, AP, gyr V, ML, AP): ``getData()`` gives what is drawn
        self.curves = [_Trace(t, k) for t in self.traces for k in range(len(AXIS_PENS))]
        self.ranges = (StableRange(ACC_LADDER_MPS2), StableRange(GYR_LADDER_DPS))
        self.frame = GUIDE_FRAME  # rows V, ML, AP in sensor coordinates
        #: the decimated traces, kept from frame to frame (in the frame ``_peaks_frame``)
        self._peaks = ScrollingPeaks(lambda raw: body_rows(raw, self._peaks_frame))
        self._peaks_frame = self.frame
        for k, (p, r) in enumerate(zip((self.acc, self.gyr), self.ranges, strict=True)):
            self._set_y_range(k, p, r.half)
        self.set_title(title)

    def _set_y_range(self, k: int, plot, half: float) -> None:
        """Plot ``k``'s (0 acc, 1 gyr) y range, and its traces' bounds with it."""
        plot.setYRange(-half, half, padding=0)
        self.traces[k].set_bounds(-self.window_s, 0.0, -half, half)

    def set_title(self, title: str, colour: str | None = None) -> None:
        """Change the plots' titles (placement or state changed)."""
        colour = colour or "#000000"  # pyqtgraph keeps the last colour unless told
        self.acc.setTitle(f"{title} · acceleration (m/s²)", size="9pt", color=colour)
        self.gyr.setTitle("angular velocity (°/s)", size="9pt", color=colour)

    def update(
        self,
        rows: np.ndarray,
        now_s: float | None = None,
        frame: np.ndarray | None = None,
        count: int | None = None,
    ) -> None:
        """Show rows ``[t, acc xyz, gyr xyz]`` along the body axes.

        x is time relative to ``now_s`` (or the last row). ``frame`` (rows V, ML, AP in
        sensor coordinates) is the session's body frame of this sensor
        (:meth:`poise.session.Session.body_axes`); without it the last one is kept.
        ``count`` is the number of samples the sensor delivered up to the last row
        (:meth:`poise.session.Session.latest_counted`): it pins the decimation's bins to
        the samples, and the bins already computed are kept from call to call
        (:class:`ScrollingPeaks`: a row's index must name the same sample every time);
        default: bins from the first row, all computed again.
        """
        if frame is not None:
            self.frame = frame
        n = rows.shape[0]
        if n == 0:
            for t in self.traces:
                t.set_data(np.empty(0), np.empty((0, len(AXIS_PENS))))
            return
        now = time.monotonic()
        t_end = rows[-1, 0] if now_s is None else max(now_s, rows[-1, 0])
        # one bin per pixel column (the rows are the window's samples)
        per_bin = int(math.ceil(n / max(1.0, self.acc.getViewBox().width())))
        if count is None:  # bins from the first row: nothing to keep from the last call
            self._peaks.reset()
        first = (n if count is None else count) - n
        if self.frame is not self._peaks_frame and not np.array_equal(
            self.frame, self._peaks_frame
        ):  # the traces are drawn along new axes: decimate again
            self._peaks.reset()
        self._peaks_frame = self.frame
        # the norm bounds every axis whatever the frame: ranges need no rotation (and the
        # largest norm is the root of the largest squared norm: one root, not one per row)
        x, y, peaks = self._peaks.update(rows[:, 0], rows[:, 1:7], first, per_bin)
        x = x - t_end
        finite = bool(np.isfinite(y).all() and np.isfinite(x).all())
        self.traces[0].set_data(x, y[:, :3], finite)
        self.traces[1].set_data(x, y[:, 3:], finite)
        acc_peak = math.sqrt(peaks[0])
        gyr_peak = math.degrees(math.sqrt(peaks[1]))
        for k, (p, rng, peak) in enumerate(
            zip((self.acc, self.gyr), self.ranges, (acc_peak, gyr_peak), strict=True)
        ):
            if rng.update(peak, now):
                self._set_y_range(k, p, rng.half)


class LiveView(QWidget):
    """Signals, sway and live metrics of a session.

    Parameters
    ----------
    session
        The model; the view subscribes to its events.
    window_s
        Seconds of signal shown.
    fps
        Redraw rate asked of the timer (60 Hz: a smooth scroll; a frame that takes longer
        delays the next, so a busy machine draws fewer, never queues them); ``None``: no
        timer, the owner calls :meth:`refresh` every frame (the main window does, in the
        same wake-up as its poll of the session).
    """

    def __init__(
        self, session: Session, window_s: float = 10.0, fps: float | None = 60.0, parent=None
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.window_s = window_s
        self.frames = 0
        self.samples_seen = 0
        lay = QHBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        left = QVBoxLayout()
        left.setSpacing(2)
        self.test_status = QLabel()
        self.test_status.setStyleSheet(
            "font-size: 13pt; font-weight: 600; color: white; background: #1f77b4;"
            " padding: 4px 8px; border-radius: 4px;"
        )
        self.test_status.setVisible(False)
        left.addWidget(self.test_status)
        self.legend = QLabel(legend_html())
        self.legend.setWordWrap(True)
        self.legend.setStyleSheet("font-size: 9pt;")
        left.addWidget(self.legend)
        self.plots_widget = pg.GraphicsLayoutWidget()
        repaint_as_one_rect(self.plots_widget)
        self.plots_widget.ci.setSpacing(2)
        self.plots_widget.ci.setFlag(NO_CONTENTS)
        self.placeholder = self.plots_widget.addLabel(
            "Connect sensors (left) or open a recording to see live data.", row=0, col=0
        )
        left.addWidget(self.plots_widget, 1)
        lay.addLayout(left, 1)
        right_w = QWidget()
        right_w.setFixedWidth(380)
        right = QVBoxLayout(right_w)
        right.setContentsMargins(0, 0, 0, 0)
        self.sway_panel = SwayPanel()
        self.sway_panel.setMinimumSize(300, 300)
        self.sway = self.sway_panel.plot
        right.addWidget(self.sway_panel, 3)
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
        self.tiles["sway_rms_mps2"].setToolTip(
            "Root mean square of the trunk's horizontal acceleration over the last 10 s of quiet "
            "stance (Mancini et al. 2012). Shown only while the patient stands still."
        )
        for i, tile in enumerate(self.tiles.values()):
            grid.addWidget(tile, i // 2, i % 2)
        right.addLayout(grid, 2)
        lay.addWidget(right_w)
        self.sensor_plots: dict[str, SensorPlots] = {}
        self._last_sway: dict[str, Any] = {}
        session.events.sensor_added.connect(self._on_sensor_added)
        session.events.sensor_state.connect(self._on_sensor_state)
        session.events.metrics.connect(self._on_metrics)
        session.events.samples.connect(self._on_samples)
        session.events.source_changed.connect(self._on_source_changed)
        for info in list(session.sensors.values()):
            self._on_sensor_added(info)
        self.timer: QTimer | None = None
        if fps is not None:
            self.timer = QTimer(self)
            self.timer.setTimerType(Qt.TimerType.PreciseTimer)
            self.timer.setInterval(int(1000 / fps))
            self.timer.timeout.connect(self.refresh)
            self.timer.start()

    # -------------------------------------------------------------- events
    def _on_source_changed(self, kind: str) -> None:
        """A new source, or the session ended ("none"): every tile, the time included, and
        the plots start empty (the ended session's steps and speed are not left behind)."""
        self.plots_widget.clear()
        self.sensor_plots.clear()
        self.placeholder = None
        if kind == "none":
            self.placeholder = self.plots_widget.addLabel(
                "Session ended. Connect sensors or open a recording.", row=0, col=0
            )
            self.sway_panel.draw(np.empty((0, 2)), True, "Session ended")
        self._last_sway.clear()
        for t in self.tiles.values():
            t.set_value(None)
        self.test_status.setVisible(False)

    def _title(self, info) -> str:
        return f"{info.name or info.id} · {placement_label(info.placement, '?')}"

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
            ok = info.state in ("streaming", "replay")
            suffix = "" if ok else f" [{info.state.upper()}]"
            sp.set_title(self._title(info) + suffix, None if ok else "#d62728")

    def _on_samples(self, blocks: dict[str, SamplesBlock]) -> None:
        self.samples_seen += sum(b.n_samples for b in blocks.values())

    def _on_metrics(self, m: dict) -> None:
        for key, tile in self.tiles.items():
            if key != "session_time_s" and not key.startswith("sway_"):
                tile.set_value(m.get(key))

    def _sway_tiles(self, kind: str, text: str) -> None:
        """Sway only means something in quiet stance: the tiles follow the sway plot's state
        (drawn in the same frame), keeping the last valid value, greyed, with its words."""
        m = self.session.metrics
        for key in ("sway_rms_mps2", "sway_ellipse_area_m2ps4"):
            tile = self.tiles[key]
            if kind == "ok" and m.get(key) is not None:
                self._last_sway[key] = m.get(key)
                tile.set_value(m.get(key))
            else:
                note = text if kind == "settling" else f"paused: {text}"
                tile.set_value(self._last_sway.get(key), note)

    # -------------------------------------------------------------- redraw
    def refresh(self) -> None:
        """Pull the newest samples and redraw (the timer's slot)."""
        if not self.isVisible():
            return
        # live: time relative to the session clock, so a silent sensor's trace slides away
        # instead of looking current; replay: relative to each sensor's newest sample
        now = self.session.now_s() if self.session.kind == "live" else None
        for sid, sp in self.sensor_plots.items():
            axes = self.session.body_axes(sid)
            frame = None if axes is None else np.vstack([axes[0], axes[2], axes[1]])
            rows, count = self.session.latest_counted(sid, self.window_s)
            sp.update(rows, now, frame, count)
        if self.session.kind != "none":
            state = session_sway_state(self.session)
            self.sway_panel.update_from(self.session, state)
            self._sway_tiles(state[0], state[1])
            self.tiles["session_time_s"].set_value(format_clock(self.session.now_s()))
            self._show_run()
        self.frames += 1

    def _show_run(self) -> None:
        """The running test's stage and clock, so the Live page says a test is on."""
        run = getattr(self.session, "run", None)
        if run is None or run.finished:
            self.test_status.setVisible(False)
            return
        snap = run.snapshot()
        head = f"● {snap['title']}"
        if snap["stage_count"] > 1:
            head += f" · {snap['stage_title']} ({snap['stage_index'] + 1}/{snap['stage_count']})"
        if snap["state"] == "countdown":
            clock = f"starts in {max(1, int(snap['countdown_remaining_s'] + 0.999))} s"
        elif snap["stage_remaining_s"] is not None:
            clock = f"{snap['stage_remaining_s']:.0f} s left"
        else:
            clock = f"{snap['stage_elapsed_s']:.1f} s · Space when done"
        self.test_status.setText(f"{head} · {clock} · Esc stops")
        self.test_status.setVisible(True)

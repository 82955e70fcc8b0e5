"""Progress view: each metric over a patient's sessions with its normative band.

Gets a :class:`poise.progress.Progress` (plain data) and shows

* a summary table (first, latest, change since the first session, norm) whose texts are
  the same strings the progress report prints (:func:`poise.reports.progress_report`);
* one pyqtgraph plot per metric: normative zones shaded (green normal, amber elevated,
  red at risk), reference lines dashed (age norm, predicted distance), the values as a
  line with points, dates on the x axis;
* the fall-risk level and factor statuses of every session.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QGridLayout,
    QHeaderView,
    QScrollArea,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets import styled_label
from poise.daily import HISTORY_COLUMNS, history_rows
from poise.progress import Progress
from poise.reports import LEVEL_TEXT, STATUS_TEXT, band_text
from poise.service import display_time

__all__ = ["ProgressView", "STATUS_QCOLOURS"]

STATUS_QCOLOURS = {
    "normal": QColor(46, 160, 67),
    "elevated": QColor(230, 160, 0),
    "at_risk": QColor(214, 39, 40),
}
SUMMARY_COLUMNS = ["Measure", "First", "Latest", "Change", "Norm / threshold"]


def _table(columns: list[str]) -> QTableWidget:
    t = QTableWidget(0, len(columns))
    t.setHorizontalHeaderLabels(columns)
    t.verticalHeader().setVisible(False)
    t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
    t.setSelectionMode(QTableWidget.SelectionMode.NoSelection)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
    t.horizontalHeader().setStretchLastSection(True)
    return t


def _set_row(t: QTableWidget, row: int, cells: list[str], status: str | None) -> None:
    for c, text in enumerate(cells):
        item = QTableWidgetItem(str(text))
        if status in STATUS_QCOLOURS:
            bg = QColor(STATUS_QCOLOURS[status])
            bg.setAlpha(45)
            item.setBackground(bg)
        t.setItem(row, c, item)


class ProgressView(QWidget):
    """Summary table, one plot per metric, and fall-risk factors over time."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        self.title = styled_label("font-size: 14pt; font-weight: 600;", "Select a patient")
        outer.addWidget(self.title)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        body = QWidget()
        self.body_layout = QVBoxLayout(body)
        self.summary = _table(SUMMARY_COLUMNS)
        self.body_layout.addWidget(self.summary)
        self.plots_box = QWidget()
        self.grid = QGridLayout(self.plots_box)
        self.grid.setContentsMargins(0, 0, 0, 0)
        self.body_layout.addWidget(self.plots_box)
        self.factors_label = styled_label("font-weight: 600;", "Fall-risk factors over time")
        self.body_layout.addWidget(self.factors_label)
        self.factors = _table(["Date", "Level"])
        self.body_layout.addWidget(self.factors)
        # home recordings: Mobilise-D outcomes over each recording (poise.daily)
        self.daily_label = styled_label("font-weight: 600;", "Daily life")
        self.body_layout.addWidget(self.daily_label)
        self.daily = _table(list(HISTORY_COLUMNS))
        self.body_layout.addWidget(self.daily)
        self.daily_label.hide()
        self.daily.hide()
        self.body_layout.addStretch(1)
        scroll.setWidget(body)
        outer.addWidget(scroll, 1)
        self.plots: dict[str, pg.PlotWidget] = {}
        self.progress: Progress | None = None

    # ------------------------------------------------------------------ content
    def summary_texts(self) -> list[list[str]]:
        """The summary table's cells as shown (for tests and the report check)."""
        t = self.summary
        return [
            [item.text() if (item := t.item(r, c)) else "" for c in range(t.columnCount())]
            for r in range(t.rowCount())
        ]

    def set_progress(self, progress: Progress | None) -> None:
        """Show ``progress`` (``None`` clears the view)."""
        self.progress = progress
        for w in self.plots.values():
            w.setParent(None)
            w.deleteLater()
        self.plots.clear()
        self.summary.setRowCount(0)
        self.factors.setRowCount(0)
        self.daily.setRowCount(0)
        if progress is None:
            self.daily_label.hide()
            self.daily.hide()
            self.title.setText("Select a patient")
            return
        p = progress.patient
        n = len(progress.sessions)
        self.title.setText(
            f"{p.pseudonym}: {n} session(s)"
            + (
                f", {display_time(progress.sessions[0]['date'])} to "
                f"{display_time(progress.sessions[-1]['date'])}"
                if n
                else ""
            )
        )
        self.summary.setRowCount(len(progress.series))
        for r, s in enumerate(progress.series):
            status = next((st for st in reversed(s.statuses) if st), None)
            _set_row(
                self.summary,
                r,
                [
                    s.metric.label,
                    s.format(s.first),
                    s.format(s.last),
                    s.change_text(),
                    band_text(s),
                ],
                status,
            )
        for i, s in enumerate(progress.series):
            w = self._plot(s)
            self.plots[s.metric.key] = w
            self.grid.addWidget(w, i // 2, i % 2)
        keys: list[str] = []
        for h in progress.sessions:
            for k in h["factors"]:
                if k not in keys:
                    keys.append(k)
        labels = [
            next(h["factors"][k]["label"] for h in progress.sessions if k in h["factors"])
            for k in keys
        ]
        self.factors.setColumnCount(2 + len(keys))
        self.factors.setHorizontalHeaderLabels(["Date", "Level", *labels])
        self.factors.setRowCount(n)
        for r, h in enumerate(progress.sessions):
            self.factors.setItem(r, 0, QTableWidgetItem(display_time(h["date"])))
            self.factors.setItem(r, 1, QTableWidgetItem(LEVEL_TEXT.get(h["level"], h["level"])))
            for c, k in enumerate(keys):
                f = h["factors"].get(k)
                item = QTableWidgetItem(STATUS_TEXT.get(f["status"], "") if f else "–")
                if f and f["status"] in STATUS_QCOLOURS:
                    bg = QColor(STATUS_QCOLOURS[f["status"]])
                    bg.setAlpha(60)
                    item.setBackground(bg)
                self.factors.setItem(r, 2 + c, item)
        history = progress.daily
        self.daily_label.setVisible(bool(history))
        self.daily.setVisible(bool(history))
        self.daily.setRowCount(len(history))
        for r, cells in enumerate(history_rows(history)):
            _set_row(self.daily, r, cells, None)
        for t in (self.summary, self.factors, self.daily):
            t.setFixedHeight(
                t.horizontalHeader().height() + sum(t.rowHeight(i) for i in range(t.rowCount())) + 6
            )

    def _plot(self, s: Any) -> pg.PlotWidget:
        w = pg.PlotWidget()
        w.setMinimumHeight(220)
        w.setBackground("w")
        unit = {"m^2/s^4": "m²/s⁴", "1": "", "stage": ""}.get(s.metric.unit, s.metric.unit)
        better = "higher is better" if s.metric.better == "higher" else "lower is better"
        w.setTitle(
            f"{s.metric.label}" + (f" ({unit})" if unit else "") + f" · {better}",
            color="k",
            size="10pt",
        )
        w.showGrid(x=False, y=True, alpha=0.2)
        w.setMouseEnabled(x=False, y=False)
        w.hideButtons()
        vals = [v for v in s.values if v is not None]
        refs = [r["value"] for r in s.references]
        cuts = [z[k] for z in s.zones for k in ("low", "high") if z[k] is not None]
        lo, hi = min(vals + refs + cuts), max(vals + refs + cuts)
        span = hi - lo or max(abs(hi), 1.0)
        lo, hi = lo - 0.15 * span, hi + 0.25 * span
        if min(vals) >= 0 and lo < 0:
            lo = 0.0
        for z in s.zones:
            zl = lo if z["low"] is None else max(lo, z["low"])
            zh = hi if z["high"] is None else min(hi, z["high"])
            if zh <= zl:
                continue
            c = QColor(STATUS_QCOLOURS.get(z["status"], QColor(200, 200, 200)))
            c.setAlpha(45)
            region = pg.LinearRegionItem(
                values=(zl, zh),
                orientation="horizontal",
                movable=False,
                brush=pg.mkBrush(c),
                pen=pg.mkPen(None),
            )
            region.setZValue(-10)
            w.addItem(region)
        for r in s.references:
            line = pg.InfiniteLine(
                pos=r["value"],
                angle=0,
                pen=pg.mkPen((60, 60, 60), width=1, style=Qt.PenStyle.DashLine),
                label=r["label"],
                labelOpts={"position": 0.02, "color": (60, 60, 60), "anchors": [(0, 1), (0, 1)]},
            )
            w.addItem(line)
        xs = [i for i, v in enumerate(s.values) if v is not None]
        ys = [v for v in s.values if v is not None]
        w.plot(
            xs,
            ys,
            pen=pg.mkPen((31, 119, 180), width=2),
            symbol="o",
            symbolSize=8,
            symbolBrush=(31, 119, 180),
        )
        for x, y in zip(xs, ys):
            t = pg.TextItem(s.format(y), color=(0, 0, 0), anchor=(0.5, 1.2))
            t.setPos(x, y)
            w.addItem(t)
        n = len(s.values)
        w.getAxis("bottom").setTicks([[(i, display_time(d)[:10]) for i, d in enumerate(s.dates)]])
        w.setXRange(-0.5, max(n - 0.5, 0.5), padding=0)
        w.setYRange(lo, hi, padding=0)
        return w

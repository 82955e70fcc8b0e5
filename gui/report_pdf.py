"""Lay out a report (:mod:`poise.reports` data) on A4 or Letter pages with QPainter.

:func:`render_pdf` renders a PDF in memory with Qt's ``QPdfWriter`` (:func:`write_pdf`
writes it to a file safely), in a coordinate system of
typographic points (1/72 in). The tests open the written file with QtPdf
(``QPdfDocument``), rasterise every page and extract its text.

Plots are drawn directly: the normative zones shaded (green normal, amber elevated, red at
risk), reference lines dashed, the patient's values as a line with points. Plots go two to
a row; a plot alone in its row keeps the half width (the same scale as its neighbours).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QBuffer, QIODevice, QMarginsF, QPointF, QRectF, QSizeF, Qt
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetricsF,
    QPageLayout,
    QPageSize,
    QPainter,
    QPdfWriter,
    QPen,
)

__all__ = ["PAGE_SIZES", "STATUS_COLOURS", "render_pdf", "write_pdf"]

PAGE_SIZES = {"a4": QPageSize.PageSizeId.A4, "letter": QPageSize.PageSizeId.Letter}
STATUS_COLOURS = {
    "normal": QColor(46, 160, 67),
    "elevated": QColor(230, 160, 0),
    "at_risk": QColor(214, 39, 40),
}
_ZONE_ALPHA = 45
_MARGIN_PT = 42.0


def _font(size: float, bold: bool = False) -> QFont:
    f = QFont("DejaVu Sans")
    f.setStyleHint(QFont.StyleHint.SansSerif)
    f.setPixelSize(max(1, int(round(size * 10))))  # drawn at scale 0.1: sub-point precision
    f.setBold(bold)
    return f


class _Layout:
    """Flows blocks down pages; ``new_page()`` returns a painter set to points."""

    def __init__(
        self, page_pt: QSizeF, begin_page: Callable[[bool], QPainter], footer: str
    ) -> None:
        self.w, self.h = page_pt.width(), page_pt.height()
        self.begin_page = begin_page
        self.footer = footer
        self.page = 0
        self.p: QPainter | None = None
        self.y = 0.0
        self.left = _MARGIN_PT
        self.right = self.w - _MARGIN_PT
        self.bottom = self.h - _MARGIN_PT

    # -- primitives (sizes in points; fonts are drawn at 10x and scaled 0.1) ----------
    def _start(self) -> None:
        self.p = self.begin_page(self.page > 0)
        self.page += 1
        self.y = _MARGIN_PT
        self._text(
            QRectF(self.left, self.h - _MARGIN_PT + 10, self.right - self.left, 12),
            f"{self.footer} · page {self.page}",
            7.5,
            align=Qt.AlignmentFlag.AlignRight,
            colour=QColor(110, 110, 110),
        )

    def ensure(self, height: float) -> None:
        if self.p is None or self.y + height > self.bottom:
            self._start()

    def _measure(self, text: str, size: float, width: float, bold: bool = False) -> float:
        fm = QFontMetricsF(_font(size, bold))
        r = fm.boundingRect(QRectF(0, 0, width * 10, 1e6), int(Qt.TextFlag.TextWordWrap), str(text))
        return r.height() / 10.0

    def _text(
        self,
        rect: QRectF,
        text: str,
        size: float,
        bold: bool = False,
        align: Qt.AlignmentFlag = Qt.AlignmentFlag.AlignLeft,
        colour: QColor | None = None,
    ) -> None:
        p = self.p
        assert p is not None
        p.save()
        p.scale(0.1, 0.1)
        p.setFont(_font(size, bold))
        p.setPen(colour or QColor(0, 0, 0))
        r = QRectF(rect.x() * 10, rect.y() * 10, rect.width() * 10, rect.height() * 10)
        p.drawText(
            r, int(align | Qt.AlignmentFlag.AlignTop) | int(Qt.TextFlag.TextWordWrap), str(text)
        )
        p.restore()

    # -- blocks -------------------------------------------------------------------------
    def title(self, title: str, subtitle: str, generated: str) -> None:
        self.ensure(60)
        width = self.right - self.left
        self._text(QRectF(self.left, self.y, width, 24), title, 18, bold=True)
        self.y += 24
        self._text(QRectF(self.left, self.y, width, 16), subtitle, 11)
        self.y += 16
        self._text(
            QRectF(self.left, self.y, width, 12),
            f"Generated {generated.replace('+00:00', '')} UTC by Poise. Supports, and does not replace, a clinician's judgement.",
            7.5,
            colour=QColor(90, 90, 90),
        )
        self.y += 18

    def heading(self, text: str, level: int = 1, keep: float = 26.0) -> None:
        """A heading, on the same page as the first ``keep`` points of what follows."""
        size = 13 if level == 1 else 11
        self.ensure(size + 14 + keep)
        self.y += 6
        self._text(QRectF(self.left, self.y, self.right - self.left, size + 6), text, size, True)
        self.y += size + 6
        if level == 1:
            p = self.p
            assert p is not None
            p.setPen(QPen(QColor(180, 180, 180), 0.6))
            p.drawLine(QPointF(self.left, self.y - 2), QPointF(self.right, self.y - 2))
            self.y += 2

    def paragraph(self, text: str, small: bool = False) -> None:
        """Wrapped text; a paragraph longer than the rest of the page continues on the next."""
        size = 7.5 if small else 9.5
        width = self.right - self.left
        colour = QColor(70, 70, 70) if small else None
        words = str(text).split(" ")
        while words:
            self.ensure(2.2 * size)  # at least a line
            room = self.bottom - self.y
            h = self._measure(" ".join(words), size, width) + 2
            if h > room:  # the most words that fit (binary search on the wrapped height)
                lo, hi = 0, len(words) - 1
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if self._measure(" ".join(words[:mid]), size, width) + 2 <= room:
                        lo = mid
                    else:
                        hi = mid - 1
                if lo == 0 and self.y > _MARGIN_PT + 1:
                    self._start()
                    continue
                k = max(lo, 1)
                part, words = " ".join(words[:k]), words[k:]
                h = self._measure(part, size, width) + 2
            else:
                part, words = " ".join(words), []
            self._text(QRectF(self.left, self.y, width, h), part, size, colour=colour)
            self.y += h + (3 if not words else 0)
            if words:
                self._start()

    def keyvalues(self, rows: list[list[str]]) -> None:
        lw = 150.0
        width = self.right - self.left
        for label, value in rows:
            h = max(13.0, self._measure(value, 9.5, width - lw) + 2)
            self.ensure(h)
            self._text(QRectF(self.left, self.y, lw, h), label, 9.5, colour=QColor(80, 80, 80))
            self._text(QRectF(self.left + lw, self.y, width - lw, h), value, 9.5)
            self.y += h
        self.y += 4

    def _table_geometry(
        self, columns: list[str], rows: list[list[str]]
    ) -> tuple[float, list[float], Callable[..., float]]:
        """Font size, column widths and a row-height function of a table."""
        width = self.right - self.left
        n = len(columns)
        size = 8.5 if n <= 5 else 7.5
        fm = QFontMetricsF(_font(size, True))
        natural = [
            max(
                fm.horizontalAdvance(str(x)) / 10.0
                for x in [columns[i]] + [r[i] for r in rows if i < len(r)]
            )
            + (12.0 if i == 0 else 9.0)
            for i in range(n)
        ]
        widths = _fit_columns(natural, width)

        def row_height(cells: list[str], bold: bool = False) -> float:
            return (
                max(
                    self._measure(str(c), size, w - (9 if i == 0 else 6), bold)
                    for i, (c, w) in enumerate(zip(cells, widths))
                )
                + 5
            )

        return size, widths, row_height

    def table_keep(self, columns: list[str], rows: list[list[str]]) -> float:
        """Height that must fit on the page before the table starts (all of a short table,
        else its header and first row)."""
        _size, _w, row_height = self._table_geometry(columns, rows)
        total = row_height(columns, True) + sum(row_height(r) for r in rows)
        if total <= 0.4 * (self.bottom - _MARGIN_PT):
            return total
        return row_height(columns, True) + (row_height(rows[0]) if rows else 0)

    def table(self, columns: list[str], rows: list[list[str]], statuses: list[Any]) -> None:
        width = self.right - self.left
        size, widths, row_height = self._table_geometry(columns, rows)

        def draw_row(cells: list[str], bold: bool, status: Any) -> None:
            h = row_height(cells, bold)
            if self.p is None or self.y + h > self.bottom:
                self._start()
                if not bold:
                    draw_row(columns, True, None)
            p = self.p
            assert p is not None
            if bold:
                p.fillRect(QRectF(self.left, self.y, width, h), QColor(235, 235, 235))
            elif status in STATUS_COLOURS:
                c = QColor(STATUS_COLOURS[status])
                c.setAlpha(40)
                p.fillRect(QRectF(self.left, self.y, width, h), c)
                p.fillRect(QRectF(self.left, self.y, 3, h), STATUS_COLOURS[status])
            x = self.left
            for i, (cell, w) in enumerate(zip(cells, widths)):
                pad = 7.0 if i == 0 else 4.0  # clear of the status bar
                self._text(QRectF(x + pad, self.y + 2, w - pad - 2, h), str(cell), size, bold)
                x += w
            p.setPen(QPen(QColor(210, 210, 210), 0.4))
            p.drawLine(QPointF(self.left, self.y + h), QPointF(self.right, self.y + h))
            self.y += h

        self.ensure(self.table_keep(columns, rows))  # a short table is kept on one page
        draw_row(columns, True, None)
        for r, st in zip(rows, statuses or [None] * len(rows)):
            draw_row(r, False, st)
        self.y += 6

    def plot_row(self, row: list[dict[str, Any]]) -> None:
        """One or two plots side by side."""
        h = 150.0
        self.ensure(h + 8)
        y0 = self.y
        gap = 16.0
        w = (self.right - self.left - gap) / 2  # a lone plot keeps the half width
        y_end = y0
        for i, s in enumerate(row):
            self.y = y0
            self.plot(s, self.left + i * (w + gap), w)
            y_end = max(y_end, self.y)
        self.y = y_end

    def plot(self, s: dict[str, Any], x0: float | None = None, width: float | None = None) -> None:
        """One metric over the sessions (zones, references, values, dates)."""
        h = 150.0
        self.ensure(h + 8)
        p = self.p
        assert p is not None
        left = self.left if x0 is None else x0
        right = self.right if width is None else left + width
        unit = {"m^2/s^4": "m²/s⁴", "1": "", "stage": ""}.get(s["unit"], s["unit"])
        better = "higher is better" if s["better"] == "higher" else "lower is better"
        if width is not None and width < 400:
            better = "↑ better" if s["better"] == "higher" else "↓ better"
        self._text(
            QRectF(left, self.y, right - left, 14),
            f"{s['label']}" + (f" ({unit})" if unit else "") + f" · {better}",
            10,
            bold=True,
        )
        top = self.y + 16
        box = QRectF(left + 40, top, right - left - 50, h - 40)
        vals = [v for v in s["values"] if v is not None]
        refs = [r["value"] for r in s["references"]]
        cuts = [z[k] for z in s["zones"] for k in ("low", "high") if z[k] is not None]
        lo_v = min(vals + refs + cuts)
        hi_v = max(vals + refs + cuts)
        span = hi_v - lo_v or max(abs(hi_v), 1.0)
        lo_v -= 0.15 * span
        hi_v += 0.25 * span  # room for the value labels above the points
        if min(vals) >= 0 and lo_v < 0:
            lo_v = 0.0

        def ymap(v: float) -> float:
            return box.bottom() - (v - lo_v) / (hi_v - lo_v) * box.height()

        self._plot_frame(s, box, left, (lo_v, hi_v), ymap)
        n = len(s["values"])
        xs = [box.left() + (box.width() * (i + 0.5) / n if n else 0.0) for i in range(n)]
        pts = [QPointF(x, ymap(v)) for x, v in zip(xs, s["values"]) if v is not None]
        p.setPen(QPen(QColor(31, 119, 180), 1.6))
        for a, b in zip(pts[:-1], pts[1:]):
            p.drawLine(a, b)
        p.setBrush(QColor(31, 119, 180))
        for q in pts:
            p.drawEllipse(q, 2.6, 2.6)
        p.setBrush(Qt.BrushStyle.NoBrush)
        dec = int(s.get("decimals", 2 if abs(hi_v) < 10 else 0))
        slot = box.width() / max(n, 1)
        for x, v, d in zip(xs, s["values"], s["dates"]):
            self._text(
                QRectF(x - slot / 2, box.bottom() + 2, slot, 10),
                str(d)[:10] if slot >= 48 else str(d)[5:10],
                7,
                align=Qt.AlignmentFlag.AlignHCenter,
            )
            if v is not None:
                self._text(
                    QRectF(x - 40, ymap(v) - 13, 80, 10),
                    f"{v:.{dec}f}",
                    7,
                    align=Qt.AlignmentFlag.AlignHCenter,
                )
        self.y = top + h - 22
        if s.get("change") is not None:
            ch = s["change"]
            self._text(
                QRectF(left + 40, self.y, right - left - 40, 10),
                f"change since first: {ch:+.{dec}f}"
                + (f" ({s['change_pct']:+.0f} %)" if s.get("change_pct") is not None else ""),
                7.5,
                colour=QColor(60, 60, 60),
            )
        self.y += 14

    def _plot_frame(
        self,
        s: dict[str, Any],
        box: QRectF,
        left: float,
        y_range: tuple[float, float],
        ymap: Callable[[float], float],
    ) -> None:
        """A plot's normative zones, frame, y ticks and reference lines."""
        p = self.p
        assert p is not None
        lo_v, hi_v = y_range
        for z in s["zones"]:
            zl = lo_v if z["low"] is None else max(lo_v, z["low"])
            zh = hi_v if z["high"] is None else min(hi_v, z["high"])
            if zh <= zl:
                continue
            c = QColor(STATUS_COLOURS.get(z["status"], QColor(200, 200, 200)))
            c.setAlpha(_ZONE_ALPHA)
            p.fillRect(QRectF(box.left(), ymap(zh), box.width(), ymap(zl) - ymap(zh)), c)
        p.setPen(QPen(QColor(120, 120, 120), 0.6))
        p.drawRect(box)
        # y ticks
        step = _nice_step((hi_v - lo_v) / 4)
        t = math.ceil(lo_v / step) * step
        while t <= hi_v + 1e-12:
            y = ymap(t)
            p.setPen(QPen(QColor(220, 220, 220), 0.4))
            p.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
            dec = max(0, -int(math.floor(math.log10(step)))) if step < 1 else 0
            self._text(
                QRectF(left, y - 5, 36, 10),
                f"{t:.{dec}f}",
                7,
                align=Qt.AlignmentFlag.AlignRight,
            )
            t += step
        for r in s["references"]:
            y = ymap(r["value"])
            pen = QPen(QColor(60, 60, 60), 0.8, Qt.PenStyle.DashLine)
            p.setPen(pen)
            p.drawLine(QPointF(box.left(), y), QPointF(box.right(), y))
            self._text(QRectF(box.left() + 4, y - 11, box.width() - 8, 10), r["label"], 7)

    def block_height(self, b: dict[str, Any]) -> float:
        """Height a block will take (points), measured like it is drawn."""
        t = b["type"]
        width = self.right - self.left
        if t == "heading":
            size = 13 if b.get("level", 1) == 1 else 11
            return 6 + size + 6 + (2 if b.get("level", 1) == 1 else 0)
        if t == "keyvalues":
            lw = 150.0
            return sum(max(13.0, self._measure(v, 9.5, width - lw) + 2) for _, v in b["rows"]) + 4
        if t == "table":
            _s, _w, row_height = self._table_geometry(b["columns"], b["rows"])
            rows = sum(row_height(r) for r in b["rows"])
            return row_height(b["columns"], True) + rows + 6
        if t == "paragraph":
            return self._measure(b["text"], 7.5 if b.get("small") else 9.5, width) + 2 + 3
        return 158.0  # a row of plots

    def _section(self, blocks: list[dict[str, Any]], i: int) -> float:
        """Height of the section that starts with the heading ``blocks[i]`` (to the next
        top-level heading); plots are two to a row."""
        h, plots = self.block_height(blocks[i]), 0
        for b in blocks[i + 1 :]:
            if b["type"] == "heading" and b.get("level", 1) == 1:
                break
            if b["type"] == "plot":
                plots += 1
                if plots % 2 == 0:
                    continue
            h += self.block_height(b)
        return h

    def _keep(self, block: dict[str, Any] | None) -> float:
        """How much of ``block`` a heading before it must share the page with."""
        if block is None:
            return 26.0
        if block["type"] == "table":
            return self.table_keep(block["columns"], block["rows"])
        if block["type"] == "plot":
            return 158.0
        return 26.0

    def run(self, report: dict[str, Any]) -> None:
        self.title(report["title"], report.get("subtitle", ""), report.get("generated_utc", ""))
        pending: list[dict[str, Any]] = []
        blocks = report["blocks"]
        for i, b in enumerate(blocks):
            nxt = blocks[i + 1] if i + 1 < len(blocks) else None
            t = b["type"]
            if t != "plot" and pending:
                self.plot_row(pending)
                pending = []
            if t == "heading":
                if b.get("level", 1) == 1 and self.p is not None:
                    # a section that fits on a page is not split: its small print (rule,
                    # sources, disclaimer) never lands alone on the next page
                    need = self._section(blocks, i)
                    if self.y + need > self.bottom and need <= self.bottom - _MARGIN_PT:
                        self._start()
                self.heading(b["text"], b.get("level", 1), self._keep(nxt))
            elif t == "keyvalues":
                self.keyvalues(b["rows"])
            elif t == "table":
                self.table(b["columns"], b["rows"], b.get("statuses") or [])
            elif t == "paragraph":
                self.paragraph(b["text"], b.get("small", False))
            elif t == "plot":
                pending.append(b["series"])
                if len(pending) == 2:
                    self.plot_row(pending)
                    pending = []
        if pending:
            self.plot_row(pending)
        if self.p is None:
            self._start()


def _fit_columns(natural: list[float], width: float) -> list[float]:
    """Column widths: narrow columns keep their natural width, wide ones share the rest."""
    if sum(natural) <= width:
        extra = (width - sum(natural)) / len(natural)
        return [w + extra for w in natural]
    fixed: dict[int, float] = {}
    while True:
        free = [i for i in range(len(natural)) if i not in fixed]
        share = (width - sum(fixed.values())) / max(len(free), 1)
        small = [i for i in free if natural[i] <= share]
        if not small:
            break
        for i in small:
            fixed[i] = natural[i]
    rest = width - sum(fixed.values())
    total = sum(natural[i] for i in free) or 1.0
    return [fixed.get(i, rest * natural[i] / total) for i in range(len(natural))]


def _nice_step(raw: float) -> float:
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    e = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * e:
            return m * e
    return 10 * e


def _page_size(page: str) -> QPageSize:
    try:
        return QPageSize(PAGE_SIZES[page.lower()])
    except KeyError:
        raise ValueError(f"page size must be A4 or Letter, got {page!r}") from None


def _footer(report: dict[str, Any]) -> str:
    return f"{report['title']} · {report.get('subtitle', '')}"


def render_pdf(report: dict[str, Any], page: str = "a4") -> tuple[bytes, int]:
    """The PDF of ``report`` in memory: ``(pdf bytes, number of pages)``.

    Raises
    ------
    OSError
        If Qt's PDF writer produced no PDF (its failures are otherwise silent).
    """
    size = _page_size(page)
    buf = QBuffer()
    buf.open(QIODevice.OpenModeFlag.WriteOnly)
    writer = QPdfWriter(buf)
    writer.setResolution(300)
    writer.setPageSize(size)
    writer.setPageMargins(QMarginsF(0, 0, 0, 0), QPageLayout.Unit.Point)
    writer.setTitle(report["title"])
    writer.setCreator("Poise")
    painter = QPainter()
    scale = 300 / 72.0

    def begin(new: bool) -> QPainter:
        if new:
            if not writer.newPage():
                raise OSError("the PDF writer could not start a new page")
        else:
            if not painter.begin(writer):
                raise OSError("the PDF writer could not start")
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.scale(scale, scale)
        return painter

    layout = _Layout(size.size(QPageSize.Unit.Point), begin, _footer(report))
    try:
        layout.run(report)
    finally:
        ended = painter.end() if painter.isActive() else False
    data = bytes(buf.data().data())
    buf.close()
    if not ended or not data.startswith(b"%PDF-") or b"%%EOF" not in data[-64:]:
        raise OSError("the PDF writer did not produce a complete PDF")
    return data, layout.page


def write_pdf(
    report: dict[str, Any],
    path: str | Path,
    page: str = "a4",
    *,
    inputs: tuple = (),
    force: bool = True,
) -> int:
    """Write ``report`` as a PDF; returns the number of pages.

    The PDF is rendered in memory and written with :func:`poise.outputs.write_atomically`
    (a temporary file renamed into place; a new file is user-only, a replaced one keeps
    its mode; none of ``inputs`` is ever overwritten; an existing file only with
    ``force``, which is the default for the GUI, whose file dialog has asked).
    """
    from poise.outputs import write_atomically

    data, pages = render_pdf(report, page)
    with write_atomically(path, "wb", inputs=inputs, force=force) as fh:
        fh.write(data)
    return pages

"""Results page: each measure, each value against its norm, the fall-risk factors."""

from __future__ import annotations

import datetime as _dt
import json
import math
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.widgets import styled_label
from poise.protocols import PROTOCOLS
from poise.session import Session

#: Test key -> the name the therapist knows.
TEST_TITLES = {k: p.title for k, p in PROTOCOLS.items()}

STATUS_COLOURS = {
    "normal": "#d8f0d8",
    "elevated": "#fde9c8",
    "at_risk": "#f8cfcf",
    "not_rated": "#eeeeee",
    "invalid": "#eeeeee",
}

#: How a status reads on the page.
STATUS_TEXT = {
    "normal": "normal",
    "elevated": "elevated",
    "at_risk": "AT RISK",
    "not_rated": "not rated",
    "invalid": "not valid",
}

#: unit suffixes of result keys and how to show them
UNITS = (
    ("_m2ps4", "m²/s⁴"),
    ("_m2ps5", "m²/s⁵"),
    ("_m2ps6", "m²/s⁶"),
    ("_mps3", "m/s³"),
    ("_mps2", "m/s²"),
    ("_mps", "m/s"),
    ("_spm", "steps/min"),
    ("_hz", "Hz"),
    ("_ms", "ms"),
    ("_deg", "°"),
    ("_dps", "°/s"),
    ("_pct", "%"),
    ("_s", "s"),
    ("_m", "m"),
)


def split_unit(key: str) -> tuple[str, str]:
    """``"total_time_s"`` -> ``("Total time", "s")``."""
    for suffix, unit in UNITS:
        if key.endswith(suffix):
            return key[: -len(suffix)].replace("_", " ").capitalize(), unit
    return key.replace("_", " ").capitalize(), ""


def format_value(value: Any) -> str:
    """A compact human form of a JSON value."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            return "—"
        a = abs(value)
        return f"{value:.3g}" if a < 0.01 or a >= 1000 else f"{value:.2f}"
    if isinstance(value, list):
        if all(isinstance(v, int | float) or v is None for v in value):
            return ", ".join(format_value(v) for v in value)
        return f"{len(value)} item(s)"
    if isinstance(value, dict):
        return json.dumps(value)[:80]
    return str(value)


def format_thresholds(th: Any) -> str:
    """Thresholds of a fall-risk factor as text."""
    if not th:
        return "—"
    if isinstance(th, dict):
        return "; ".join(f"{k}: {format_value(v)}" for k, v in th.items())
    if isinstance(th, list):
        parts = []
        for t in th:
            if isinstance(t, dict):
                op = t.get("op") or t.get("comparison") or ""
                val = format_value(t.get("value"))
                lvl = t.get("status") or t.get("level") or ""
                text = " ".join(p for p in (f"{lvl}:" if lvl else "", op, val) if p)
                parts.append(text.replace("_", " "))
            else:
                parts.append(format_value(t))
        return "; ".join(parts)
    return format_value(th)


def differences_text(diffs: list[dict[str, Any]], most: int = 6) -> str:
    """What differs between a saved result and its replay: ``key: saved X, now Y``."""
    from poise.reports import measure_label

    if not diffs:
        return "Differs from the saved result."
    parts = []
    for d in diffs[:most]:
        key = str(d.get("key", ""))
        name = key if " " in key or "." in key or "[" in key else measure_label(key)
        parts.append(
            f"{name}: saved {format_value(d.get('saved'))}, now {format_value(d.get('now'))}"
        )
    more = f"; and {len(diffs) - most} more" if len(diffs) > most else ""
    return (
        "<span style='color:#d62728'><b>Differs from the saved result</b> — "
        + "; ".join(parts)
        + more
        + "</span>"
    )


class ResultsPage(QWidget):
    """Shows the session's latest test result (live or recomputed in replay)."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        lay = QVBoxLayout(self)
        self.title = styled_label(
            "font-size: 18pt; font-weight: 600;", "No results yet: run a guided test.", wrap=True
        )
        self.when = styled_label("font-size: 11pt; color: #444;", wrap=True)
        self.validity = styled_label("font-size: 12pt;", wrap=True)
        self.notes = styled_label("color: #b35c00; font-size: 11pt;", wrap=True)
        self.measures = QTableWidget(0, 3)
        self.measures.setHorizontalHeaderLabels(["Measure", "Value", "Unit"])
        self.factors = QTableWidget(0, 5)
        self.factors.setHorizontalHeaderLabels(
            ["Factor", "Value", "Norm / threshold", "Status", "Source"]
        )
        for t in (self.measures, self.factors):
            t.verticalHeader().setVisible(False)
            t.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
            t.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            t.horizontalHeader().setStretchLastSection(True)
            t.setWordWrap(True)
            # rows follow their wrapped text as the columns settle
            t.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
            t.setAlternatingRowColors(True)
        self.level = styled_label("font-size: 13pt;", wrap=True)
        self.disclaimer = QLabel(
            "<i>This summary supports the clinician's judgement; it is not a diagnosis.</i>"
        )
        self.disclaimer.setWordWrap(True)
        self.saved = styled_label("color: #555;")
        self.back_btn = QPushButton("Back to tests")
        lay.addWidget(self.title)
        lay.addWidget(self.when)
        lay.addWidget(self.validity)
        lay.addWidget(self.notes)
        self.factors_title = QLabel("<b>Against norms and fall-risk factors</b>")
        self.measures_title = QLabel("<b>Measures</b>")
        lay.addWidget(self.factors_title)
        lay.addWidget(self.factors, 2)
        lay.addWidget(self.level)
        lay.addWidget(self.disclaimer)
        lay.addWidget(self.measures_title)
        lay.addWidget(self.measures, 3)
        self.empty_hint = QLabel(
            "Pick a test on the Guided tests page (F3) and press Start (F5). When it ends, "
            "its values appear here against their norms, with the fall-risk factors."
        )
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setStyleSheet("font-size: 12pt; color: #555;")
        lay.insertWidget(1, self.empty_hint)
        self._tables = (self.factors_title, self.factors, self.measures_title, self.measures)
        for w in self._tables:
            w.setVisible(False)
        lay.addStretch(0)
        lay.addWidget(self.saved)
        lay.addWidget(self.back_btn, 0, Qt.AlignmentFlag.AlignRight)
        self.result: dict | None = None
        session.events.test_result.connect(self.show_result)

    def show_result(self, out: dict) -> None:
        """Fill the page from a session result (``Session.events.test_result``)."""
        from poise.reports import headline

        self.result = out
        self.empty_hint.setVisible(False)
        for w in self._tables:
            w.setVisible(True)
        res = out.get("result") or {}
        title = out.get("title", out.get("test"))
        main = headline(str(out.get("test")), res) if not out.get("error") else ""
        self.title.setText(f"{title}: {main}" if main else str(title))
        self.when.setText(self._when_text(out))
        if out.get("error"):
            self.validity.setText(f"<span style='color:#d62728'>{out['error']}</span>")
        else:
            v = res.get("validity") or {}
            if v.get("valid", True):
                self.validity.setText("<span style='color:#2ca02c'>● Valid result</span>")
            else:
                self.validity.setText(
                    f"<span style='color:#d62728'>● Not valid: {v.get('reason') or v.get('code')}</span>"
                )
        notes = []
        patient = out.get("patient") or {}
        if patient.get("anonymous"):
            notes.append(
                "Anonymous session: norms that need age or sex (chair stands, the TUG age mean, "
                "the 6-minute walk) are not rated."
            )
        elif not out.get("demographics"):
            notes.append("No patient data: norms that need age or sex are not rated.")
        run = out.get("run") or {}
        for g in run.get("gaps") or []:
            notes.append(
                f"Sensor {g['sensor']} lost {g['samples']} samples "
                f"({g['start_s']:.1f}–{g['end_s']:.1f} s) during this test."
            )
        for m in run.get("markers") or []:
            label = str(m.get("kind") or m.get("marker") or "").replace("_", " ")
            notes.append(f"Marker at {m['t_s']:.1f} s: {label} {m.get('text') or ''}".strip())
        if run.get("ended_by") and run.get("ended_by") not in ("completed", "time"):
            notes.append(f"Test ended by: {str(run['ended_by']).replace('_', ' ')}")
        if "matches_saved" in out:
            notes.append(
                "<span style='color:#2ca02c'>Same as saved: recomputed from the recording with "
                "the patient data saved with the result.</span>"
                if out["matches_saved"]
                else differences_text(out.get("differences") or [])
            )
        self.notes.setText("<br>".join(notes))
        self._fill_measures(res)
        self._fill_factors(out.get("fall_risk") or {}, out.get("test"))
        path = self.session.recording_path
        self.saved.setText(f"Saved in the recording {path}" if path else "")

    @staticmethod
    def _when_text(out: dict) -> str:
        """When the test was run, and for whom."""
        from gui.live_view import format_clock

        bits = []
        utc = out.get("run_utc")
        if utc:
            try:
                local = _dt.datetime.fromisoformat(str(utc)).astimezone()
                bits.append(f"Run at {local:%H:%M} on {local:%Y-%m-%d}")
            except ValueError:
                pass
        span = f"{format_clock(out['start_s'])}–{format_clock(out['end_s'])} into the session"
        bits.append(span if bits else f"Run {span}")
        patient = out.get("patient") or {}
        demo = out.get("demographics") or {}
        if patient.get("pseudonym"):
            who = [str(patient["pseudonym"])]
            if demo.get("age") is not None:
                who.append(f"{int(demo['age'])} y")
            if demo.get("sex"):
                who.append({"f": "female", "m": "male"}.get(str(demo["sex"]), str(demo["sex"])))
            bits.append("patient " + ", ".join(who))
        elif patient.get("anonymous"):
            bits.append("anonymous patient")
        if out.get("source") == "replay":
            bits.append("recomputed from the recording")
        return " · ".join(bits)

    def _fill_measures(self, res: dict) -> None:
        rows = [
            (k, v)
            for k, v in res.items()
            if k not in ("test", "validity")
            and not isinstance(v, dict)
            and not (isinstance(v, list) and v and isinstance(v[0], dict))
        ]
        from poise.reports import LABEL_CONTEXT

        folded = {LABEL_CONTEXT[k] for k, _ in rows if k in LABEL_CONTEXT}
        rows = [(k, v) for k, v in rows if k not in folded]  # shown with the value they qualify
        self.measures.setRowCount(len(rows))
        for i, (k, v) in enumerate(rows):
            name, unit = split_unit(k)
            if res.get(LABEL_CONTEXT.get(k, "")):
                name += f" ({res[LABEL_CONTEXT[k]]})"
            for j, text in enumerate((name, format_value(v), unit)):
                self.measures.setItem(i, j, QTableWidgetItem(text))

    def _fill_factors(self, fr: dict, test: str | None) -> None:
        factors = list(fr.get("factors") or [])
        factors.sort(key=lambda f: f.get("test") != test)
        self.factors.setRowCount(len(factors))
        for i, f in enumerate(factors):
            value = format_value(f.get("value"))
            if f.get("unit"):
                value += f" {f['unit']}"
            cells = (
                f.get("label") or f.get("key", ""),
                value,
                format_thresholds(f.get("thresholds")),
                STATUS_TEXT.get(f.get("status", ""), f.get("status", "")),
                f.get("source", ""),
            )
            colour = QColor(STATUS_COLOURS.get(f.get("status", ""), "#ffffff"))
            for j, text in enumerate(cells):
                item = QTableWidgetItem(str(text))
                item.setToolTip(f.get("note") or str(text))
                if j == 3:
                    item.setBackground(colour)
                    font = item.font()
                    font.setBold(f.get("status") in ("at_risk", "elevated"))
                    item.setFont(font)
                self.factors.setItem(i, j, item)
        if fr.get("error"):
            self.level.setText(f"Fall-risk summary unavailable: {fr['error']}")
        elif fr:
            tests = ", ".join(TEST_TITLES.get(t, t) for t in fr.get("tests_used") or [])
            self.level.setText(
                f"<b>Session fall risk: {str(fr.get('level', '')).replace('_', ' ')}</b>"
                f" — {fr.get('level_reason') or fr.get('rule') or ''}"
                + (f" <span style='color:#555'>(tests so far: {tests})</span>" if tests else "")
            )
            if fr.get("disclaimer"):
                self.disclaimer.setText(f"<i>{fr['disclaimer']}</i>")
        else:
            self.level.setText("")

"""Sensors panel: connect sensors (or demo sensors), label placements, watch link health.

Each card shows the sensor's kind and model (a Poise wearable, a Polar Verity Sense, a
MetaMotion, ... as its driver reports it, or as the recording says when replaying). The
demo control starts virtual twins of any supported kind: pick the kind and how many.
"""

from __future__ import annotations

import re

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from gui.widgets import styled_label
from poise.session import PLACEMENTS, SensorInfo, Session
from poise.sources import demo_choices, kind_label

STATE_COLOURS = {
    "streaming": "#2ca02c",
    "replay": "#1f77b4",
    "connecting": "#ff7f0e",
    "scanning": "#ff7f0e",
    "reconnecting": "#ff7f0e",
    "disconnected": "#d62728",
    "failed": "#d62728",
    "ended": "#777777",
}
#: What each state means for the therapist (the card's text and tooltip).
STATE_TEXT = {
    "streaming": ("streaming", "Data arrive normally."),
    "replay": ("replay", "Data come from a recording."),
    "connecting": ("connecting…", "Connecting to the sensor."),
    "scanning": ("searching…", "Looking for the sensor: switch it on and bring it close."),
    "reconnecting": (
        "reconnecting…",
        "Poise reconnects by itself; the missing data are marked in the recording.",
    ),
    "disconnected": ("disconnected", "Check the sensor is on and close, then scan again."),
    "failed": (
        "FAILED",
        "Check that the sensor is on and charged, then scan again.",
    ),
    "ended": ("ended", "The session was ended."),
}
CARD_TINT = {"reconnecting": "#fff3e0", "disconnected": "#fdecea", "failed": "#fdecea"}
LOW_BATTERY_PCT = 20.0
LOSS_WARN_PCT, LOSS_BAD_PCT = 1.0, 5.0


def device_text(info: SensorInfo) -> str:
    """``"Polar Verity Sense (virtual twin) · firmware 2.2.10"``: what a card says about
    the device (its model as the driver read it, else the kind's name)."""
    extra = info.info or {}
    kind = str(extra.get("kind") or "")
    model = str(extra.get("model") or "") or (kind_label(kind) if kind else "")
    parts = [model] if model else []
    if extra.get("firmware"):
        parts.append(f"firmware {extra['firmware']}")
    return " · ".join(parts)


class SensorCard(QFrame):
    """One sensor: name, placement, state, battery, loss, gaps."""

    def __init__(self, session: Session, info: SensorInfo, parent: QWidget | None = None):
        super().__init__(parent)
        self.session = session
        self.sensor_id = info.id
        self.setFrameShape(QFrame.Shape.StyledPanel)
        lay = QGridLayout(self)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setVerticalSpacing(2)
        self.name = QLabel(f"<b>{info.name or info.id}</b>")
        self.device = styled_label("color: #555;", wrap=True)
        self.device.setToolTip("Kind and model of the sensor (what its driver reports)")
        self.state = QLabel()
        self.placement = QComboBox()
        for key, label in PLACEMENTS.items():
            self.placement.addItem(label, key)
        self.placement.setToolTip("Where the sensor is worn")
        self.link = styled_label("color: #444;", wrap=True)
        self.link.setTextFormat(Qt.TextFormat.RichText)
        self.problem = styled_label("color: #b71c1c;", wrap=True)
        self.problem.hide()
        lay.addWidget(self.name, 0, 0)
        lay.addWidget(self.state, 0, 1)
        lay.addWidget(self.device, 1, 0, 1, 2)
        lay.addWidget(self.placement, 2, 0, 1, 2)
        lay.addWidget(self.link, 3, 0, 1, 2)
        lay.addWidget(self.problem, 4, 0, 1, 2)
        self.setObjectName("sensorCard")
        self.placement.currentIndexChanged.connect(self._placement_changed)
        self.update_info(info)

    def _placement_changed(self, _i: int) -> None:
        key = self.placement.currentData()
        info = self.session.sensors.get(self.sensor_id)
        if info is not None and key != info.placement:
            self.session.set_placement(self.sensor_id, key)

    def update_info(self, info: SensorInfo) -> None:
        """Show the latest state and statistics."""
        device = device_text(info)
        self.device.setText(device)
        self.device.setVisible(bool(device))
        colour = STATE_COLOURS.get(info.state, "#333")
        text, tip = STATE_TEXT.get(info.state, (info.state, ""))
        self.state.setText(f"<span style='color:{colour}; font-weight:600'>● {text}</span>")
        self.state.setToolTip(tip)
        tint = CARD_TINT.get(info.state)
        if tint != getattr(self, "_tint", None):  # restyle only on a change (stats: 1/s)
            self._tint = tint
            self.setStyleSheet(f"QFrame#sensorCard {{ background: {tint}; }}" if tint else "")
        problem = ""
        if info.state in ("reconnecting", "disconnected", "failed"):
            reason = (info.info or {}).get("reason")
            reason = str(reason or "").strip().rstrip(".")
            problem = f"{reason[:1].upper()}{reason[1:]}. {tip}" if reason else tip
        self.problem.setText(problem)
        self.problem.setVisible(bool(problem))
        i = self.placement.findData(info.placement)
        if i >= 0 and i != self.placement.currentIndex():
            self.placement.blockSignals(True)
            self.placement.setCurrentIndex(i)
            self.placement.blockSignals(False)
        parts = [f"{info.sampling_rate_hz:g} Hz"]
        if info.battery_pct is not None:
            b = f"battery {info.battery_pct:.0f} %"
            if info.battery_pct < LOW_BATTERY_PCT:
                b = f"<span style='color:#d62728; font-weight:600'>{b} (low: charge)</span>"
            parts.append(b)
        if info.rssi_dbm is not None:
            parts.append(f"signal {info.rssi_dbm:.0f} dBm")
        loss = f"loss {info.loss_pct:.1f} %"
        if info.loss_pct >= LOSS_BAD_PCT:
            loss = f"<span style='color:#d62728; font-weight:600'>{loss}</span>"
        elif info.loss_pct >= LOSS_WARN_PCT:
            loss = f"<span style='color:#b35c00'>{loss}</span>"
        parts.append(loss)
        if info.gaps:
            lost_s = info.gap_samples / max(info.sampling_rate_hz, 1.0)
            parts.append(
                f"<span style='color:#b35c00'>{len(info.gaps)} gap(s): "
                f"{info.gap_samples} samples ({lost_s:.1f} s) missing</span>"
            )
        # keep each item on one line ("-45 dBm", "loss 0.0 %"); wrap between items
        self.link.setText(
            " · ".join(p if "<span" in p else p.replace(" ", "&nbsp;") for p in parts)
        )
        self.link.setToolTip(
            "Sampling rate · battery · radio signal (RSSI) · packets lost · gaps in the data"
        )


class SensorsPanel(QWidget):
    """Connect, label and monitor up to four sensors.

    Signals
    -------
    demo_requested(object)
        The user asked for demo sensors: ``N`` Poise wearables (int) or a ``KIND:N,...``
        spec of virtual twins (str).
    scan_requested()
        The user asked to scan for real sensors.
    open_requested()
        The user wants to open a recording.
    """

    demo_requested = Signal(object)
    scan_requested = Signal()
    open_requested = Signal()

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.session = session
        self.setMinimumWidth(250)
        self.setMaximumWidth(300)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        title = styled_label("font-size: 13pt;", "<b>Sensors</b>")
        lay.addWidget(title)
        self.scan_btn = QPushButton("Scan for sensors")
        self.scan_btn.clicked.connect(self.scan_requested.emit)
        lay.addWidget(self.scan_btn)
        self.demo_kind = QComboBox()
        for label, spec in demo_choices():
            self.demo_kind.addItem(label, spec)
        self.demo_kind.setToolTip(
            "Kind of virtual sensor: each speaks its vendor's protocol through the full "
            "Bluetooth stack"
        )
        self.demo_kind.currentIndexChanged.connect(self._demo_kind_changed)
        lay.addWidget(self.demo_kind)
        row = QHBoxLayout()
        self.demo_count = QSpinBox()
        self.demo_count.setRange(1, 4)
        self.demo_count.setValue(1)
        self.demo_count.setToolTip("Number of demo sensors")
        self.demo_btn = QPushButton("Demo sensors")
        self.demo_btn.setToolTip("Virtual sensors through the full Bluetooth stack")
        self.demo_btn.clicked.connect(lambda: self.demo_requested.emit(self.demo_spec()))
        row.addWidget(self.demo_count)
        row.addWidget(self.demo_btn, 1)
        lay.addLayout(row)
        self.open_btn = QPushButton("Open recording…")
        self.open_btn.clicked.connect(self.open_requested.emit)
        lay.addWidget(self.open_btn)
        self.source_label = styled_label("color: #555;", "No source", wrap=True)
        lay.addWidget(self.source_label)
        self.cards_box = QVBoxLayout()
        lay.addLayout(self.cards_box)
        lay.addStretch(1)
        self.warning = styled_label("color: #b35c00;", wrap=True)
        lay.addWidget(self.warning)
        self.cards: dict[str, SensorCard] = {}
        ev = session.events
        ev.sensor_added.connect(self._add)
        ev.sensor_state.connect(self._update)
        ev.sensor_stats.connect(self._update)
        ev.source_changed.connect(self._source_changed)
        ev.warning.connect(self.set_warning)
        for info in list(session.sensors.values()):
            self._add(info)

    def demo_spec(self) -> int | str:
        """What the demo control asks for: ``N`` Poise wearables or a ``KIND:N,...`` spec."""
        spec = str(self.demo_kind.currentData())
        if ":" in spec:
            return spec
        n = self.demo_count.value()
        return n if spec == "poise" else f"{spec}:{n}"

    def _demo_kind_changed(self, _i: int) -> None:
        self.demo_count.setEnabled(":" not in str(self.demo_kind.currentData()))

    def set_warning(self, text: str) -> None:
        """Show the latest warning (wrapped in full: its height follows the text)."""
        self.warning.setText(text)
        w = max(50, self.warning.width() or self.width() - 8)
        self.warning.setMinimumHeight(self.warning.heightForWidth(w) if text else 0)

    def _source_changed(self, kind: str) -> None:
        for card in self.cards.values():
            card.setParent(None)
            card.deleteLater()
        self.cards.clear()
        self.set_warning("")
        src = self.session.source
        desc = "Session ended." if kind == "none" else str(getattr(src, "description", kind))
        # a long path would widen the panel: show the file name, the full text on hover
        self.source_label.setText(re.sub(r"(?:\S*/)+(\S+)", r"\1", desc))
        self.source_label.setToolTip(desc)

    def _add(self, info: SensorInfo) -> None:
        if info.id in self.cards:
            return
        card = SensorCard(self.session, info)
        self.cards[info.id] = card
        self.cards_box.addWidget(card)

    def _update(self, info: SensorInfo) -> None:
        card = self.cards.get(info.id)
        if card is None:
            self._add(info)
        else:
            card.update_info(info)

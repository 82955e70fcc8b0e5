"""Replay controls: play/pause, seek, speed 0.5x-10x (drives :class:`poise.player.Player`)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QStyle,
    QStyleOptionSlider,
    QWidget,
)

from gui.live_view import format_clock
from gui.widgets import TimedWhileShown
from poise.session import Session

SPEEDS = (0.5, 1.0, 2.0, 5.0, 10.0)


class SeekSlider(QSlider):
    """A slider that jumps to where the groove is clicked (a plain QSlider steps a page)."""

    def mousePressEvent(self, event) -> None:  # noqa: N802 (Qt name)
        """A left click beside the handle moves the handle there at once."""
        if event.button() == Qt.MouseButton.LeftButton and self.maximum() > self.minimum():
            opt = QStyleOptionSlider()
            self.initStyleOption(opt)
            style = self.style()
            handle = style.subControlRect(
                QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderHandle, self
            )
            pos = event.position().toPoint()
            if not handle.contains(pos):
                groove = style.subControlRect(
                    QStyle.ComplexControl.CC_Slider, opt, QStyle.SubControl.SC_SliderGroove, self
                )
                span = max(1, groove.width() - handle.width())
                x = pos.x() - groove.x() - handle.width() // 2
                value = QStyle.sliderValueFromPosition(
                    self.minimum(), self.maximum(), min(max(x, 0), span), span, opt.upsideDown
                )
                self.setValue(value)
                event.accept()
                return
        super().mousePressEvent(event)


class ReplayBar(TimedWhileShown):
    """Shown while the session replays a recording."""

    def __init__(self, session: Session, parent: QWidget | None = None) -> None:
        super().__init__(100, self.refresh, parent)  # follows the player while shown
        self.session = session
        lay = QHBoxLayout(self)
        lay.setContentsMargins(6, 2, 6, 2)
        self.play_btn = QPushButton("Play (P)")
        self.play_btn.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.play_btn.clicked.connect(self.toggle)
        self.back_btn = QPushButton("−10 s")
        self.fwd_btn = QPushButton("+10 s")
        for b, d in ((self.back_btn, -10.0), (self.fwd_btn, 10.0)):
            b.setFocusPolicy(Qt.FocusPolicy.NoFocus)
            b.setToolTip("Jump back" if d < 0 else "Jump ahead")
            b.clicked.connect(lambda _c=False, d=d: self.skip(d))
        self.slider = SeekSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, 1000)
        self.slider.setPageStep(50)
        self.slider.setToolTip("Drag or click to seek")
        self._following = False  # True while refresh() moves the slider
        self.slider.sliderReleased.connect(self._seek_to_slider)
        # a click on the groove or the arrow keys move the slider without a drag: seek too
        self.slider.valueChanged.connect(self._slider_moved)
        self.position = QLabel("0:00 / 0:00")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}×", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.speed.currentIndexChanged.connect(self._speed_changed)
        lay.addWidget(QLabel("<b>Replay</b>"))
        lay.addWidget(self.play_btn)
        lay.addWidget(self.back_btn)
        lay.addWidget(self.slider, 1)
        lay.addWidget(self.fwd_btn)
        lay.addWidget(self.position)
        lay.addWidget(QLabel("Speed"))
        lay.addWidget(self.speed)
        session.events.source_changed.connect(self._source_changed)
        self.setVisible(session.kind == "replay")

    def _source_changed(self, kind: str) -> None:
        self.setVisible(kind == "replay")
        self._show_speed()

    def current_speed(self) -> float:
        """The speed the box shows."""
        return float(self.speed.currentData())

    def _show_speed(self) -> None:
        """The box shows the player's speed (a newly opened file keeps its own)."""
        p = self.player
        if p is None:
            return
        i = min(range(len(SPEEDS)), key=lambda k: abs(SPEEDS[k] - p.speed))
        if i != self.speed.currentIndex():
            self.speed.blockSignals(True)
            self.speed.setCurrentIndex(i)
            self.speed.blockSignals(False)

    @property
    def player(self):
        """The session's player (``None`` when not replaying)."""
        return getattr(self.session.source, "player", None)

    def toggle(self) -> None:
        """Play or pause."""
        p = self.player
        if p is None:
            return
        if p.playing:
            p.pause()
        else:
            p.play()
        self.refresh()

    def seek(self, position_s: float) -> None:
        """Jump to a position."""
        if self.player is not None:
            self.player.seek(position_s)

    def skip(self, delta_s: float) -> None:
        """Jump ``delta_s`` seconds (clipped to the recording)."""
        p = self.player
        if p is not None:
            p.seek(min(max(0.0, p.position_s + delta_s), p.duration_s))
            self.refresh()

    def _slider_moved(self, value: int) -> None:
        p = self.player
        if p is None or self._following:
            return
        if self.slider.isSliderDown():  # dragging: show where it will go, seek on release
            self.position.setText(
                f"{format_clock(value / 1000 * p.duration_s)} / {format_clock(p.duration_s)}"
            )
            return
        p.seek(value / 1000 * p.duration_s)

    def set_speed(self, speed: float) -> None:
        """Set the replay speed (one of :data:`SPEEDS`)."""
        self.speed.setCurrentIndex(SPEEDS.index(speed))

    def _speed_changed(self, _i: int) -> None:
        if self.player is not None:
            self.player.set_speed(float(self.speed.currentData()))

    def _seek_to_slider(self) -> None:
        p = self.player
        if p is not None:
            p.seek(self.slider.value() / 1000 * p.duration_s)

    def refresh(self) -> None:
        """Follow the player's position."""
        p = self.player
        if p is None:
            return
        self.play_btn.setText("Pause (P)" if p.playing else "Play (P)")
        self._show_speed()
        if self.slider.isSliderDown():
            return
        if p.duration_s > 0:
            self._following = True
            try:
                self.slider.setValue(int(1000 * p.position_s / p.duration_s))
            finally:
                self._following = False
        self.position.setText(f"{format_clock(p.position_s)} / {format_clock(p.duration_s)}")

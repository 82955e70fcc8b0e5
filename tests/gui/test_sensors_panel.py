"""The sensors panel with sensors of several kinds: each card names its kind and model,
the demo control starts virtual twins of any kind (offscreen, pytest-qt).

Screenshot: tests/artifacts/screenshots/sensors_mixed_kinds.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pytestqt")

import gui  # noqa: E402,F401  I001 (applies the PySide6 work-around first)
from gui.app import save_screenshot  # noqa: E402
from gui.sensors_panel import device_text  # noqa: E402
from poise.session import SensorInfo  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


def test_demo_control_starts_twins_of_every_kind_and_cards_name_them(window, qtbot) -> None:
    panel = window.sensors_panel
    labels = [panel.demo_kind.itemText(i) for i in range(panel.demo_kind.count())]
    assert "Polar Verity Sense" in labels and "MbientLab MetaMotion" in labels
    # the MicroPython firmware's twin is offered on its own, named by its driver and kind
    assert "Poise IMU v1 (firmware)" in labels
    # one kind, two of them
    panel.demo_kind.setCurrentIndex(labels.index("MbientLab MetaMotion"))
    panel.demo_count.setValue(2)
    assert panel.demo_spec() == "metamotion:2"
    # the mix: one of each (the count does not apply)
    panel.demo_kind.setCurrentIndex(labels.index("Mixed: one of each"))
    assert not panel.demo_count.isEnabled()
    spec = panel.demo_spec()
    assert set(spec.split(",")) == {"poise:1", "polar-verity-sense:1", "metamotion:1"}
    s = window.session
    panel.demo_btn.click()
    qtbot.waitUntil(lambda: len(s.sensors) == 3, timeout=5000)
    qtbot.waitUntil(
        lambda: all(i.state == "streaming" and i.samples > 100 for i in s.sensors.values()),
        timeout=20000,
    )
    # models arrive with the link statistics (once a second)
    qtbot.waitUntil(
        lambda: (
            all(c.device.text() for c in panel.cards.values())
            and any("Polar Verity Sense" in c.device.text() for c in panel.cards.values())
        ),
        timeout=5000,
    )
    texts = sorted(c.device.text() for c in panel.cards.values())
    assert any(t.startswith("MetaMotion S") for t in texts), texts
    assert any(t.startswith("Poise IMU v1") for t in texts), texts
    rates = {i.info.get("kind"): i.sampling_rate_hz for i in s.sensors.values()}
    assert rates == {"poise": 100, "polar-verity-sense": 104, "metamotion": 100}
    polar = next(c for c in panel.cards.values() if "Polar" in c.device.text())
    assert polar.link.text().startswith("104&nbsp;Hz")
    save_screenshot(window, SHOTS / "sensors_mixed_kinds.png")
    window.end_session()


def test_card_text_before_and_after_the_device_information() -> None:
    info = SensorInfo("s1", info={"kind": "polar-verity-sense"})
    assert device_text(info) == "Polar Verity Sense"
    info.info.update(model="Polar Verity Sense", firmware="2.2.10")
    assert device_text(info) == "Polar Verity Sense · firmware 2.2.10"
    assert device_text(SensorInfo("s2")) == ""

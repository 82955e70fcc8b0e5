"""The one placement vocabulary (sensors.placements)."""

from __future__ import annotations

import pytest

from sensors.placements import (
    DEFAULT_ORDER,
    PLACEMENTS,
    is_lower_back,
    normalise_placement,
    placement_label,
)


@pytest.mark.parametrize(
    "text", ["lower-back", "lower_back", "Lower Back", " LOWER-BACK ", "lowerback", "L5", "lumbar"]
)
def test_every_spelling_of_the_lower_back_is_one_key(text: str) -> None:
    assert normalise_placement(text) == "lower-back" and is_lower_back(text)


def test_keys_labels_and_unknown_places() -> None:
    assert all(normalise_placement(k) == k for k in PLACEMENTS)
    assert set(DEFAULT_ORDER) <= set(PLACEMENTS)
    assert normalise_placement("Left_Shank") == "left-shank"
    assert placement_label("right_shank") == "Right shank"
    assert normalise_placement("wrist") == "wrist" and placement_label("wrist") == "wrist"
    assert normalise_placement(None) == "" and placement_label(None) == "unplaced"
    assert not is_lower_back("sternum") and not is_lower_back(None)

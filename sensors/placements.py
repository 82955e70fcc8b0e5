"""Where a sensor is worn: the one vocabulary of placements.

Placements are written with hyphens (``"lower-back"``), as in recording headers, the CLI
(``--placement``) and CSV imports. :func:`normalise_placement` turns any spelling Poise
has met into that key (underscores, spaces, capitals, and the names used for the lower
back in other tools and data sets: ``L5``, ``lumbar``, ``back``, ``pelvis``), so code
compares keys only.

* :data:`PLACEMENTS`: key -> the label people read;
* :data:`DEFAULT_ORDER`: where the first, second ... sensor goes when nothing is said;
* :data:`LOWER_BACK`: the placement the analyses need (the sensor at L5).
"""

from __future__ import annotations

__all__ = [
    "DEFAULT_ORDER",
    "LOWER_BACK",
    "PLACEMENTS",
    "is_lower_back",
    "normalise_placement",
    "placement_label",
]

LOWER_BACK = "lower-back"
#: Placement key -> label (the GUI's choices).
PLACEMENTS: dict[str, str] = {
    LOWER_BACK: "Lower back (L5)",
    "left-shank": "Left shank",
    "right-shank": "Right shank",
    "sternum": "Sternum",
    "left-foot": "Left foot",
    "right-foot": "Right foot",
}
#: Placements of the first to fourth sensor when none is given.
DEFAULT_ORDER: tuple[str, ...] = (LOWER_BACK, "left-shank", "right-shank", "sternum")
#: Other names of the lower-back position (after folding case, ``_`` and spaces to ``-``).
_ALIASES = {
    "lowerback": LOWER_BACK,
    "l5": LOWER_BACK,
    "lumbar": LOWER_BACK,
    "back": LOWER_BACK,
    "pelvis": LOWER_BACK,
}


def normalise_placement(placement: str | None) -> str:
    """The placement key of any spelling (``"Lower_Back"``, ``"L5"`` -> ``"lower-back"``).

    Unknown placements keep their (folded) text; ``None`` and blanks give ``""``.
    """
    key = "-".join(str(placement or "").strip().lower().replace("_", " ").split())
    return _ALIASES.get(key, key)


def is_lower_back(placement: str | None) -> bool:
    """Whether a placement, in any spelling, is the lower back (L5)."""
    return normalise_placement(placement) == LOWER_BACK


def placement_label(placement: str | None, unknown: str = "unplaced") -> str:
    """The label of a placement (its own text when Poise has no label for it)."""
    key = normalise_placement(placement)
    return PLACEMENTS.get(key, key or unknown)

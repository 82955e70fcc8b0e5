"""The start-up freeze: garbage is collected first, live objects leave later collections."""

from __future__ import annotations

import gc
import weakref

from poise.startup import freeze_startup_objects


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def test_garbage_is_collected_and_live_objects_are_frozen():
    dead_a, dead_b = _Node(), _Node()
    dead_a.other, dead_b.other = dead_b, dead_a  # a cycle only the collector frees
    gone = weakref.ref(dead_a)
    del dead_a, dead_b
    kept = _Node()
    try:
        assert freeze_startup_objects() > 0 and gc.get_freeze_count() > 0
        assert gone() is None  # collected before the freeze, not kept forever
        assert not any(o is kept for o in gc.get_objects())  # frozen: no generation holds it
    finally:
        gc.unfreeze()
    assert any(o is kept for o in gc.get_objects())

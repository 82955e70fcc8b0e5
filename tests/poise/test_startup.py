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


_PROBE = """
import contextlib, io, os
from poise.cli import main
with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
    main(["--help"])
import numpy
print(os.environ["NUMPY_MADVISE_HUGEPAGE"], numpy._core.multiarray._get_madvise_hugepage())
"""


def test_the_command_line_asks_numpy_for_small_pages():
    """``poise`` sets NUMPY_MADVISE_HUGEPAGE=0 before numpy is imported; a user's value wins."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    run = [sys.executable, "-c", _PROBE]
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert out.stdout.split() == ["0", "False"], out.stderr
    env["NUMPY_MADVISE_HUGEPAGE"] = "1"
    out = subprocess.run(run, env=env, capture_output=True, text=True, check=False)
    assert out.stdout.split() == ["1", "True"], out.stderr

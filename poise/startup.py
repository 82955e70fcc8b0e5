"""Process start-up: keep Python's cyclic garbage collector off the start-up objects.

A long-lived Poise process (the session window, the home window, ``poise record``) holds
some 70,000-110,000 objects from importing its libraries (numpy, scipy, PySide6, Bumble)
before it streams anything. None of them becomes garbage, yet every generation-2
collection traverses all of them: on this project's 2-core test machine a full
collection takes 45-50 ms of CPU in a process that imports ``scipy.signal`` and 70-75 ms
in the session window's (measured with ``gc.collect()`` after import / after building the
main window). A generation-2 collection runs whenever enough objects have survived the
younger generations, on whatever thread allocates at that moment, holding the GIL: a
live view stalls and a stream's callbacks wait.

:func:`freeze_startup_objects` collects once and then moves every object alive to the
permanent generation (:func:`gc.freeze`, made for this): later collections look only at
objects made after start-up. Cycles made later are still collected as before; a start-up
object that becomes garbage later is freed by reference counting, or stays (it is not in
a collected generation any more) if it is part of a cycle, which is the price documented
for :func:`gc.freeze`.
"""

from __future__ import annotations

import gc
import os


def freeze_startup_objects() -> int:
    """Collect the garbage made so far, then exempt every live object from later
    collections; call once start-up (imports, the first window) is done.

    Returns
    -------
    int
        Objects now in the permanent generation (:func:`gc.get_freeze_count`).
    """
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def numpy_without_huge_pages() -> None:
    """Ask numpy (before it is imported) not to request transparent huge pages.

    numpy advises the kernel to back every array of 4 MB or more with 2-MB huge pages
    (``madvise(MADV_HUGEPAGE)``; the ``NUMPY_MADVISE_HUGEPAGE`` variable, read once when
    numpy is imported, turns it off). For a command that reads a recording, analyses it
    and exits, the arrays are touched once or twice: the kernel then zeroes whole 2-MB
    pages, and where the kernel's huge-page setting is ``madvise`` it may compact memory to
    find them. ``poise analyze`` of a 1-hour recording on this project's 2-core test VM:
    system time 0.35-0.76 s with huge pages, 0.20-0.26 s without (2.3 times as many 4-KB
    page faults, each cheap), wall 1.64-2.16 s vs 1.33-1.70 s (5 alternating runs each).
    A value the user set is kept (``NUMPY_MADVISE_HUGEPAGE=1`` restores numpy's default);
    without effect once numpy is imported.
    """
    os.environ.setdefault("NUMPY_MADVISE_HUGEPAGE", "0")

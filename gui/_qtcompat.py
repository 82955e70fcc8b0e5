"""Work around a reference-count bug of PySide6 6.12 on Python < 3.12.

On PySide6 6.12.0 with CPython 3.11, every call of a Qt method that returns ``void``
(``QWidget.update``, ``QGraphicsItem.setVisible``, ``QLabel.setText``...) and
``QObject.property`` of a missing property hand back ``None`` without taking a reference,
so ``None``'s reference count falls by one per call. A live plot makes thousands of such
calls per second; within seconds the count reaches zero and the interpreter aborts with
"Fatal Python error: none_dealloc". Python 3.12 made ``None``, ``True`` and ``False``
immortal (PEP 683), so the bug is harmless there.

:func:`apply` measures the leak once and, if present, gives ``None``, ``True`` and
``False`` a reference count so large (2**60) that no session can exhaust it: in effect the
immortality Python 3.12 provides. It never runs on Python >= 3.12 or when no leak is seen.
Remove this module when PySide6 is fixed or Python 3.12 is the minimum.
"""

from __future__ import annotations

import ctypes
import logging
import sys

log = logging.getLogger(__name__)

_HUGE = 1 << 60
_applied = False


def leaks_none() -> bool:
    """True if a void Qt call loses a reference to ``None`` (the PySide6 6.12 bug)."""
    from PySide6.QtCore import QObject

    obj = QObject()
    before = sys.getrefcount(None)
    for _ in range(50):
        obj.setObjectName("poise")  # returns void
    return sys.getrefcount(None) < before - 25


def apply() -> bool:
    """Make ``None``/``True``/``False`` effectively immortal if the bug is present."""
    global _applied
    if _applied or sys.version_info >= (3, 12) or sys.implementation.name != "cpython":
        return _applied
    if not leaks_none():
        return False
    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value = _HUGE
    _applied = True
    log.warning(
        "PySide6 %s leaks references to None on Python %d.%d; applied the work-around "
        "(see gui/_qtcompat.py)",
        __import__("PySide6").__version__,
        *sys.version_info[:2],
    )
    return True

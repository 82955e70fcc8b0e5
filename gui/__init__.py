"""gui: PySide6 + pyqtgraph views that subscribe to the :mod:`poise` model.

Importing the package applies :mod:`gui._qtcompat` (a PySide6 6.12 / Python 3.11
reference-count work-around) before any widget exists.
"""

from gui import _qtcompat

_qtcompat.apply()

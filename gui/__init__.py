"""gui: PySide6 + pyqtgraph views that subscribe to the :mod:`poise` model."""

"""The ``poise`` command line: the top layer, above :mod:`gui` and :mod:`poise`.

The commands compose the application: most use :mod:`poise` (the model, store, service)
only; ``poise gui``, ``poise home`` and ``poise report`` also open a window or render with
Qt through :mod:`gui`. Being above both, the command line needs no exception in the layer
contract (pyproject.toml). See :mod:`poise_cli.main` for how commands are found.
"""

from poise_cli.main import build_parser, main, one_line

__all__ = ["build_parser", "main", "one_line"]

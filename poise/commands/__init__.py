"""Subcommands of the ``poise`` CLI, one module each (see :mod:`poise.cli`)."""

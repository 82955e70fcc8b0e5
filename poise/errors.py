"""Root of Poise's own exceptions (the CLI turns them into one-line messages)."""

from __future__ import annotations


class PoiseError(Exception):
    """Something the user can fix: a wrong file, option or state. The message says what and where."""

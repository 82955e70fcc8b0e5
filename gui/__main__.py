"""``python -m gui``: the same as the ``poise`` command (every command, windows included)."""

import sys

from gui.commands import main

sys.exit(main())

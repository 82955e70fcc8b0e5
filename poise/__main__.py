"""``python -m poise``: the headless commands (analyze, record, patient, ...).

The window commands (``gui``, ``home``) and ``report --pdf`` need :mod:`gui`: the ``poise``
console script (or ``python -m gui``) has them.
"""

import sys

from poise.cli import main

sys.exit(main())

"""Allow ``python -m poise_cli`` (the same as the ``poise`` command)."""

import sys

from poise_cli.main import main

sys.exit(main())

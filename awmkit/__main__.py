"""``python -m awmkit`` is the ``awmkit`` command line."""

import sys

from .cli import main

sys.exit(main())

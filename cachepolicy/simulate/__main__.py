"""``python -m cachepolicy.simulate``: see :mod:`cachepolicy.simulate.cli`."""

import sys

from .cli import main

sys.exit(main())

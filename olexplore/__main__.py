"""``python -m olexplore``: the ``olexplore`` command (see :mod:`olexplore.cli`)."""

import sys

from olexplore.cli import main

if __name__ == "__main__":
    sys.exit(main())

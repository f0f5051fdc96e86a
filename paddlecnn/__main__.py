"""``python -m paddlecnn``: see :mod:`paddlecnn.cli`."""
import sys

from .cli import main

sys.exit(main())

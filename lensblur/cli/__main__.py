"""``python -m lensblur.cli``."""

import sys

from . import command

sys.exit(command())

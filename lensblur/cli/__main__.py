"""``python -m lensblur.cli``."""

import sys

from . import main

sys.exit(main())

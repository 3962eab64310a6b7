"""``python -m katoutcomes.cli``: the command line."""

import sys

from katoutcomes.cli import main

sys.exit(main())

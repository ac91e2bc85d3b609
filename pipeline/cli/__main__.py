"""`python -m thresher.pipeline.cli` is the `thresher` command."""

import sys

from . import main

sys.exit(main())

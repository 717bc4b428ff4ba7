"""`python -m scenarios`: see scenarios.runner."""

import sys

from scenarios.runner import main

sys.exit(main())

"""``python -m modelserve.orchestrator --port N``: one replica in the foreground."""

import sys

from modelserve.orchestrator.server import main

sys.exit(main())

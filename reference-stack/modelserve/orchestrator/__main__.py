"""``python -m modelserve.orchestrator [--port N]``: the same as ``msai serve orchestrator``."""

import sys

from modelserve.cli import serve

serve.main(args=["orchestrator", *sys.argv[1:]], prog_name="python -m modelserve.orchestrator")

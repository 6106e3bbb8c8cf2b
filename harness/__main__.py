"""``python -m harness`` is ``msai``."""

from harness.cli import main

main()

"""``python -m msai`` is ``msai``."""

from msai.cli import main

main()

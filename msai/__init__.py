"""The run engine, the top layer: the ``msai`` CLI, the game-day runner, the pytest plugin and
the benches. It drives ``chaos``, ``loadtests`` and ``reports``, which build on the ``harness``
core; nothing below imports it (import-linter layers in pyproject.toml).
"""

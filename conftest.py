"""Root conftest: registers the harness pytest plugin (``--platform``, gated markers)."""

pytest_plugins = ["harness.pytest_plugin"]

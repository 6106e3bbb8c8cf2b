"""Root conftest: registers the harness pytest plugin (``--platform``, gated markers)."""

pytest_plugins = ["msai.pytest_plugin"]

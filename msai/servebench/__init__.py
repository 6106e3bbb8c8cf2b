"""``msai bench serve``: the model server against raw ONNX Runtime and KServe, in one run.

Modules: :mod:`.loadgen` (a small open-loop Poisson HTTP load generator, run pinned to its
own cores), :mod:`.offline` (raw runtime throughput at the server's batch size),
:mod:`.kserve_model` (the same model inside KServe's ModelServer, run in ``.venv-kserve``),
:mod:`.command` (the click command that runs them and prints figures and ratios).
"""

__all__: list[str] = []

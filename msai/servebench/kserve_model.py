"""The same model inside KServe's Python ModelServer (the baseline of ``msai bench serve``).

Runs in ``.venv-kserve`` (``scripts/setup --kserve``), as a script so that it imports
nothing of the harness; the venv's ``msai-fallback.pth`` makes ``modelserve`` and the main
venv's packages (tokenizers, Pillow ...) importable after KServe's own. The model object is
the very one ``msai serve`` uses (parse, forward pass, output shaping), so the comparison
is of the serving layers. KServe's default behaviour is kept: no dynamic batching, and a
synchronous ``predict`` runs on the event loop.

    .venv-kserve/bin/python harness/servebench/kserve_model.py KIND PORT

Route: ``POST /v1/models/KIND:predict`` with ``{"instances": [item, ...]}``.
"""

from __future__ import annotations

import socket
import sys
from typing import Any


def _inner(kind: str) -> Any:
    if kind == "ner":
        from modelserve.ner.model import NerModel

        return NerModel()
    if kind == "vision":
        from modelserve.vision.model import VisionModel

        return VisionModel()
    from modelserve.common.testing import FakeModel

    return FakeModel()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    kind, port = sys.argv[1], int(sys.argv[2])
    sys.argv = sys.argv[:1]  # kserve parses its own flags from argv at import
    import kserve  # type: ignore[import-not-found]
    from kserve.errors import InvalidInput  # type: ignore[import-not-found]
    from modelserve.common.errors import BadInput

    class MsaiModel(kserve.Model):  # type: ignore[misc]
        def __init__(self, name: str) -> None:
            super().__init__(name)
            self.inner = _inner(kind)

        def load(self) -> bool:
            self.inner.load()
            self.ready = True
            return True

        def predict(self, payload: dict[str, Any], headers: Any = None) -> dict[str, Any]:
            instances = payload.get("instances") if isinstance(payload, dict) else None
            if not isinstance(instances, list) or not instances:
                raise InvalidInput("instances must be a non-empty list")
            try:
                items = [
                    self.inner.parse_json(x, f"instances[{i}]") for i, x in enumerate(instances)
                ]
            except BadInput as exc:
                raise InvalidInput(f"{exc.field}: {exc}") from exc
            outs = self.inner.predict(items)
            return {"predictions": [self.inner.to_json(o) for o in outs]}

    model = MsaiModel(kind)
    model.load()
    kserve.ModelServer(
        http_port=port,
        grpc_port=_free_port(),
        workers=1,
        enable_grpc=False,
        enable_latency_logging=False,
    ).start([model])


if __name__ == "__main__":
    main()

"""Inference sessions: ONNX Runtime by default, PyTorch as an option; CUDA when present.

``onnx_session`` opens an ONNX file with the CUDA execution provider first when this
ONNX Runtime build has it (``onnxruntime-gpu``) and the CPU provider as the fallback, so one
code path serves on a laptop and on a GPU node. ``torch_device`` does the same for PyTorch.
``open_backend`` picks the runtime; for a Hugging Face directory without ``model.onnx`` it
exports one once (:func:`~modelserve.common.onnx_export.export_onnx`) and checks it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from modelserve.common.errors import ConfigError, ModelLoadError
from modelserve.common.onnx_export import export_onnx

__all__ = [
    "CPU_DISABLED_OPTIMIZERS",
    "RUNTIMES",
    "Backend",
    "OnnxBackend",
    "TorchBackend",
    "checkpoint_digest",
    "export_onnx",
    "onnx_providers",
    "onnx_session",
    "open_backend",
    "torch_device",
]

RUNTIMES = ("onnxruntime", "torch")
_log = logging.getLogger(__name__)
_DEVICES = ("auto", "cpu", "cuda")


def _check_device(device: str) -> None:
    if device not in _DEVICES:
        raise ConfigError(f"device {device!r}: expected one of {_DEVICES}", field="device")


def onnx_providers(device: str = "auto") -> list[str]:
    """Execution providers in preference order for ``device`` (auto | cpu | cuda)."""
    import onnxruntime as ort

    _check_device(device)
    available = set(ort.get_available_providers())
    if device == "cuda" and "CUDAExecutionProvider" not in available:
        raise ConfigError(
            "device 'cuda' asked for but this onnxruntime has no CUDAExecutionProvider",
            field="device",
        )
    if device != "cpu" and "CUDAExecutionProvider" in available:
        _preload_cuda(ort)
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


_preloaded = False


def _preload_cuda(ort: Any) -> None:
    """Load CUDA and cuDNN from their pip packages (``onnxruntime-gpu[cuda,cudnn]``, as in the
    GPU images) before the first CUDA session: the provider's library finds them only on the
    loader's path otherwise. Once per process; without them (a system CUDA) nothing is lost."""
    global _preloaded
    if _preloaded or not hasattr(ort, "preload_dlls"):
        return
    _preloaded = True
    try:
        ort.preload_dlls()
    except Exception as exc:  # a system-wide CUDA install needs no preload
        _log.warning("onnxruntime.preload_dlls failed: %s", exc)


# Graph rewrites left out when a session runs on the CPU alone. SkipLayerNormFusion folds
# each residual Add into the LayerNormalization after it, and ORT 1.32's CPU kernel for the
# fused op is the slower: in ORT's profile of a 4-sentence batch of the bundled NER model
# (1 thread) its 12 nodes took 3.1 ms, where unfused the forward pass spent 2.8 ms less in
# everything but MatMul (26 against 29 ms). Round-robin over several sessions of each, the
# unfused graph ran 9-11 % faster (and 3-10 % for a 768-wide BERT). CUDA keeps every fusion.
CPU_DISABLED_OPTIMIZERS = ("SkipLayerNormFusion",)


def onnx_session(path: Path, *, threads: int = 0, device: str = "auto") -> Any:
    """An ``onnxruntime.InferenceSession`` for ``path``; ``threads`` 0 lets ORT choose."""
    import onnxruntime as ort

    providers = onnx_providers(device)
    disabled = [] if "CUDAExecutionProvider" in providers else list(CPU_DISABLED_OPTIMIZERS)
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads > 0:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    opts.log_severity_level = 3  # warnings about unused initialisers are noise here
    try:
        return ort.InferenceSession(
            str(path), sess_options=opts, providers=providers, disabled_optimizers=disabled
        )
    except Exception as exc:  # ORT raises its own Fail/InvalidGraph types
        raise ModelLoadError(f"{path}: cannot open ONNX model: {exc}") from exc


def torch_device(device: str = "auto") -> str:
    """``"cuda"`` when asked for or available under ``auto``; else ``"cpu"``."""
    import torch

    _check_device(device)
    if device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device 'cuda' asked for but torch sees no CUDA device", field="device")
    if device != "cpu" and torch.cuda.is_available():
        return "cuda"
    return "cpu"


class Backend(Protocol):
    """One loaded network: named numpy inputs in, ``logits`` out."""

    runtime: str
    device: str
    input_names: list[str]

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray: ...

    def interrupt(self) -> bool:
        """Stop a running :meth:`run` (it raises) and every later one; False: cannot."""
        ...


class OnnxBackend:
    """ONNX Runtime session; feeds only the inputs the graph declares (DistilBERT has no
    ``token_type_ids``, for example)."""

    runtime = "onnxruntime"

    def __init__(self, path: Path, *, threads: int = 0, device: str = "auto") -> None:
        self.path = path
        self.session = onnx_session(path, threads=threads, device=device)
        self.providers: list[str] = list(self.session.get_providers())
        self.device = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        self.input_names = [i.name for i in self.session.get_inputs()]
        self._output = self.session.get_outputs()[0].name
        import onnxruntime as ort

        # The terminate flag, checked between graph nodes, stops a pass from another thread.
        self._run_options = ort.RunOptions()
        self._run_options.log_severity_level = 4  # "exiting due to terminate flag": expected

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        out = self.session.run(
            [self._output], {k: feeds[k] for k in self.input_names}, self._run_options
        )
        return np.asarray(out[0])

    def interrupt(self) -> bool:
        self._run_options.terminate = True
        return True


class TorchBackend:
    """A Hugging Face PyTorch model in eval mode under ``inference_mode``."""

    runtime = "torch"

    def __init__(self, module: Any, *, threads: int = 0, device: str = "auto") -> None:
        import inspect

        import torch

        if threads > 0:
            torch.set_num_threads(threads)
        self.device = torch_device(device)
        self.module = module.to(self.device).eval()
        params = inspect.signature(self.module.forward).parameters
        self.input_names = [n for n in params if n not in ("kwargs", "labels")]

    def run(self, feeds: Mapping[str, np.ndarray]) -> np.ndarray:
        import torch

        with torch.inference_mode():
            args = {
                k: torch.from_numpy(np.ascontiguousarray(v)).to(self.device)
                for k, v in feeds.items()
                if k in self.input_names
            }
            return np.asarray(self.module(**args).logits.float().cpu().numpy())

    def interrupt(self) -> bool:
        return False  # an eager forward pass has no stop flag; the drain abandons it


def checkpoint_digest(model_dir: Path) -> str:
    """Content hash of a checkpoint's config and weights (keys the ONNX export cache)."""
    digest = hashlib.sha256()
    for path in sorted(model_dir.iterdir()):
        if path.name == "config.json" or path.suffix in (".safetensors", ".bin"):
            digest.update(path.name.encode() + b"\0")
            with path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    digest.update(chunk)
    return digest.hexdigest()[:20]


def open_backend(
    model_dir: Path,
    *,
    runtime: str,
    device: str,
    threads: int,
    load_torch: Callable[[Path], Any],
    example: Callable[[], Mapping[str, Any]],
    dynamic: Mapping[str, Sequence[int]],
    cache_dir: Path,
) -> Backend:
    """The network in ``model_dir`` on ``runtime``.

    ``onnxruntime`` uses ``model_dir/model.onnx`` (the bundled builds ship one); a plain
    Hugging Face checkpoint is exported once into ``cache_dir/onnx/<digest>/`` and reused.
    """
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime {runtime!r}: expected one of {RUNTIMES}", field="runtime")
    if runtime == "torch":
        try:
            module = load_torch(model_dir)
        except (OSError, ValueError, KeyError) as exc:
            raise ModelLoadError(f"{model_dir}: cannot load PyTorch weights: {exc}") from exc
        return TorchBackend(module, threads=threads, device=device)
    onnx_path = model_dir / "model.onnx"
    if not onnx_path.is_file():
        onnx_path = cache_dir / "onnx" / checkpoint_digest(model_dir) / "model.onnx"
        if not onnx_path.is_file():
            try:
                module = load_torch(model_dir).eval()
                inputs = example()
                export_onnx(module, inputs, onnx_path, dynamic=dynamic)
                _check_export(module, inputs, onnx_path)
            except (OSError, ValueError, KeyError, RuntimeError) as exc:
                onnx_path.unlink(missing_ok=True)
                raise ModelLoadError(f"{model_dir}: cannot export to ONNX: {exc}") from exc
    return OnnxBackend(onnx_path, threads=threads, device=device)


def _check_export(module: Any, inputs: Mapping[str, Any], path: Path, tol: float = 1e-3) -> None:
    """Refuse an export whose outputs differ from the PyTorch model's on the example."""
    import torch

    with torch.inference_mode():
        ref = module(**inputs).logits.float().numpy()
    got = OnnxBackend(path, device="cpu").run({k: v.numpy() for k, v in inputs.items()})
    worst = float(np.abs(ref - got).max())
    if worst > tol:
        raise ValueError(f"ONNX export differs from torch by {worst:.2e} (> {tol})")

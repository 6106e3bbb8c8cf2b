"""Make a training run repeat: fixed seeds, deterministic kernels, a fixed thread count."""

from __future__ import annotations

import contextlib
import os
import random

__all__ = ["BUILD_THREADS", "deterministic"]

# Thread count changes float reduction order, so it is part of what a build depends on.
BUILD_THREADS = 2


def deterministic(seed: int) -> None:
    """Seed every generator a build uses and pin torch to deterministic algorithms."""
    import numpy as np
    import torch

    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(BUILD_THREADS)
    # interop threads can only be set once per process; the build is its first user.
    if torch.get_num_interop_threads() != 1:
        with contextlib.suppress(RuntimeError):
            torch.set_num_interop_threads(1)

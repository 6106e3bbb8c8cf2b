"""The Platform interface and its backends (local processes, kind, EKS)."""

__all__: list[str] = []

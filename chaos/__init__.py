"""Faults with guaranteed rollback: injectors, the fault ledger, guards and the scheduler."""

__all__: list[str] = []

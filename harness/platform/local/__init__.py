"""The local platform: the whole stack as real processes on this machine.

Modules: ``values`` (values.yaml -> typed spec), ``supervisor`` (processes + ledger),
``envoy`` (gateway, xDS files, runtime faults), ``dependencies`` (Redis, PostgreSQL, moto S3),
``prometheus``, ``alertmanager``, ``webhook`` (alert receiver), ``spot`` (EC2 metadata +
termination handling), ``autoscaler`` (HPA / KEDA), ``hold`` (requests held at zero replicas),
``links`` (per-pair TCP links for partitions), ``controller`` (the process that owns the stack),
``platform`` (:class:`LocalPlatform`, the Platform interface), ``cli`` (``msai up`` ...).
"""

from harness.platform.local.platform import LocalPlatform
from harness.values import StackValues, load_stack

__all__ = ["LocalPlatform", "StackValues", "load_stack"]

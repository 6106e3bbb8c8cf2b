"""The Kubernetes backends: ``--platform k8s`` (any allow-listed context, ``msai cluster``'s
by default), and its specialisations ``kind`` and ``eks``.

``get_platform("kind")`` talks to the kind cluster's context (``kind-<cluster>``; any other
context must be in ``MSAI_KIND_ALLOWED_CONTEXTS``) and
interrupts spot nodes by stopping their Docker containers; ``get_platform("eks")`` checks the
current context and namespaces against the allow-list (and refuses production without the
explicit flag) and interrupts spot nodes with an AWS FIS experiment.
"""

from __future__ import annotations

import dataclasses

from harness.errors import ConfigError
from harness.platform.kubernetes.platform import KubernetesPlatform, ScaleStatus, Workload
from harness.platform.kubernetes.settings import KubernetesSettings, k8s_settings

__all__ = [
    "KubernetesPlatform",
    "KubernetesSettings",
    "ScaleStatus",
    "Workload",
    "get_platform",
]


def get_platform(name: str) -> KubernetesPlatform:
    """The ``k8s``, ``kind`` or ``eks`` platform, configured from the environment."""
    settings = k8s_settings()
    if name == "k8s":
        from harness.platform.kubernetes.generic import k8s_target

        settings, spot = k8s_target(settings)
        return KubernetesPlatform("k8s", settings=settings, spot=spot)
    if name == "kind":
        from harness.platform.kubernetes.kind import (
            KindSpot,
            chart_values_for_kind,
            checked_kind_context,
            gateway_url,
        )
        from harness.platform.kubernetes.settings import kind_settings

        ks = kind_settings()
        settings = dataclasses.replace(settings, context=checked_kind_context(settings, ks))
        if not settings.gateway_url:
            settings = dataclasses.replace(settings, gateway_url=gateway_url(ks))
        return KubernetesPlatform(
            "kind", settings=settings, spot=KindSpot(ks), extra_values=chart_values_for_kind()
        )
    if name == "eks":
        from harness.platform.kubernetes.eks import FisSpot, checked_target, load_outputs
        from harness.platform.kubernetes.settings import eks_settings

        es = eks_settings()
        target = checked_target(settings, es)
        settings = dataclasses.replace(settings, context=target.context)
        outputs = load_outputs(es.outputs) if es.outputs else {}
        return KubernetesPlatform(
            "eks",
            settings=settings,
            spot=FisSpot(es, target),
            extra_values=dict(outputs.get("chart_values") or {}),
        )
    raise ConfigError(f"unknown Kubernetes platform {name!r}; k8s, kind or eks", field="platform")

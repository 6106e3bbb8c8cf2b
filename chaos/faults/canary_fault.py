"""``canary_fault``: a bad canary. The canary replicas of ``target.service`` (and only they)
answer ``error_ratio`` of their requests with 500 through the servers' built-in fault hooks;
the platform must detect it (CanaryHighErrorRatio) and shift the canary weight to 0 by itself.

Measured, as ``measurement`` events through the probe result:

    canary_share        the canary's share of the service's requests before the fault (from
                        Prometheus, ``modelserve_requests_total`` by ``version``, over the
                        ``at`` window of the entry): gate it against the weight
    canary_weight       the weight in force when the fault started (percent)
    canary_rolled_back  1 when the weight went to 0 within ``rollback_within``, else 0
    canary_rollback_s   injection -> weight 0 seen (only when it happened)

Proof: the canary's own 5xx share (Prometheus, ``modelserve_requests_total`` by ``version``
and ``code``) is about ``error_ratio``. The probe waits for the rollback (up to
``rollback_within``) first; the rollback itself is the platform's answer, gated through
``canary_rolled_back``, not the fault's proof. Rollback (and the ledger's
recovery in a later process) goes through ``platform.revert``: hooks cleared, weight put
back as it was at injection.
"""

from __future__ import annotations

import math
import time
from typing import Any, ClassVar

import httpx

from chaos.base import FaultPlan, ProbeResult, param_duration, revert_injection
from harness.errors import ConfigError, HarnessError, Unsupported
from harness.platform.base import Injection, Platform
from harness.scenario import FaultEntry

__all__ = ["CanaryFault"]

_POLL_S = 0.5
# how long the error ratio is polled for: a few Prometheus scrapes after the last request
_SCRAPE_WAIT_S = 10.0
# how far the canary's error count may stray from the injected ratio (binomial deviations)
_SIGMAS = 4.0


def _method(platform: Platform, name: str) -> Any:
    fn = getattr(platform, name, None)
    if not callable(fn):
        raise Unsupported(platform.name, "canary_fault", f"the platform has no {name}()")
    return fn


def _share(platform: Platform, service: str, window_s: float) -> float | None:
    from harness.probes import prometheus_value

    w = f"{max(5, int(window_s))}s"
    sel = f'modelserve_requests_total{{service="{service}"'
    query = f'sum(increase({sel},version="canary"}}[{w}])) / sum(increase({sel}}}[{w}]))'
    try:
        return prometheus_value(platform, query, timeout_s=5.0)
    except (HarnessError, OSError, ValueError):
        return None
    except Exception:  # httpx errors: no Prometheus answer means no measurement, not a crash
        return None


def _canary_errors(platform: Platform, service: str, ratio: float, since: float) -> ProbeResult:
    """The canary's 5xx share since ``since`` from Prometheus, about ``ratio`` (within four
    binomial standard deviations, at least one error); no canary request counted: unobservable.
    Polled for a few scrapes, since the last requests reach Prometheus a scrape later."""
    from harness.probes import prometheus_value

    sel = f'modelserve_requests_total{{service="{service}",version="canary"'
    deadline = time.time() + _SCRAPE_WAIT_S
    errors = total = 0.0
    while True:
        # only the fault's own seconds: requests before it had no injected errors
        w = f"{max(2, math.ceil(time.time() - since))}s"
        try:
            total = prometheus_value(platform, f"sum(increase({sel}}}[{w}]))", 5.0) or 0.0
            errors = (
                prometheus_value(platform, f'sum(increase({sel},code=~"5.."}}[{w}]))', 5.0) or 0.0
            )
        except Unsupported as exc:
            return ProbeResult.unobservable(f"no canary error ratio: {exc}")
        except (HarnessError, OSError, ValueError, httpx.HTTPError):
            pass
        n, k = round(total), round(errors)
        sigma = math.sqrt(max(n * ratio * (1.0 - ratio), 1.0))
        if n and k and abs(k - n * ratio) <= _SIGMAS * sigma:
            break
        if time.time() >= deadline:
            break
        time.sleep(_POLL_S)
    measurement = {"name": "canary_error_ratio", "unit": "ratio", "service": service}
    if n == 0:
        return ProbeResult.unobservable(f"Prometheus counted no {service} canary request")
    figures = f"canary answered {k} of {n} with 5xx ({k / n:.0%}, injected {ratio:.0%})"
    ok = k > 0 and abs(k - n * ratio) <= _SIGMAS * sigma
    return ProbeResult(ok, figures, [{**measurement, "value": round(k / n, 4)}])


class CanaryFault:
    kind: ClassVar[str] = "canary_fault"
    reverts: ClassVar[bool] = True

    def validate(self, entry: FaultEntry, platform: Platform | None) -> FaultPlan:
        service = str(entry.target["service"])
        ratio = float(entry.params.get("error_ratio", 0.5))
        if not 0 < ratio <= 1:
            raise ConfigError(
                f"error_ratio is in (0, 1], got {ratio}", field=f"faults[{entry.index}].error_ratio"
            )
        within = param_duration(entry, "rollback_within", 60.0)
        if platform is not None and not any(
            r.version == "canary" for r in platform.replicas(service)
        ):
            raise ConfigError(
                f"{service} runs no canary (values {service}.canary.enabled)",
                field=f"faults[{entry.index}].target.service",
            )
        return FaultPlan(
            entry,
            self.kind,
            [service],
            {"error_ratio": ratio, "rollback_within_s": within},
            f"{service} canary answers {ratio:.0%} errors; expect rollback within {within:g}s",
        )

    def inject(self, plan: FaultPlan, platform: Platform) -> list[Injection]:
        service = plan.targets[0]
        weights = _method(platform, "canary_weights")()
        if int(weights.get(service, 0)) <= 0:
            raise ConfigError(f"{service}'s canary weight is 0: nothing to roll back")
        inject = _method(platform, "replica_fault")
        inj: Injection = inject(service, "canary", {"error_ratio": plan.params["error_ratio"]})
        return [inj]

    def probe(
        self, plan: FaultPlan, platform: Platform, injections: list[Injection]
    ) -> ProbeResult:
        service = plan.targets[0]
        if not injections:
            return ProbeResult(False, "not injected")
        inj = injections[0]
        weight = inj.undo.get("weight")
        measurements: list[dict[str, Any]] = []
        if weight is not None:
            measurements.append(
                {"name": "canary_weight", "value": float(weight), "unit": "%", "service": service}
            )
        share = _share(platform, service, plan.entry.at_s)
        if share is not None:
            measurements.append(
                {"name": "canary_share", "value": share, "unit": "ratio", "service": service}
            )
        weights = _method(platform, "canary_weights")
        deadline = inj.started + float(plan.params["rollback_within_s"])
        rolled_back_s: float | None = None
        while True:
            if int(weights().get(service, 0)) == 0:
                rolled_back_s = time.time() - inj.started
                break
            if time.time() >= deadline:
                break
            time.sleep(_POLL_S)
        measurements.append(
            {
                "name": "canary_rolled_back",
                "value": float(rolled_back_s is not None),
                "unit": "",
                "service": service,
            }
        )
        if rolled_back_s is not None:
            measurements.append(
                {
                    "name": "canary_rollback_s",
                    "value": round(rolled_back_s, 3),
                    "unit": "s",
                    "service": service,
                }
            )
        rolled = (
            f"rolled back to 0 after {rolled_back_s:.1f}s"
            if rolled_back_s is not None
            else f"weight still {weights().get(service)} after "
            f"{plan.params['rollback_within_s']:g}s"
        )
        proof = _canary_errors(platform, service, float(plan.params["error_ratio"]), inj.started)
        return ProbeResult(
            proof.ok,
            f"{proof.detail}; canary (weight {weight}) {rolled}",
            measurements + proof.measurements,
            proof.observable,
        )

    def rollback(self, plan: FaultPlan, platform: Platform, injections: list[Injection]) -> None:
        revert_injection(platform, injections)

"""HTTP clients for the harness's calls to its own servers: no environment proxy for loopback.

``urllib`` and ``httpx`` read ``HTTP_PROXY`` / ``HTTPS_PROXY`` / ``ALL_PROXY`` from the
environment and send every request through that proxy unless ``NO_PROXY`` names the host. A
corporate proxy on a laptop or CI runner cannot reach this machine's 127.0.0.1, so a call to
the local stack (Envoy admin, the control API, Prometheus, a replica) would fail. Every
harness call goes through this module instead: a loopback URL never uses a proxy; any other
host (a staging gateway, an EKS Prometheus behind a port-forward elsewhere) still honours the
environment, as the user set it up.

``urlopen(request, timeout=...)``   urllib, proxies off for a loopback URL
``get(url, ...)`` / ``request(...)`` one-shot httpx calls with the same rule
``client(base_url, ...)``           an ``httpx.Client`` with the same rule for its base URL
``is_loopback(url)``                the rule itself
``no_proxy_env()``                  NO_PROXY for child processes (the local stack's controller,
                                    replicas, boto3 to moto): the environment's list plus loopback
"""

from __future__ import annotations

import ipaddress
import os
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

__all__ = ["LOOPBACK_HOSTS", "client", "get", "is_loopback", "no_proxy_env", "request", "urlopen"]

_NO_PROXY_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# What NO_PROXY must name for loopback: clients match it by host name (urllib, requests and
# botocore by suffix, Go by IP), so each spelling the stack uses is listed.
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def is_loopback(url: str) -> bool:
    """True for ``localhost`` (and its subdomains) and any loopback address (127/8, ::1)."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def urlopen(req: str | urllib.request.Request, *, timeout: float) -> Any:
    """``urllib.request.urlopen`` without environment proxies when the URL is loopback.

    Returns the same response object (usable as a context manager) and raises the same
    ``urllib.error`` exceptions as ``urllib.request.urlopen``."""
    url = req.full_url if isinstance(req, urllib.request.Request) else req
    if is_loopback(url):
        return _NO_PROXY_OPENER.open(req, timeout=timeout)
    # A fresh opener reads the proxy variables as they are now; urlopen's module-wide one
    # keeps whatever the environment held at its first use.
    return urllib.request.build_opener().open(req, timeout=timeout)


def request(method: str, url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.request`` with ``trust_env`` off for a loopback URL."""
    kwargs.setdefault("trust_env", not is_loopback(url))
    return httpx.request(method, url, **kwargs)


def get(url: str, **kwargs: Any) -> httpx.Response:
    """``httpx.get`` with ``trust_env`` off for a loopback URL."""
    return request("GET", url, **kwargs)


def client(base_url: str, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` for ``base_url`` with ``trust_env`` off when it is loopback."""
    kwargs.setdefault("trust_env", not is_loopback(base_url))
    return httpx.Client(base_url=base_url, **kwargs)


def no_proxy_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``NO_PROXY`` and ``no_proxy`` for a child process: the entries already set (either
    spelling) plus :data:`LOOPBACK_HOSTS`, so its clients reach loopback without a proxy."""
    env = os.environ if environ is None else environ
    entries: list[str] = []
    for name in ("NO_PROXY", "no_proxy"):
        entries += [e.strip() for e in env.get(name, "").split(",") if e.strip()]
    value = ",".join(dict.fromkeys([*entries, *LOOPBACK_HOSTS]))
    return {"NO_PROXY": value, "no_proxy": value}

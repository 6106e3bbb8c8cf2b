"""Credentials and TLS trust for load requests, resolved where the requests are sent.

Settings name only *where* a secret is (``env:NAME`` or ``file:PATH``), never the secret:
the plan file handed to worker processes, the run record and every message carry the
reference, and each engine reads the value when it builds its requests. Errors name the
setting and the reference, never a value; :class:`RequestAuth`'s ``repr`` shows header names
only.

    MSAI_LOAD_BEARER_TOKEN=env:MSAI_TOKEN       # Authorization: Bearer <token>
    MSAI_LOAD_API_KEY=file:/run/secrets/key     # <MSAI_LOAD_API_KEY_HEADER>: <key>
    MSAI_LOAD_HEADERS=file:headers.txt          # "Name: value" lines, added to every request
    MSAI_LOAD_CA_BUNDLE=ca.pem                  # trust for https:// targets (else the system's)
    MSAI_LOAD_INSECURE=1                        # or no verification at all, said explicitly
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import ConfigError

__all__ = ["RequestAuth", "read_secret", "request_auth", "tls_context_factory"]


def read_secret(reference: str, *, setting: str) -> str:
    """The value ``env:NAME`` or ``file:PATH`` points at, stripped of surrounding space."""
    kind, sep, where = reference.partition(":")
    if not sep or kind not in ("env", "file") or not where:
        raise ConfigError(
            "expected env:NAME or file:PATH (the secret itself is never a setting)",
            field=setting,
        )
    if kind == "env":
        value = os.environ.get(where)
        if value is None:
            raise ConfigError(f"environment variable {where} is not set", field=setting)
    else:
        try:
            value = Path(where).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read {where}: {exc.strerror}", field=setting) from None
    value = value.strip()
    if not value:
        raise ConfigError(f"{reference} is empty", field=setting)
    return value


@dataclass(frozen=True)
class RequestAuth:
    """Headers every request carries. Values are secret: ``repr`` shows names only."""

    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        return f"RequestAuth(headers={sorted(self.headers)})"


def request_auth(
    *, bearer_token: str = "", api_key: str = "", api_key_header: str = "", headers: str = ""
) -> RequestAuth:
    """Resolve the references (empty: not used) into the headers to send."""
    out: dict[str, str] = {}
    if headers:
        text = read_secret(headers, setting="headers")
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, sep, value = line.partition(":")
            if not sep or not name.strip() or any(c in name for c in " \t\r\n"):
                raise ConfigError(f"line {n}: expected 'Name: value'", field="headers")
            out[name.strip()] = value.strip()
    if api_key:
        if not api_key_header:
            raise ConfigError("an API key needs a header name", field="api_key_header")
        out[api_key_header] = read_secret(api_key, setting="api_key")
    if bearer_token:
        out["Authorization"] = "Bearer " + read_secret(bearer_token, setting="bearer_token")
    for name, value in out.items():
        if any(c in value for c in "\r\n"):
            raise ConfigError(f"the value of header {name} holds a line break", field="headers")
    return RequestAuth(out)


def tls_context_factory(ca_bundle: str, insecure: bool) -> Callable[[], ssl.SSLContext]:
    """What makes the TLS context for ``https://`` targets: verified against ``ca_bundle``
    (or the system's trust), or not verified at all when ``insecure`` says so."""
    if ca_bundle and insecure:
        raise ConfigError("give a CA bundle or insecure, not both", field="insecure")
    if ca_bundle and not Path(ca_bundle).is_file():
        raise ConfigError(f"no CA bundle at {ca_bundle}", field="ca_bundle")

    def make() -> ssl.SSLContext:
        from gevent import ssl as gevent_ssl  # contexts whose sockets yield to the hub

        ctx: ssl.SSLContext
        if insecure:
            ctx = gevent_ssl.create_default_context()
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
            return ctx
        ctx = gevent_ssl.create_default_context(cafile=ca_bundle or None)
        return ctx

    return make

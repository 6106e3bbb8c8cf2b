"""The bearer token that guards the local controller's API.

``msai up`` writes a fresh random token to ``<home>/control.token``, created with mode 0600 so
only the user who started the stack can read it. Every client of the API (the platform
object, Prometheus scraping ``/metrics``, Alertmanager posting to ``/webhook``) sends it as
``Authorization: Bearer <token>``; the controller compares it in constant time. The token is
never logged or printed: a caller that needs it reads the file.
"""

from __future__ import annotations

import contextlib
import hmac
import os
import secrets
from pathlib import Path

from harness.errors import PlatformError

__all__ = ["TOKEN_FILE", "authorized", "read_token", "token_path", "write_token"]

TOKEN_FILE = "control.token"
_SCHEME = "Bearer "


def token_path(home: Path) -> Path:
    return home / TOKEN_FILE


def write_token(home: Path) -> str:
    """A new token in ``<home>/control.token`` (mode 0600, replacing any old one)."""
    path = token_path(home)
    token = secrets.token_urlsafe(32)
    tmp = path.with_name(f".{TOKEN_FILE}.tmp")
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    # O_EXCL with the mode: the file never exists, even for an instant, with wider permissions.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token)
    os.replace(tmp, path)
    return token


def read_token(home: Path) -> str:
    path = token_path(home)
    try:
        token = path.read_text().strip()
    except OSError as exc:
        raise PlatformError(
            f"cannot read the local controller's token {path} ({exc.strerror}); run `msai up`"
        ) from exc
    if not token:
        raise PlatformError(f"the local controller's token file {path} is empty; run `msai up`")
    return token


def authorized(header: str | None, token: str) -> bool:
    """Whether an ``Authorization`` header carries ``token`` (constant-time comparison)."""
    if not header or not header.startswith(_SCHEME):
        return False
    return hmac.compare_digest(header[len(_SCHEME) :].strip().encode(), token.encode())

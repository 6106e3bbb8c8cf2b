"""The few API calls the cluster builder makes (readiness, nodes), over HTTPS with the admin
certificate; everything else talks to the cluster through the ``kubernetes`` client."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from harness.cluster.pki import Pki

__all__ = ["ApiClient"]


class ApiClient:
    def __init__(self, server: str, pki: Pki, identity: str = "admin") -> None:
        self.server = server.rstrip("/")
        ctx = ssl.create_default_context(cafile=str(pki.path("ca", "crt")))
        ctx.load_cert_chain(str(pki.path(identity, "crt")), str(pki.path(identity, "key")))
        # The API server's address is on this machine's own link: no proxy may stand between.
        self._opener = urllib.request.build_opener(
            urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=ctx)
        )

    def get(self, path: str, *, timeout: float = 5.0) -> Any:
        with self._opener.open(self.server + path, timeout=timeout) as resp:
            body = resp.read()
        return json.loads(body) if body[:1] in (b"{", b"[") else body.decode()

    def ready(self) -> bool:
        try:
            return bool(self.get("/readyz") == "ok")
        except (OSError, urllib.error.URLError, ValueError):
            return False

    def nodes(self) -> list[dict[str, Any]]:
        """``[{name, ready, labels, taints, unschedulable}]`` from ``/api/v1/nodes``."""
        out = []
        for item in self.get("/api/v1/nodes").get("items", []):
            conditions = {c["type"]: c["status"] for c in item["status"].get("conditions", [])}
            out.append(
                {
                    "name": item["metadata"]["name"],
                    "ready": conditions.get("Ready") == "True",
                    "labels": item["metadata"].get("labels", {}),
                    "taints": item["spec"].get("taints", []),
                    "unschedulable": bool(item["spec"].get("unschedulable", False)),
                }
            )
        return out

    def exists(self, path: str) -> bool:
        try:
            self.get(path)
            return True
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return False
            raise

    @staticmethod
    def for_home(server: str, pki_dir: Path) -> ApiClient:
        return ApiClient(server, Pki(pki_dir))

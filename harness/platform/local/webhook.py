"""The webhook receiver inside the harness: records every alert Alertmanager sends.

Each alert of each notification becomes one record with the time it was received, appended
to ``alerts.jsonl`` (flushed per line, so a crashed run keeps them) and kept in memory for
``GET /alerts``. Fields: ``received`` (unix s), ``receiver``, ``name`` (alertname), ``status``
(firing|resolved), ``labels``, ``annotations``, ``starts_at``, ``ends_at``, ``fingerprint``.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["AlertLog"]


class AlertLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._alerts: list[dict[str, Any]] = []

    def record(self, receiver: str, payload: Any) -> int:
        """Record the alerts of one Alertmanager webhook payload (version 4); returns count."""
        if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
            raise ValueError("payload needs an 'alerts' list (Alertmanager webhook version 4)")
        now = time.time()
        rows = []
        for a in payload["alerts"]:
            if not isinstance(a, dict):
                raise ValueError("each alert must be an object")
            labels = a.get("labels") or {}
            rows.append(
                {
                    "received": now,
                    "receiver": receiver,
                    "name": labels.get("alertname", ""),
                    "status": a.get("status", payload.get("status", "")),
                    "labels": labels,
                    "annotations": a.get("annotations") or {},
                    "starts_at": a.get("startsAt"),
                    "ends_at": a.get("endsAt"),
                    "fingerprint": a.get("fingerprint"),
                }
            )
        with self._lock:
            self._alerts.extend(rows)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "a") as f:
                for r in rows:
                    f.write(json.dumps(r) + "\n")
                f.flush()
        return len(rows)

    def alerts(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [a for a in self._alerts if a["received"] >= since]

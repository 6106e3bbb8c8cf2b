"""The local platform with the real model servers (``msai serve``) loading the built models
from the moto S3 bucket, end to end through Envoy. Skipped, with the reason, when the bundled
models are not built (``msai models build``)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path

import pytest

from harness.platform.base import StackSpec
from harness.platform.local import LocalPlatform
from harness.settings import settings
from harness.supervisor import alive

pytestmark = pytest.mark.slow


def _built(service: str) -> bool:
    return (settings().models_path / service / "config.json").is_file()


@pytest.mark.skipif(
    not (_built("ner") and _built("vision")),
    reason="bundled models not built: run `msai models build`",
)
def test_real_servers_load_from_s3_and_answer_through_the_gateway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MSAI_LOCAL_REPLICA_COMMAND", raising=False)
    monkeypatch.setenv("MSAI_HOME", str(tmp_path))
    monkeypatch.setenv("MSAI_MODELS_DIR", str(settings().models_path))
    p = LocalPlatform(tmp_path / "local", tied=True)
    t0 = time.monotonic()
    p.up(StackSpec(profile="minimal"))
    try:
        up_s = time.monotonic() - t0
        assert up_s < 120
        url = p.endpoints()["ner"].url + "/v1/ner"
        body = json.dumps({"text": "Angela Merkel visited Paris with Siemens."}).encode()
        req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            out = json.loads(resp.read())
        assert resp.status == 200
        assert "entities" in json.dumps(out)
        logs = (tmp_path / "local" / "logs" / "ner-stable-0.log").read_text()
        assert "s3" in logs.lower()  # fetched through AWS_ENDPOINT_URL, not from .models
        entries = p.ledger.entries()
    finally:
        p.down()
    assert not [e.name for e in entries if alive(e)]

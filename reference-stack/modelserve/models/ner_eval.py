"""The hand-written NER evaluation set and entity-level F1 (seqeval, CoNLL rules).

``data/ner_eval.jsonl``: one sentence per line, ``{"text", "tokens", "tags"}`` with
token-level BIO tags (PER/ORG/LOC/MISC). Written by hand as news-style sentences, with
sentences that hold no entity and multi-word entities; the training generator never reads
it. Predictions (character spans) are mapped onto the set's tokens: a token takes the
label of the predicted entity it overlaps, ``B-`` for the entity's first token.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

__all__ = ["EVAL_SET", "EvalSentence", "Span", "entity_f1", "load_eval_set", "tags_for"]

EVAL_SET = Path(__file__).resolve().parent / "data" / "ner_eval.jsonl"


class Span(Protocol):
    @property
    def label(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class EvalSentence:
    text: str
    tokens: list[str]
    tags: list[str]
    offsets: list[tuple[int, int]]


def _offsets(text: str, tokens: Sequence[str]) -> list[tuple[int, int]]:
    out, pos = [], 0
    for tok in tokens:
        start = text.index(tok, pos)
        out.append((start, start + len(tok)))
        pos = start + len(tok)
    return out


def load_eval_set(path: Path = EVAL_SET) -> list[EvalSentence]:
    sentences = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            row = json.loads(line)
            tokens, tags = list(row["tokens"]), list(row["tags"])
            if len(tokens) != len(tags):
                raise ValueError(f"{path}: tokens and tags differ in length: {row['text']!r}")
            sentences.append(EvalSentence(row["text"], tokens, tags, _offsets(row["text"], tokens)))
    return sentences


def tags_for(sentence: EvalSentence, entities: Sequence[Span]) -> list[str]:
    tags = ["O"] * len(sentence.tokens)
    for ent in sorted(entities, key=lambda e: e.start):
        first = True
        for i, (a, b) in enumerate(sentence.offsets):
            if a < ent.end and b > ent.start and tags[i] == "O":
                tags[i] = ("B-" if first else "I-") + ent.label
                first = False
    return tags


def entity_f1(
    predict: Callable[[list[str]], Sequence[Sequence[Span]]],
    sentences: Sequence[EvalSentence] | None = None,
    batch_size: int = 16,
) -> dict[str, Any]:
    """Entity-level precision/recall/F1 overall and per type, plus the errors seen."""
    from seqeval.metrics import classification_report, f1_score, precision_score, recall_score

    sentences = list(sentences) if sentences is not None else load_eval_set()
    gold, pred = [], []
    for i in range(0, len(sentences), batch_size):
        chunk = sentences[i : i + batch_size]
        for sent, ents in zip(chunk, predict([s.text for s in chunk]), strict=True):
            gold.append(sent.tags)
            pred.append(tags_for(sent, ents))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # seqeval warns on types with no prediction
        report = classification_report(gold, pred, output_dict=True, zero_division=0)
        result: dict[str, Any] = {
            "f1": round(float(f1_score(gold, pred)), 4),
            "precision": round(float(precision_score(gold, pred)), 4),
            "recall": round(float(recall_score(gold, pred)), 4),
        }
    result["per_type"] = {
        k: round(float(v["f1-score"]), 4)
        for k, v in report.items()
        if k in ("PER", "ORG", "LOC", "MISC")
    }
    result["sentences"] = len(sentences)
    result["mistakes"] = [
        {"text": s.text, "gold": g, "pred": p}
        for s, g, p in zip(sentences, gold, pred, strict=True)
        if g != p
    ]
    return result

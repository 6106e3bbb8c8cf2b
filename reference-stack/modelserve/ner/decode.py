"""Per-token label probabilities -> entities with character offsets into the input text.

Word level, like Hugging Face's ``aggregation_strategy="first"``: a word (as the tokenizer's
pre-tokenizer splits it) takes the label of its first word piece; BIO is repaired (an
``I-X`` that does not continue an ``X`` starts a new entity); an entity spans from its
first word's start to its last word's end in the original text, so ``text[start:end]``
is always the entity's text. The score is the mean probability of the chosen labels.
With ``case_edges`` (uncased checkpoints) lower-case words are trimmed from an entity's
edges, the English proper-noun convention the uncased vocabulary cannot see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from modelserve.ner.encode import Window

__all__ = ["Entity", "decode_entities", "split_label"]


@dataclass(frozen=True)
class Entity:
    label: str
    text: str
    start: int
    end: int
    score: float

    def to_json(self) -> dict[str, object]:
        return {
            "label": self.label,
            "text": self.text,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


def split_label(label: str) -> tuple[str, str]:
    """``"B-PER"`` -> ``("B", "PER")``; ``"O"`` -> ``("O", "")``; IO/BIOES schemes mapped
    onto B/I (``S-``/``U-`` start, ``E-``/``L-`` continue, a bare ``PER`` continues)."""
    if label in ("O", ""):
        return "O", ""
    prefix, sep, kind = label.partition("-")
    if not sep:
        return "I", label
    prefix = prefix.upper()
    if prefix in ("B", "S", "U"):
        return "B", kind
    return "I", kind


def decode_entities(
    text: str,
    windows: list[Window],
    probs: list[np.ndarray],
    labels: list[str],
    *,
    case_edges: bool = False,
) -> list[Entity]:
    """``probs[i]`` is ``(len(windows[i].input_ids), num_labels)`` softmax output.

    ``case_edges``: an entity never starts or ends with a word that begins with a
    lower-case letter ("the central bank" is no ORG; "Lula da Silva" keeps its "da"). An
    uncased model cannot see case; the server turns this on for such checkpoints.
    """
    # (word index) -> (start, end, label index, probability), first piece decides the label.
    words: dict[int, tuple[int, int, int, float]] = {}
    order: list[int] = []
    for window, p in zip(windows, probs, strict=True):
        # One argmax and one conversion a window, not numpy scalars a token (~2 us each).
        best_k = p.argmax(axis=-1).tolist()
        chosen = p.max(axis=-1).tolist()  # the probability at best_k
        for pos, (off, word) in enumerate(zip(window.offsets, window.words, strict=True)):
            if off is None or word is None or off[1] <= off[0]:
                continue
            if word not in words:
                words[word] = (off[0], off[1], best_k[pos], chosen[pos])
                order.append(word)
            else:
                start, end, k, score = words[word]
                words[word] = (start, max(end, off[1]), k, score)
    entities: list[Entity] = []
    # current entity: (type, [(start, end, score) per word])
    current: tuple[str, list[tuple[int, int, float]]] | None = None

    def close() -> None:
        if current is None:
            return
        kind, parts = current
        if case_edges:
            while parts and _lower_initial(text, parts[0][0]):
                parts = parts[1:]
            while parts and _lower_initial(text, parts[-1][0]):
                parts = parts[:-1]
        if parts:
            start, end = parts[0][0], parts[-1][1]
            score = sum(p[2] for p in parts) / len(parts)
            entities.append(Entity(kind, text[start:end], start, end, score))

    for word in order:
        start, end, k, score = words[word]
        prefix, kind = split_label(labels[k])
        if prefix == "O":
            close()
            current = None
        elif prefix == "I" and current is not None and current[0] == kind:
            current[1].append((start, end, score))
        else:
            close()
            current = (kind, [(start, end, score)])
    close()
    return entities


def _lower_initial(text: str, start: int) -> bool:
    return text[start].isalpha() and text[start].islower()

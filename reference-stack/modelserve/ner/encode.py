"""Text -> model windows, with the character offsets that decoding maps back to.

Training (``modelserve.models.ner_build``) and serving both call :func:`encode`, so the
model is fed exactly the same way in both. A text longer than one window is split at word
boundaries into several windows (each ``[CLS] ... [SEP]``), each its own row of the batch.

Case feature: the bundled MiniLM is uncased (its tokenizer lower-cases), which throws away
capitalisation, the strongest cue for names in English. When the checkpoint's config says
``"msai_case_feature": true`` each token's ``token_type_ids`` is 1 if its first character is
upper-case in the original text (BERT's segment embedding, fine-tuned for the purpose).
Standard checkpoints (bert-base-NER) lack the key and get all-zero segment ids, as usual.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Window", "batch_arrays", "encode"]


@dataclass(frozen=True)
class Window:
    """One model row: ids with specials; per-token offsets/word index (None for specials)."""

    input_ids: list[int]
    token_type_ids: list[int]
    offsets: list[tuple[int, int] | None]
    words: list[int | None]  # word index within the whole text


def encode(
    tokenizer: Any,
    text: str,
    *,
    max_length: int,
    cls_id: int,
    sep_id: int,
    case_feature: bool,
) -> list[Window]:
    """Encode ``text`` (a ``tokenizers.Tokenizer`` with no truncation/padding) into windows."""
    enc = tokenizer.encode(text, add_special_tokens=False)
    ids: list[int] = list(enc.ids)
    offsets: list[tuple[int, int]] = [tuple(o) for o in enc.offsets]
    words: list[int | None] = list(enc.word_ids)
    room = max(1, max_length - 2)
    windows: list[Window] = []
    start = 0
    while start < len(ids) or not windows:
        end = min(len(ids), start + room)
        if end < len(ids) and words[end] is not None and words[end] == words[end - 1]:
            # do not cut a word in two unless it alone is longer than a window
            cut = end
            while cut > start and words[cut] == words[cut - 1]:
                cut -= 1
            end = cut if cut > start else end
        span = range(start, end)
        type_ids = [0]
        for i in span:
            first = text[offsets[i][0] : offsets[i][0] + 1]
            type_ids.append(1 if case_feature and first.isupper() else 0)
        type_ids.append(0)
        windows.append(
            Window(
                input_ids=[cls_id, *(ids[i] for i in span), sep_id],
                token_type_ids=type_ids,
                offsets=[None, *(offsets[i] for i in span), None],
                words=[None, *(words[i] for i in span), None],
            )
        )
        start = end
    return windows


def batch_arrays(windows: list[Window], pad_id: int) -> dict[str, np.ndarray]:
    """Pad windows to the longest into ``input_ids``/``attention_mask``/``token_type_ids``."""
    width = max(len(w.input_ids) for w in windows)
    ids = np.full((len(windows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), width), dtype=np.int64)
    types = np.zeros((len(windows), width), dtype=np.int64)
    for row, w in enumerate(windows):
        n = len(w.input_ids)
        ids[row, :n] = w.input_ids
        mask[row, :n] = 1
        types[row, :n] = w.token_type_ids
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}

"""The NER model through its served path: ONNX Runtime + the server's tokenisation/decoding.

Entity-level F1 on the hand-written evaluation set, the evaluation set kept apart from the
training generator, long texts in several windows, the torch option, a plain Hugging Face
checkpoint directory, an s3:// URI (moto), bad inputs, and property tests of the parsers.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _models_support import moto_s3, ner_models_dir  # noqa: F401  (fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.common.artifacts import ArtifactSettings
from modelserve.common.errors import BadInput, PayloadTooLarge
from modelserve.models.ner_build import base_model_dir, training_sentences
from modelserve.models.ner_data import LABELS, TEMPLATES
from modelserve.models.ner_eval import entity_f1, load_eval_set
from modelserve.ner.decode import decode_entities
from modelserve.ner.encode import Window
from modelserve.ner.model import NerModel
from modelserve.ner.settings import NerSettings

SLOW = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=60
)


def _model(uri: str, cache: Path, **kw: Any) -> NerModel:
    model = NerModel(
        NerSettings(model_uri=uri, threads=1, **kw), ArtifactSettings(cache_dir=str(cache))
    )
    model.load()
    return model


@pytest.fixture(scope="module")
def ner(ner_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> NerModel:  # noqa: F811
    return _model(str(ner_models_dir / "ner"), tmp_path_factory.mktemp("cache"))


def _predict(model: NerModel, texts: list[str]) -> list[Any]:
    return model.predict([model.parse_text(t, "text") for t in texts])


def test_f1_on_the_hand_written_set_through_the_served_path(ner: NerModel) -> None:
    assert ner.backend.runtime == "onnxruntime"
    score = entity_f1(lambda texts: _predict(ner, texts))
    assert score["sentences"] >= 150
    assert score["f1"] >= 0.85, (score["f1"], score["per_type"], score["mistakes"][:10])


def test_eval_set_is_varied_and_never_seen_in_training() -> None:
    sentences = load_eval_set()
    texts = {s.text for s in sentences}
    assert len(texts) == len(sentences) >= 150
    assert sum(all(t == "O" for t in s.tags) for s in sentences) >= 10, "sentences without entities"
    assert sum(any(t.startswith("I-") for t in s.tags) for s in sentences) >= 30, "multi-word"
    kinds = {t[2:] for s in sentences for t in s.tags if t != "O"}
    assert kinds == {"PER", "ORG", "LOC", "MISC"}
    training = training_sentences()
    norm = {re.sub(r"\W+", " ", t).lower().strip() for t in texts}
    assert not texts & {s.text for s in training}
    assert not norm & {re.sub(r"\W+", " ", s.text).lower().strip() for s in training}
    # Not template output either: no eval sentence matches a template with its slots filled.
    patterns = [
        re.compile("^" + re.sub(r"\\\{[A-Z]+\\\}", ".+", re.escape(t)) + "$") for t in TEMPLATES
    ]
    matched = [s.text for s in sentences if any(p.match(s.text) for p in patterns)]
    assert not matched


def test_entities_carry_offsets_into_the_original_text(ner: NerModel) -> None:
    text = "  Yesterday  Angela Merkel flew from Berlin to Washington\tfor talks with Google.  "
    (ents,) = _predict(ner, [text])
    for e in ents:
        assert text[e.start : e.end] == e.text
        assert 0.0 <= e.score <= 1.0
    found = {(e.label, e.text) for e in ents}
    assert ("PER", "Angela Merkel") in found
    assert ("LOC", "Berlin") in found
    body = ner.to_json(ents)
    assert body["entities"][0]["start"] == text.index(ents[0].text)
    v2 = ner.to_v2(
        ner.predict(
            ner.parse_v2(
                [
                    {
                        "name": "text",
                        "datatype": "BYTES",
                        "shape": [2],
                        "data": [text, b"No names here."],
                    }
                ]
            )
        )
    )
    assert v2[0]["name"] == "entities"
    assert v2[0]["shape"] == [2]
    assert json.loads(v2[0]["data"][0]) == body["entities"]
    meta = ner.metadata()
    assert meta.extra["entity_types"] == ["LOC", "MISC", "ORG", "PER"]
    assert meta.inputs[0].name == "text"
    assert meta.inputs[0].datatype == "BYTES"


def test_long_text_is_split_into_windows(ner_models_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    model = _model(str(ner_models_dir / "ner"), tmp_path, max_seq_len=32, max_text_chars=5000)
    sentence = "Officials in Madrid said Maria Lopez would meet executives from Siemens. "
    text = sentence * 12
    windows = model.windows(text)
    assert len(windows) > 3
    assert all(len(w.input_ids) <= 32 for w in windows)
    (ents,) = model.predict([model.parse_text(text, "text")])
    for e in ents:
        assert text[e.start : e.end] == e.text
    starts = {e.start for e in ents if e.text == "Madrid"}
    assert len(starts) >= 10, "entities found in every window, not just the first"


def test_torch_runtime_agrees_with_onnx(ner: NerModel, tmp_path: Path) -> None:
    assert ner.model_dir is not None
    torch_model = _model(str(ner.model_dir), tmp_path, runtime="torch")
    texts = [s.text for s in load_eval_set()[:24]]
    a = [[(e.label, e.start, e.end) for e in out] for out in _predict(ner, texts)]
    b = [[(e.label, e.start, e.end) for e in out] for out in _predict(torch_model, texts)]
    assert a == b
    assert torch_model.metadata().platform == "pytorch"


def _save_tiny_bert(path: Path, with_tokenizer_json: bool) -> None:
    import torch
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    # bert-base-NER's label order, which differs from ours: labels must come from config.json
    labels = ["O", "B-MISC", "I-MISC", "B-PER", "I-PER", "B-ORG", "I-ORG", "B-LOC", "I-LOC"]
    config = BertConfig(
        vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, num_labels=9, id2label=dict(enumerate(labels)),
        label2id={v: i for i, v in enumerate(labels)},
    )  # fmt: skip
    BertForTokenClassification(config).eval().save_pretrained(path)
    names = ["vocab.txt", "tokenizer_config.json", "special_tokens_map.json"]
    if with_tokenizer_json:
        names.append("tokenizer.json")
    for name in names:
        shutil.copyfile(base_model_dir() / name, path / name)


@pytest.mark.parametrize("with_tokenizer_json", [True, False])
def test_loads_a_hugging_face_checkpoint_dir(tmp_path: Path, with_tokenizer_json: bool) -> None:
    ckpt = tmp_path / "bert-tiny-ner"
    _save_tiny_bert(ckpt, with_tokenizer_json)
    onnx = _model(str(ckpt), tmp_path / "cache")
    assert list((tmp_path / "cache" / "onnx").glob("*/model.onnx"))
    assert onnx.labels[1] == "B-MISC"
    assert not onnx.case_feature
    torch_model = _model(str(ckpt), tmp_path / "cache2", runtime="torch")
    texts = ["Angela Merkel visited the Siemens plant in Munich.", "nothing much happened"]
    # Random weights give near-uniform probabilities, so compare the networks' outputs, not
    # argmax decisions that float rounding may flip.
    from modelserve.ner.encode import batch_arrays

    windows = [w for t in texts for w in onnx.windows(t)]
    feeds = batch_arrays(windows, 0)
    np.testing.assert_allclose(onnx.backend.run(feeds), torch_model.backend.run(feeds), atol=1e-4)
    for text, ents in zip(texts, _predict(onnx, texts), strict=True):
        assert all(text[e.start : e.end] == e.text for e in ents)


def test_loads_from_s3_via_moto(ner: NerModel, moto_s3: str, tmp_path: Path) -> None:  # noqa: F811
    from modelserve.models.publish import publish_model

    assert ner.model_dir is not None
    pub = publish_model(ner.model_dir, "models", "ner", "2", endpoint_url=moto_s3, log=print)
    artifacts = ArtifactSettings(cache_dir=str(tmp_path), s3_endpoint_url=moto_s3)
    remote = NerModel(NerSettings(model_uri=pub.uri, threads=1), artifacts)
    remote.load()
    assert remote.model_dir is not None
    assert tmp_path in remote.model_dir.parents
    text = "Officials from the United Nations met in Geneva on Monday."
    assert _predict(remote, [text]) == _predict(ner, [text])


TOO_LONG = "word " * 500


@pytest.mark.parametrize(
    ("item", "field", "status"),
    [
        ("a string", "req", 400),
        ([{"text": "x"}], "req", 400),
        (None, "req", 400),
        ({}, "req.text", 400),
        ({"text": 5}, "req.text", 400),
        ({"text": ["Angela"]}, "req.text", 400),
        ({"text": None}, "req.text", 400),
        ({"text": ""}, "req.text", 400),
        ({"text": " \n\t "}, "req.text", 400),
        ({"text": "hi", "lang": "en"}, "req.lang", 400),
        ({"text": TOO_LONG}, "req.text", 413),
    ],
)
def test_bad_json_items(item: Any, field: str, status: int) -> None:
    model = NerModel(NerSettings(max_text_chars=2000), ArtifactSettings())  # parsing: no weights
    with pytest.raises(BadInput) as info:
        model.parse_json(item, "req")
    assert info.value.field == field
    assert info.value.status == status
    assert isinstance(info.value, PayloadTooLarge) == (status == 413)


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ([], "inputs"),
        ({"name": "text"}, "inputs"),
        (["text"], "inputs[0]"),
        (
            [{"name": "sentence", "datatype": "BYTES", "shape": [1], "data": ["x"]}],
            "inputs[0].name",
        ),
        ([{"name": "text", "datatype": "FP32", "shape": [1], "data": [1.0]}], "text.datatype"),
        ([{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["x"]}], "text.shape"),
        ([{"name": "text", "datatype": "BYTES", "shape": [1, 1], "data": ["x"]}], "text.shape"),
        ([{"name": "text", "datatype": "BYTES", "shape": [1], "data": "x"}], "text.data"),
        ([{"name": "text", "datatype": "BYTES", "shape": [0], "data": []}], "text.data"),
        ([{"name": "text", "datatype": "BYTES", "shape": [2], "data": ["ok", 3]}], "text.data[1]"),
        (
            [{"name": "text", "datatype": "BYTES", "shape": [1], "data": [b"\xff\xfe"]}],
            "text.data[0]",
        ),
        ([{"name": "text", "datatype": "BYTES", "shape": [1], "data": [""]}], "text.data[0]"),
        ([{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["x"]}] * 2, "inputs"),
    ],
)
def test_bad_v2_inputs_name_the_input(inputs: Any, field: str) -> None:
    model = NerModel(NerSettings(), ArtifactSettings())
    with pytest.raises(BadInput) as info:
        model.parse_v2(inputs)
    assert info.value.field == field
    assert info.value.status == 400


def _attempt(fn: Any, *args: Any) -> tuple[Any, str]:
    """``(result, "")`` or ``(None, field)`` when ``fn`` raised BadInput; anything else fails."""
    try:
        return fn(*args), ""
    except BadInput as exc:
        error = exc
    assert error.field, "every BadInput names a field"
    return None, error.field


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=10,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(item=_json | st.fixed_dictionaries({"text": _json | st.text(max_size=60)}))
def test_parse_json_raises_only_bad_input(item: Any) -> None:
    model = NerModel(NerSettings(max_text_chars=40), ArtifactSettings())
    parsed, field = _attempt(model.parse_json, item, "x")
    if parsed is None:
        assert field.startswith("x")
    else:
        assert parsed.text == item["text"]
        assert parsed.text.strip()


_v2 = st.lists(
    st.fixed_dictionaries(
        {"name": st.sampled_from(["text", "txt"]) | _json,
         "datatype": st.sampled_from(["BYTES", "FP32"]) | _json,
         "shape": st.lists(st.integers(-1, 3), max_size=2) | _json,
         "data": st.lists(st.text(max_size=20) | st.binary(max_size=20) | _json, max_size=3)
         | _json}
    ),
    max_size=2,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(inputs=_v2 | _json)
def test_parse_v2_raises_only_bad_input(inputs: Any) -> None:
    model = NerModel(NerSettings(), ArtifactSettings())
    items, field = _attempt(model.parse_v2, inputs)
    assert items is not None or field


@st.composite
def _decoding_case(draw: st.DrawFn) -> tuple[str, list[Window], list[np.ndarray]]:
    words = draw(st.lists(st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]),
                                  min_size=1, max_size=6), min_size=1, max_size=12))  # fmt: skip
    gaps = draw(st.lists(st.sampled_from([" ", "  ", "\t", "\n", ""]), min_size=len(words),
                         max_size=len(words)))  # fmt: skip
    text, offsets, word_ids = "", [], []
    for i, (w, gap) in enumerate(zip(words, gaps, strict=True)):
        text += gap
        # a word of one or two pieces
        cut = draw(st.integers(0, len(w) - 1)) if len(w) > 1 else 0
        pieces = (
            [(len(text), len(text) + len(w))]
            if not cut
            else [(len(text), len(text) + cut), (len(text) + cut, len(text) + len(w))]
        )
        offsets += pieces
        word_ids += [i] * len(pieces)
        text += w
    size = draw(st.integers(1, max(1, len(offsets))))
    windows, probs = [], []
    for start in range(0, len(offsets), size):
        offs = offsets[start : start + size]
        ids = word_ids[start : start + size]
        n = len(offs) + 2
        windows.append(Window([0] * n, [0] * n, [None, *offs, None], [None, *ids, None]))
        seed = draw(st.integers(0, 2**31 - 1))
        p = np.random.default_rng(seed).random((n, len(LABELS))).astype(np.float32)
        probs.append(p / p.sum(-1, keepdims=True))
    return text, windows, probs


@settings(max_examples=300, deadline=None)
@given(case=_decoding_case())
def test_decoded_offsets_always_slice_back(
    case: tuple[str, list[Window], list[np.ndarray]],
) -> None:
    text, windows, probs = case
    ents = decode_entities(text, windows, probs, LABELS)
    last_end = -1
    for e in ents:
        assert text[e.start : e.end] == e.text
        assert e.start < e.end
        assert e.start >= last_end, "entities are ordered and never overlap"
        last_end = e.end
        assert e.label in {"PER", "ORG", "LOC", "MISC"}
        assert 0.0 <= e.score <= 1.0


def test_decoding_takes_each_words_first_piece_and_averages_its_words() -> None:
    # "Ada Love|lace met IBM": the second piece of Lovelace says O, which does not count;
    # a tie between O and B-ORG goes to the first label (argmax), so "met" is O.
    text = "Ada Lovelace met IBM"
    offsets = [(0, 3), (4, 8), (8, 12), (13, 16), (17, 20)]
    words = [0, 1, 1, 2, 3]
    window = Window([0] * 7, [0] * 7, [None, *offsets, None], [None, *words, None])
    rows = {1: ("B-PER", 0.9), 2: ("I-PER", 0.7), 3: ("O", 0.8), 5: ("B-ORG", 0.6)}
    probs = np.full((7, len(LABELS)), 0.01, dtype=np.float32)
    for row, (label, p) in rows.items():
        probs[row, LABELS.index(label)] = p
    probs[4, [LABELS.index("O"), LABELS.index("B-ORG")]] = 0.5
    ents = decode_entities(text, [window], [probs], LABELS)
    assert [(e.label, e.text, e.start, e.end) for e in ents] == [
        ("PER", "Ada Lovelace", 0, 12),
        ("ORG", "IBM", 17, 20),
    ]
    assert ents[0].score == pytest.approx((0.9 + 0.7) / 2)  # float32 values, so approx
    assert ents[1].score == pytest.approx(0.6)


@SLOW
@given(text=st.text(min_size=1, max_size=200).filter(str.strip))
def test_served_path_offsets_slice_back_on_any_text(ner: NerModel, text: str) -> None:
    (ents,) = ner.predict([ner.parse_text(text, "text")])
    for e in ents:
        assert text[e.start : e.end] == e.text
        assert e.text == e.text.strip() or not e.text.strip()

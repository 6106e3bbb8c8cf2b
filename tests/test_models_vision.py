"""The image classifier through its served path: PNG bytes in, label out.

Accuracy on the held-out digits, the torch option, loading a plain Hugging Face checkpoint
directory and an s3:// URI (moto), and every kind of bad input.
"""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _models_support import moto_s3, vision_models_dir  # noqa: F401  (fixtures)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from modelserve.common.artifacts import ArtifactSettings
from modelserve.common.errors import BadInput, ModelLoadError, PayloadTooLarge
from modelserve.models.digits import digit_png, load_digits_split
from modelserve.vision.model import VisionModel
from modelserve.vision.settings import VisionSettings
from PIL import Image


def _model(uri: str, cache: Path, **kw: Any) -> VisionModel:
    settings = VisionSettings(model_uri=uri, threads=1, **kw)
    model = VisionModel(settings, ArtifactSettings(cache_dir=str(cache)))
    model.load()
    return model


@pytest.fixture(scope="module")
def vision(vision_models_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> VisionModel:  # noqa: F811
    return _model(str(vision_models_dir / "vision"), tmp_path_factory.mktemp("cache"))


def _png(size: tuple[int, int] = (8, 8), fmt: str = "PNG", mode: str = "L") -> bytes:
    buf = io.BytesIO()
    Image.new(mode, size, 128).save(buf, format=fmt)
    return buf.getvalue()


def test_held_out_accuracy_through_the_served_path(vision: VisionModel) -> None:
    _, _, images, labels = load_digits_split()
    correct = 0
    for start in range(0, len(labels), 32):
        batch = [vision.parse_bytes(digit_png(img)) for img in images[start : start + 32]]
        outs = vision.predict(batch)
        correct += sum(
            o.top[0][0] == str(y) for o, y in zip(outs, labels[start : start + 32], strict=True)
        )
    accuracy = correct / len(labels)
    assert len(labels) >= 300
    assert accuracy >= 0.95, f"held-out accuracy {accuracy:.4f}"


def test_json_route_and_v2_agree(vision: VisionModel) -> None:
    _, _, images, labels = load_digits_split()
    png = digit_png(images[0])
    item = vision.parse_json({"image_b64": base64.b64encode(png).decode(), "top_k": 3}, "x")
    out = vision.to_json(vision.predict([item])[0])
    assert len(out["predictions"]) == 3
    assert out["predictions"][0]["label"] == str(labels[0])
    scores = [p["score"] for p in out["predictions"]]
    assert scores == sorted(scores, reverse=True)
    v2_in = [
        {
            "name": "image",
            "datatype": "BYTES",
            "shape": [2],
            "data": ["data:image/png;base64," + base64.b64encode(png).decode(), png],
        }
    ]
    outs = vision.predict(vision.parse_v2(v2_in))
    tensors = {t["name"]: t for t in vision.to_v2(outs)}
    preds = [json.loads(s) for s in tensors["predictions"]["data"]]
    assert [p[0]["label"] for p in preds] == [str(labels[0])] * 2
    assert tensors["probabilities"]["shape"] == [2, 10]
    # FP32 [N,3,H,W] preprocessed input gives the same answer as the bytes.
    fp32 = [
        {
            "name": "image",
            "datatype": "FP32",
            "shape": [1, 3, 32, 32],
            "data": item.pixels.ravel().tolist(),
        }
    ]
    assert vision.predict(vision.parse_v2(fp32))[0].top[0][0] == str(labels[0])
    meta = vision.metadata()
    assert meta.extra["labels"] == [str(i) for i in range(10)]
    assert {(t.name, t.datatype) for t in meta.inputs} == {("image", "BYTES"), ("image", "FP32")}


def test_jpeg_and_colour_images_are_accepted(vision: VisionModel) -> None:
    for data in (_png((40, 30), "JPEG", "RGB"), _png((5, 9), "PNG", "RGBA")):
        out = vision.predict([vision.parse_bytes(data)])[0]
        assert 0.0 <= out.top[0][1] <= 1.0


def test_torch_runtime_matches_onnx(vision: VisionModel, tmp_path: Path) -> None:
    assert vision.model_dir is not None
    torch_model = _model(str(vision.model_dir), tmp_path, runtime="torch")
    _, _, images, _ = load_digits_split()
    batch = [vision.parse_bytes(digit_png(img)) for img in images[:16]]
    a = np.stack([o.probabilities for o in vision.predict(batch)])
    b = np.stack([o.probabilities for o in torch_model.predict(batch)])
    assert np.abs(a - b).max() < 1e-4
    assert torch_model.metadata().platform == "pytorch"


def _save_tiny_resnet(path: Path, shortest_edge: bool) -> None:
    import torch
    from modelserve.vision.preprocess import ImagePreprocessor
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(0)
    config = ResNetConfig(
        embedding_size=8,
        hidden_sizes=[8, 16],
        depths=[1, 1],
        layer_type="bottleneck",
        num_labels=3,
        id2label={0: "cat", 1: "dog", 2: "fox"},
        label2id={"cat": 0, "dog": 1, "fox": 2},
    )
    ResNetForImageClassification(config).eval().save_pretrained(path)
    pre = ImagePreprocessor(height=24, width=24, shortest_edge=shortest_edge, resample=3)
    (path / "preprocessor_config.json").write_text(json.dumps(pre.to_config()))


def _normalise_by_arithmetic(pre: Any, img: Image.Image) -> np.ndarray:
    """The preprocessing as first written (every image to RGB, five array operations):
    the reference the lookup-table version must equal bit for bit, since models were
    trained on its output."""
    img = pre.resize(img.convert("RGB"))
    arr = np.asarray(img, dtype=np.float32) * np.float32(pre.rescale_factor)
    norm = (arr - np.asarray(pre.mean, np.float32)) / np.asarray(pre.std, np.float32)
    return np.ascontiguousarray(norm.transpose(2, 0, 1), dtype=np.float32)


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA", "1", "I;16"])
def test_preprocessing_is_bit_identical_to_the_arithmetic(mode: str) -> None:
    from modelserve.vision.preprocess import ImagePreprocessor

    rng = np.random.default_rng(0)
    preprocessors = [
        ImagePreprocessor(height=32, width=32, mean=(0.5,) * 3, std=(0.5,) * 3),
        ImagePreprocessor(),  # ImageNet statistics, a different value per channel
        ImagePreprocessor(height=24, width=24, shortest_edge=True, resample=3),
    ]
    for pre in preprocessors:
        for size in [(8, 8), (37, 20), (300, 211)]:
            pixels = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
            if mode == "I;16":
                img = Image.fromarray(pixels[:, :, 0].astype(np.uint16) * 200)
            else:
                img = Image.fromarray(pixels).convert(mode)
            got, want = pre(img), _normalise_by_arithmetic(pre, img)
            assert got.dtype == np.float32
            assert got.flags.c_contiguous
            assert got.shape == want.shape == (3, pre.height, pre.width)
            assert np.array_equal(got, want), (mode, size, float(np.abs(got - want).max()))


@pytest.mark.parametrize("shortest_edge", [True, False])
def test_loads_a_hugging_face_checkpoint_dir(tmp_path: Path, shortest_edge: bool) -> None:
    ckpt = tmp_path / "resnet-tiny"
    _save_tiny_resnet(ckpt, shortest_edge)
    onnx = _model(str(ckpt), tmp_path / "cache")
    assert list((tmp_path / "cache" / "onnx").glob("*/model.onnx")), "export cached"
    torch_model = _model(str(ckpt), tmp_path / "cache2", runtime="torch")
    data = [_png((50, 30), "PNG", "RGB"), _png((31, 64), "JPEG", "RGB")]
    a = onnx.predict([onnx.parse_bytes(d) for d in data])
    b = torch_model.predict([torch_model.parse_bytes(d) for d in data])
    assert onnx.labels == ["cat", "dog", "fox"]
    for x, y in zip(a, b, strict=True):
        assert np.abs(x.probabilities - y.probabilities).max() < 1e-4
    assert onnx.metadata().extra["image_size"] == [24, 24]


def test_loads_from_s3_via_moto(vision: VisionModel, moto_s3: str, tmp_path: Path) -> None:  # noqa: F811
    from modelserve.models.publish import publish_model

    assert vision.model_dir is not None
    published = publish_model(
        vision.model_dir, "artifacts", "vision", "1", endpoint_url=moto_s3, log=lambda _m: None
    )
    assert published.uri == "s3://artifacts/vision/1"
    artifacts = ArtifactSettings(cache_dir=str(tmp_path), s3_endpoint_url=moto_s3)
    model = VisionModel(VisionSettings(model_uri=published.uri, threads=1), artifacts)
    model.load()
    assert model.model_dir is not None
    assert tmp_path in model.model_dir.parents
    png = digit_png(load_digits_split()[2][0])
    assert (
        model.predict([model.parse_bytes(png)])[0].top
        == vision.predict([vision.parse_bytes(png)])[0].top
    )
    # Re-publish: the bucket is versioned, so both versions of config.json are kept.
    publish_model(
        vision.model_dir, "artifacts", "vision", "1", endpoint_url=moto_s3, log=lambda _m: None
    )
    from modelserve.common.artifacts import s3_client

    versions = s3_client(moto_s3).list_object_versions(
        Bucket="artifacts", Prefix="vision/1/config.json"
    )["Versions"]
    assert len(versions) == 2
    missing = VisionModel(VisionSettings(model_uri="s3://artifacts/nothing/1"), artifacts)
    with pytest.raises(ModelLoadError, match="no objects"):
        missing.load()


def test_missing_model_names_the_path(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=str(tmp_path)):
        _model(str(tmp_path), tmp_path)
    with pytest.raises(ModelLoadError, match="msai models build"):
        VisionModel(VisionSettings(), ArtifactSettings(models_dir=str(tmp_path))).load()


B64_PNG = base64.b64encode(_png()).decode()


@pytest.mark.parametrize(
    ("item", "field", "error"),
    [
        ("just a string", "req", BadInput),
        (["list"], "req", BadInput),
        ({}, "req.image_b64", BadInput),
        ({"image_b64": 12}, "req.image_b64", BadInput),
        ({"image_b64": "%%% not base64"}, "req.image_b64", BadInput),
        (
            {"image_b64": base64.b64encode(b"hello, not an image").decode()},
            "req.image_b64",
            BadInput,
        ),
        (
            {"image_b64": base64.b64encode(b"GIF89a" + b"\0" * 20).decode()},
            "req.image_b64",
            BadInput,
        ),
        (
            {"image_b64": _png()[:30] and base64.b64encode(_png()[:30]).decode()},
            "req.image_b64",
            BadInput,
        ),
        ({"image_b64": B64_PNG, "top_k": 0}, "req.top_k", BadInput),
        ({"image_b64": B64_PNG, "top_k": True}, "req.top_k", BadInput),
        ({"image_b64": B64_PNG, "top_k": "3"}, "req.top_k", BadInput),
        ({"image_b64": B64_PNG, "top_k": 99}, "req.top_k", BadInput),
        ({"image_b64": B64_PNG, "colour": 1}, "req.colour", BadInput),
        ({"image_b64": "data:image/png;base64"}, "req.image_b64", BadInput),
    ],
)
def test_bad_json_items(vision: VisionModel, item: Any, field: str, error: type) -> None:
    with pytest.raises(error) as info:
        vision.parse_json(item, "req")
    assert info.value.field == field
    assert info.value.status == 400


def test_oversized_images_are_413(vision_models_dir: Path, tmp_path: Path) -> None:  # noqa: F811
    small = _model(
        str(vision_models_dir / "vision"), tmp_path, max_image_bytes=200, max_image_pixels=100 * 100
    )
    big_bytes = _png((300, 300), "PNG", "RGB")  # compresses, but not under 200 bytes
    big_pixels = _png((101, 100))
    assert len(big_pixels) <= 200
    for data, why in ((big_bytes, "bytes"), (big_pixels, "pixels")):
        with pytest.raises(PayloadTooLarge, match=why) as info:
            small.parse_bytes(data)
        assert info.value.status == 413
        assert info.value.field == "image"
    with pytest.raises(PayloadTooLarge):
        small.parse_json({"image_b64": base64.b64encode(big_bytes).decode()}, "x")
    with pytest.raises(PayloadTooLarge):  # refused before base64 decoding
        small.parse_json({"image_b64": "A" * 4000}, "x")


@pytest.mark.parametrize(
    ("inputs", "field"),
    [
        ([], "inputs"),
        ("image", "inputs"),
        (
            [{"name": "pixels", "datatype": "BYTES", "shape": [1], "data": [B64_PNG]}],
            "inputs[0].name",
        ),
        ([{"name": "image", "datatype": "INT32", "shape": [1], "data": [1]}], "image.datatype"),
        ([{"name": "image", "datatype": "BYTES", "shape": [2], "data": [B64_PNG]}], "image.shape"),
        (
            [{"name": "image", "datatype": "BYTES", "shape": [1, 1], "data": [B64_PNG]}],
            "image.shape",
        ),
        ([{"name": "image", "datatype": "BYTES", "shape": [1], "data": B64_PNG}], "image.data"),
        ([{"name": "image", "datatype": "BYTES", "shape": [1], "data": [7]}], "image.data[0]"),
        (
            [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["bm90IGFuIGltYWdl"]}],
            "image.data[0]",
        ),
        (
            [{"name": "image", "datatype": "FP32", "shape": [1, 3, 8, 8], "data": [0.0] * 192}],
            "image.shape",
        ),
        (
            [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [0.0] * 5}],
            "image.data",
        ),
        (
            [
                {
                    "name": "image",
                    "datatype": "FP32",
                    "shape": [1, 3, 32, 32],
                    "data": [float("nan")] * 3072,
                }
            ],
            "image.data",
        ),
        (
            [{"name": "image", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": ["x"] * 3072}],
            "image.data",
        ),
        (
            [
                {
                    "name": "image",
                    "datatype": "BYTES",
                    "shape": [1],
                    "data": [B64_PNG],
                    "parameters": {"top_k": -1},
                }
            ],
            "image.parameters.top_k",
        ),
        (
            [
                {"name": "image", "datatype": "BYTES", "shape": [1], "data": [B64_PNG]},
                {"name": "image", "datatype": "BYTES", "shape": [1], "data": [B64_PNG]},
            ],
            "inputs",
        ),
    ],
)
def test_bad_v2_inputs_name_the_input(vision: VisionModel, inputs: Any, field: str) -> None:
    with pytest.raises(BadInput) as info:
        vision.parse_v2(inputs)
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
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=12,
)
_items = st.one_of(
    _json,
    st.fixed_dictionaries(
        {
            "image_b64": st.text(max_size=64)
            | st.binary(max_size=64).map(lambda b: base64.b64encode(b).decode())
        },
        optional={"top_k": _json},
    ),
)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(item=_items)
def test_parse_json_raises_only_bad_input(vision: VisionModel, item: Any) -> None:
    parsed, field = _attempt(vision.parse_json, item, "item")
    if parsed is None:
        assert field.startswith("item")
    else:
        assert parsed.pixels.shape == (3, 32, 32)


_tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(["image", "img"]) | _json,
        "datatype": st.sampled_from(["BYTES", "FP32", "INT8"]) | _json,
        "shape": st.lists(st.integers(-2, 4), max_size=4) | _json,
        "data": st.lists(st.floats() | st.text(max_size=8) | st.binary(max_size=16), max_size=6)
        | _json,
    },
    optional={"parameters": _json},
)


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(inputs=st.lists(_tensor, max_size=2) | _json)
def test_parse_v2_raises_only_bad_input(vision: VisionModel, inputs: Any) -> None:
    items, field = _attempt(vision.parse_v2, inputs)
    if items is None:
        assert field
    else:
        assert all(i.pixels.shape == (3, 32, 32) for i in items)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300), cut=st.integers(0, 200))
def test_parse_bytes_on_garbage_and_truncated_images(
    vision: VisionModel, data: bytes, cut: int
) -> None:
    for raw in (data, _png((12, 7))[:cut] + data):
        parsed, field = _attempt(vision.parse_bytes, raw)
        assert parsed is not None or field == "image"

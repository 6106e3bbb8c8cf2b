"""Settings of the image classifier (prefix ``MSAI_VISION_``)."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.common.errors import ConfigError
from modelserve.common.precision import check_precision
from modelserve.common.runtime import RUNTIMES
from modelserve.common.settings import env_field, load_settings

__all__ = ["VisionSettings"]


@dataclass(frozen=True)
class VisionSettings:
    """What the classifier loads and what it accepts."""

    name: str = env_field("vision", "model name in OIP routes")
    model_uri: str = env_field(
        "bundled:vision", "bundled:vision, a checkpoint directory, or s3://bucket/prefix"
    )
    runtime: str = env_field("onnxruntime", "onnxruntime (default) or torch")
    precision: str = env_field(
        "fp32", "fp32, or int8: the quantised ONNX model the bundled build writes beside it"
    )
    device: str = env_field("auto", "auto (CUDA when present), cpu or cuda")
    threads: int = env_field(0, "intra-op threads for one forward pass; 0 lets the runtime pick")
    max_image_bytes: int = env_field(4 * 1024 * 1024, "largest encoded image (bytes); 413 above")
    max_image_pixels: int = env_field(
        4096 * 4096, "largest decoded image (width x height pixels); 413 above"
    )
    max_request_pixels: int = env_field(
        4096 * 4096,
        "most pixels one request's images may hold in all (width x height, summed); 413 above",
    )
    top_k: int = env_field(5, "labels returned when the request names no top_k")
    max_top_k: int = env_field(20, "largest top_k a request may ask for (400 above)")

    def validate(self) -> None:
        check_precision(self.precision, self.runtime, "MSAI_VISION_")
        if self.runtime not in RUNTIMES:
            raise ConfigError(
                f"MSAI_VISION_RUNTIME={self.runtime!r}: expected one of {RUNTIMES}",
                field="MSAI_VISION_RUNTIME",
            )
        for var, value in (
            ("MAX_IMAGE_BYTES", self.max_image_bytes),
            ("MAX_IMAGE_PIXELS", self.max_image_pixels),
            ("MAX_REQUEST_PIXELS", self.max_request_pixels),
            ("TOP_K", self.top_k),
            ("MAX_TOP_K", self.max_top_k),
        ):
            if value < 1:
                raise ConfigError(f"MSAI_VISION_{var}={value}: must be >= 1", field=var)
        if self.threads < 0:
            raise ConfigError("MSAI_VISION_THREADS must be >= 0", field="MSAI_VISION_THREADS")

    @classmethod
    def from_env(cls) -> VisionSettings:
        return load_settings(cls, "MSAI_VISION_")

"""Settings of the NER server's model (prefix ``MSAI_NER_``)."""

from __future__ import annotations

from dataclasses import dataclass

from modelserve.common.errors import ConfigError
from modelserve.common.precision import check_precision
from modelserve.common.runtime import RUNTIMES
from modelserve.common.settings import env_field, load_settings

__all__ = ["NerSettings"]


@dataclass(frozen=True)
class NerSettings:
    """What the NER model loads and what it accepts."""

    name: str = env_field("ner", "model name in OIP routes")
    model_uri: str = env_field(
        "bundled:ner", "bundled:ner, a checkpoint directory, or s3://bucket/prefix"
    )
    runtime: str = env_field("onnxruntime", "onnxruntime (default) or torch")
    precision: str = env_field(
        "fp32", "fp32, or int8: the quantised ONNX model the bundled build writes beside it"
    )
    device: str = env_field("auto", "auto (CUDA when present), cpu or cuda")
    threads: int = env_field(0, "intra-op threads for one forward pass; 0 lets the runtime pick")
    max_text_chars: int = env_field(2000, "longest accepted text (characters); 413 above")
    max_seq_len: int = env_field(
        256, "tokens per model window incl. [CLS]/[SEP]; longer texts use several windows"
    )
    min_score: float = env_field(0.0, "entities scoring below this are dropped (0..1)")
    case_edges: bool = env_field(
        True,
        "uncased checkpoints only: trim lower-case-initial words from entity edges "
        "(English proper nouns); cased checkpoints see case themselves and ignore this",
    )

    def validate(self) -> None:
        check_precision(self.precision, self.runtime, "MSAI_NER_")
        if self.runtime not in RUNTIMES:
            raise ConfigError(
                f"MSAI_NER_RUNTIME={self.runtime!r}: expected one of {RUNTIMES}",
                field="MSAI_NER_RUNTIME",
            )
        if self.max_text_chars < 1:
            raise ConfigError("MSAI_NER_MAX_TEXT_CHARS must be >= 1", field="MAX_TEXT_CHARS")
        if not 8 <= self.max_seq_len <= 512:
            raise ConfigError("MSAI_NER_MAX_SEQ_LEN must be in 8..512", field="MAX_SEQ_LEN")
        if not 0.0 <= self.min_score <= 1.0:
            raise ConfigError("MSAI_NER_MIN_SCORE must be in 0..1", field="MIN_SCORE")
        if self.threads < 0:
            raise ConfigError("MSAI_NER_THREADS must be >= 0", field="THREADS")

    @classmethod
    def from_env(cls) -> NerSettings:
        return load_settings(cls, "MSAI_NER_")

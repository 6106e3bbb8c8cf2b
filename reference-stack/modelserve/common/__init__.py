"""Pieces every server shares: settings loading, the error tree, batching, metrics, drain."""

from modelserve.common.errors import (
    BadInput,
    ConfigError,
    ModelNotFound,
    ModelNotReady,
    ModelServeError,
    Overloaded,
    PayloadTooLarge,
)
from modelserve.common.settings import env_field, load_settings

__all__ = [
    "BadInput",
    "ConfigError",
    "ModelNotFound",
    "ModelNotReady",
    "ModelServeError",
    "Overloaded",
    "PayloadTooLarge",
    "env_field",
    "load_settings",
]

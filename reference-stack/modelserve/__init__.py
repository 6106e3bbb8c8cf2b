"""ModelServeAI model servers: BERT NER, ResNet classification and the pipeline orchestrator.

This package is what gets deployed (container images, local replicas). It must not import
the harness, chaos, load or report packages (an import-linter contract checks it).
"""

__all__ = ["__version__"]

__version__ = "0.1.0"

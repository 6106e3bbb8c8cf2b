"""Image classification: a ResNet behind the Model protocol.

``model.VisionModel`` (parse / predict / shape outputs), ``settings.VisionSettings``
(``MSAI_VISION_*``) and ``preprocess`` (PNG/JPEG bytes -> normalised tensor).
"""

__all__: list[str] = []

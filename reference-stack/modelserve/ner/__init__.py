"""Named-entity recognition: a BERT-family token classifier behind the Model protocol.

``model.NerModel`` (parse / predict / shape outputs), ``settings.NerSettings``
(``MSAI_NER_*``), ``encode`` (text -> model windows with offsets) and ``decode``
(probabilities -> entities with character offsets).
"""

__all__: list[str] = []

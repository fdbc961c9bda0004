"""YOLOX (Megvii, Apache-2.0) written for this app: the network in ``engine.models.yolox``
(state-dict keys of the released ``.pth`` files; shared with Teach, which trains it), the
grid decoding in ``decode.py``, the ``Detector`` in ``detector.py``, loading a ``.pth`` in
``loading.py``, a model folder (config.json + model.safetensors, as Teach saves it) in
``folder.py`` and the catalog entries in ``entries.py``."""

"""YOLOX (Megvii, Apache-2.0) written for this app: the network in ``model.py`` (state-dict
keys of the released ``.pth`` files), the grid decoding in ``decode.py``, the ``Detector``
in ``detector.py``, loading a ``.pth`` in ``loading.py`` and the catalog entries in
``entries.py``."""

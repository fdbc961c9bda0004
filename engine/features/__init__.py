"""The features: one package each (detect, faces, style, inspect, teach, ...), found by
``registry`` through the ``FEATURE`` each package's ``__init__`` declares.

Importing this package makes the registry the model catalog's provider
(``engine.models.catalog`` is a layer below and never imports the features).
"""

from engine.features.registry import install_catalog_provider

install_catalog_provider()

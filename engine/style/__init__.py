"""Neural style transfer: Gatys optimisation for photos, AdaIN for the live feed.

Modules: ``vgg`` (VGG-19 feature extractor, torchvision layout), ``costs`` (Gram matrix,
content/style/TV costs), ``gatys`` (the optimisation as a cancellable generator),
``adain`` (real-time arbitrary style transfer), ``live`` (tasks for the live feed: AdaIN,
and a colour-only fallback), ``imaging`` (tensors, colour preservation, input checks),
``metadata`` (settings inside saved PNGs), ``models`` (catalog lookups and weight
loading), ``catalog`` (downloadable weights).
"""

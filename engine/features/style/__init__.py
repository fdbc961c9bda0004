"""Neural style transfer: Gatys optimisation for photos; fast feed-forward styles and AdaIN for the live feed.

Modules: ``vgg`` (VGG-19 feature extractor, torchvision layout), ``costs`` (Gram matrix,
content/style/TV costs), ``gatys`` (the optimisation as a cancellable generator),
``adain`` (real-time arbitrary style transfer), ``transformer_net`` (the fast style network
in pytorch/examples' checkpoint layout), ``fast_style`` (running it on frames: processing
size, sharp upsample, speed options), ``vgg16`` + ``fast_train`` (training a fast style
with the perceptual loss), ``user_styles`` (the user's trained styles as catalog entries),
``stabilise`` (flow-based flicker reduction), ``live`` (tasks for the live feed and their
settings snapshot), ``jobs`` (photo stylisation and AdaIN preparation, shared by the CLI
and the GUI), ``controller`` (the Style tab's Qt-free state and commands), ``imaging``
(tensors, colour preservation, input checks), ``metadata`` (settings inside saved PNGs),
``models`` (catalog lookups; every loader goes through ``entry.build``), ``catalog``
(downloadable weights).
"""

"""Looking inside convolutional networks: layer table with receptive fields, live
activations, filters, ImageNet predictions, saliency and Grad-CAM, Integrated Gradients,
guided backprop and occlusion (``attribution``), the top-9 patches per unit
(``top_patches``), feature visualisation (``feature_vis``), Grad-CAM of a YOLO detection
(``detection_cam``) and the convolution explainer's arithmetic (``conv_arith``).

Pure engine code (torch, numpy, cv2); the Feature maps tab (through
:mod:`engine.features.inspect.controller`) and the ``inspect`` CLI show what it computes. Start
with :mod:`engine.features.inspect.zoo` to build a model; the ImageNet models are described once,
in :mod:`engine.features.inspect.catalog`.
"""

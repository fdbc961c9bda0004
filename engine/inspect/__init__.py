"""Looking inside convolutional networks: layer table with receptive fields, live
activations, filters, ImageNet predictions, saliency and Grad-CAM.

Pure engine code (torch, numpy, cv2); the Feature maps tab and the ``inspect`` CLI
show what it computes. Start with :mod:`engine.inspect.zoo` to build a model.
"""

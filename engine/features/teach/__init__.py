"""Teach: transfer learning from the webcam (Qt-free).

A project holds named classes and their samples (PNG files under the user data dir),
a backbone pretrained on ImageNet (or untrained, clearly labelled) turns each sample
into an embedding that is cached, and a small head trained on those embeddings (or the
last blocks of the backbone, fine-tuned) becomes a live classifier that can be
exported to TorchScript and ONNX.
"""

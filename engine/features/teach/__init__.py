"""Teach: transfer learning from the webcam (Qt-free).

A project holds named classes and their samples (PNG files under the user data dir),
a backbone pretrained on ImageNet (or untrained, clearly labelled) turns each sample
into an embedding that is cached, and a small head trained on those embeddings (or the
last blocks of the backbone, fine-tuned) becomes a live classifier that can be
exported to TorchScript and ONNX.
"""

from engine.features.registry import Feature

# Everything else names code by string, imported only when used (no torch, no Qt here).
FEATURE = Feature(
    key="teach",
    title="Teach",
    order=50,
    summary="your own classifiers",
    catalog="engine.features.teach.catalog",
    task="engine.features.teach.task:TeachTask",
    tab="gui.features.teach.tab:TeachTab",
    cli=("cli.teach",),
)

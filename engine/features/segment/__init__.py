"""Semantic segmentation: every pixel of the frame labelled with one of the 21 VOC classes.

Modules: ``catalog`` (torchvision's published LR-ASPP / DeepLabV3 / FCN weights),
``model`` (building the torchvision architecture, loading weights safely, running a
frame: the label map, per-pixel probability and per-class area), ``person`` (person mode:
background blur / picture / colour with a smoothed, flow-stabilised mask), ``task`` (the
live task and its settings snapshot), ``controller`` (the Segment tab's Qt-free state),
``jobs`` (images, folders and videos for the CLI).
"""

from engine.features.registry import Feature

# Everything else names code by string, imported only when used (no torch, no Qt here).
FEATURE = Feature(
    key="segment",
    title="Segment",
    order=60,
    summary="semantic segmentation and background blur",
    catalog="engine.features.segment.catalog",
    task="engine.features.segment.task:SegmentationTask",
    tab="gui.features.segment.tab:SegmentTab",
    cli=("cli.segment",),
)

"""Object detection: Darknet YOLO (cfg + .weights -> torch) and torchvision detectors.

Entry points: ``factory.load_detector(name)`` for catalog models,
``factory.detector_from_files(cfg, weights, names)`` for a user's files; both return a
``Detector`` whose ``detect(image_bgr)`` gives ``Detections`` (boxes in frame pixels).
``task.DetectionTask`` runs one on the live feed.
"""

from engine.features.registry import Feature

# Everything else names code by string, imported only when used (no torch, no Qt here).
FEATURE = Feature(
    key="detect",
    title="Detect",
    order=10,
    summary="object detection and tracking",
    catalog="engine.features.detect.catalog",
    task="engine.features.detect.task:DetectionTask",
    tab="gui.features.detect.tab:DetectTab",
    cli=("cli.detect", "cli.track"),
    inspectables=("engine.features.detect.inspectable:yolov3_tiny_spec",),
)

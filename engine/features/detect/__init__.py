"""Object detection: Darknet YOLO (cfg + .weights -> torch) and torchvision detectors.

Entry points: ``factory.load_detector(name)`` for catalog models,
``factory.detector_from_files(cfg, weights, names)`` for a user's files; both return a
``Detector`` whose ``detect(image_bgr)`` gives ``Detections`` (boxes in frame pixels).
``task.DetectionTask`` runs one on the live feed.
"""

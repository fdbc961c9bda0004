"""Teach a detector (Qt-free): labelled pictures in the YOLO txt layout, training a small
YOLOX on them, evaluating it with COCO-style mAP, and saving it as a model folder that
Detect opens as ``my-<name>``.

Modules: ``labels`` (the dataset and its reader/writer, with every bad label named and
counted), ``scenes`` (synthetic labelled scenes for tests, benchmarks and demos),
``metrics`` (COCO-style mAP, AP per class, precision-recall curves), ``evaluate`` (a
detector run on labelled pictures: metrics, misses and false positives per picture),
``training`` (``train_detector``: YOLOX nano/tiny from COCO weights or from scratch),
``loss`` (label assignment and loss), ``augment`` (mosaic, scale and place, flip, colour),
``trained`` (``TrainedDetector``: predict, save/load the model folder), ``export`` (ONNX).
"""

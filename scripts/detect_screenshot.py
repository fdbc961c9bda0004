#!/usr/bin/env python3
"""Render docs/detect-counting.png: the Detect tab counting on a synthetic street.

Objects move across a drawn counting line and through a zone; the real tracker, counters
and the tab's own painting and panel are used (offscreen Qt), so the picture shows what
the app shows. Run: QT_QPA_PLATFORM=offscreen python scripts/detect_screenshot.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import cv2  # noqa: E402
import numpy as np  # noqa: E402


def street(width: int, height: int, objects, frame: int) -> np.ndarray:
    """A road-like picture with each visible object drawn as a filled, outlined block."""
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None]
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (70 + 40 * y).astype(np.uint8)
    image[..., 1] = (80 + 30 * y).astype(np.uint8)
    image[..., 2] = (75 + 20 * y).astype(np.uint8)
    cv2.rectangle(image, (0, height // 2 - 90), (width, height // 2 + 90), (60, 60, 60), -1)
    for obj in objects:
        if obj.first <= frame <= obj.last:
            x1, y1, x2, y2 = (int(v) for v in obj.box(frame))
            colour = (200, 180, 90) if obj.class_id == 0 else (90, 120, 220)
            cv2.rectangle(image, (x1 + 4, y1 + 4), (x2 - 4, y2 - 4), colour, -1)
    return image


def main() -> int:
    import torch
    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QImage, QPainter
    from PySide6.QtWidgets import QApplication

    from engine.core.frame import Frame
    from engine.features.detect.counting import CountLine, Regions, Zone
    from engine.features.detect.scene_analysis import SceneAnalyzer
    from engine.features.detect.synthetic_scenes import MovingObject, render_detections
    from engine.features.detect.task import TrackedDetections
    from engine.features.detect.types import Detections
    from engine.models.cache import WeightsCache
    from engine.models.catalog import catalog
    from engine.runtime.worker import TaskResult, Timings
    from gui.common.context import AppContext
    from gui.features.detect.tab import DetectTab

    app = QApplication.instance() or QApplication([])
    width, height = 960, 540
    objects = [MovingObject(i + 1, 0, 4 * i, 200, (80.0 + 150 * i, 60.0), (0.4, 4.2), (44, 90)) for i in range(5)]
    objects += [MovingObject(10 + i, 2, 6 * i, 200, (900.0 - 160 * i, 480.0), (-0.5, -3.6), (110, 70)) for i in range(3)]
    regions = Regions((CountLine("crossing", (20, 270), (940, 270)),),
                      (Zone("kerb", ((620, 40), (940, 40), (940, 170), (620, 170))),))
    names = tuple(catalog().get("yolov4-tiny").meta["categories"])
    frames = render_detections(objects, 75, jitter=2.0, frame_size=(width, height), seed=2)
    with tempfile.TemporaryDirectory() as tmp:
        settings = QSettings(str(Path(tmp) / "s.ini"), QSettings.Format.IniFormat)
        settings.setValue("Detect/regions/street.mp4", regions.to_json())
        settings.setValue("Detect/tracking", True)
        context = AppContext(settings, torch.device("cpu"), weights_cache=WeightsCache(Path(tmp) / "models"))
        tab = DetectTab(context)
        tab._installed = True  # paint as with an installed model (the picture has no real detector)
        analyzer = SceneAnalyzer(regions, names)
        for truth in frames:
            tracked = analyzer.step(truth.det_boxes, truth.det_scores, truth.det_class_ids, truth.index / 10, truth.index)
            dets = Detections(truth.det_boxes, truth.det_scores, truth.det_class_ids, names, (width, height), "demo")
            frame = Frame(street(width, height, objects, truth.index), truth.index, truth.index / 10, "street.mp4")
            tab.on_result(TaskResult("detect", frame, TrackedDetections(dets, tracked), Timings(0, 5, 60, 5, 70, 80)))
        tab.resize(420, height + 300)
        tab.show()
        tab.refresh_views()
        app.processEvents()
        picture = np.ascontiguousarray(frame.image.copy())
        qimage = QImage(picture.data, width, height, picture.strides[0], QImage.Format.Format_BGR888)
        painter = QPainter(qimage)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
        tab.paint_overlay(painter, width, height)
        painter.end()
        panel = tab.regions_box.grab().toImage()
        canvas = QImage(width + panel.width() + 12, max(height, panel.height()), QImage.Format.Format_RGB32)
        canvas.fill(0x202024)
        painter = QPainter(canvas)
        painter.drawImage(0, 0, qimage)
        painter.drawImage(width + 12, 0, panel)
        painter.end()
        out = Path(__file__).resolve().parents[1] / "docs" / "detect-counting.png"
        canvas.save(str(out))
        print(f"wrote {out} ({canvas.width()}x{canvas.height()}); counts: {analyzer.counter.snapshot()}")
        tab.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

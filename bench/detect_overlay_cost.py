#!/usr/bin/env python3
"""GUI-thread CPU per result of the Detect tab's overlays, without the model's noise.

Feeds the real ``DetectTab`` the same real yolov4-tiny result (random Darknet weights, 44
boxes on a 1280x720 synthetic picture, jittered each time) and composes each one in a real
``VideoView`` (960x540, offscreen), as the live view does: ``on_result``, the picture
composed with the raster overlay and painted, ``refresh_views`` every 8th result (4 Hz at
30 results/s). Prints the GUI thread's CPU per result (``time.thread_time``) for plain
boxes, tracking + heat map, and the grid view, twice each. The in-app rate of the model
(``bench/gui_live.py --overlay``) depends on this cost: the GUI thread and the inference
thread share the interpreter lock.

    python bench/detect_overlay_cost.py            # none,heatmap,grid,none,heatmap,grid
    python bench/detect_overlay_cost.py grid
"""
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("CNN_STUDIO_HOME", tempfile.mkdtemp())


def main() -> int:
    import numpy as np
    import torch
    from PySide6.QtCore import QSettings
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([])  # noqa: F841 (kept alive)
    from engine.core.frame import Frame
    from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
    from engine.features.detect.names import bundled_path
    from engine.features.detect.scene_analysis import SceneAnalyzer
    from engine.features.detect.task import TrackedDetections
    from engine.models.cache import WeightsCache
    from engine.runtime.worker import TaskResult, Timings
    from gui.common.context import AppContext
    from gui.common.video_view import VideoView
    from gui.features.detect.tab import DetectTab

    tmp = tempfile.mkdtemp()
    weights = os.path.join(tmp, "yolov4-tiny.weights")
    write_random_weights(bundled_path("yolov4-tiny.cfg"), weights, seed=0)
    view = VideoView()
    view.resize(960, 540)
    view.show()
    context = AppContext(QSettings(os.path.join(tmp, "s.ini"), QSettings.Format.IniFormat), torch.device("cpu"),
                         weights_cache=WeightsCache(os.path.join(tmp, "models")), video_view=view)
    tab = DetectTab(context)
    tab.import_weights(weights)
    view.set_raster_overlay(tab.raster_overlay)
    view.set_overlay_painter(tab.paint_overlay)
    image = synthetic_image(720, 1280, seed=7)
    task = tab.make_task()
    task.load(torch.device("cpu"))
    frame0 = Frame(image, 0, 0.0, "v")
    with torch.inference_mode():
        d0 = task.postprocess(task.infer(task.preprocess(frame0)), frame0)
    print(f"{len(d0)} detections on a 1280x720 picture, view 960x540")
    timings = Timings(1.0, 2.0, 30.0, 3.0, 35.0, 40.0)
    rng = np.random.default_rng(0)

    def run(mode: str, n: int = 300) -> float:
        s = tab.settings_box
        s.track_check.setChecked(mode == "heatmap")
        s.heat_check.setChecked(mode == "heatmap")
        s.grid_check.setChecked(mode == "grid")
        analyzer = SceneAnalyzer(class_names=d0.class_names)
        results = []
        for i in range(n):
            d = d0.select(np.arange(len(d0)))
            object.__setattr__(d, "boxes", d0.boxes + rng.normal(0, 1.5, d0.boxes.shape).astype(np.float32))
            frame = Frame(image, i, 1000.0 + i / 30, "v")
            payload = d
            if mode == "heatmap":
                payload = TrackedDetections(d, analyzer.step(d.boxes, d.scores, d.class_ids, frame.timestamp, i))
            results.append(TaskResult("detect", frame, payload, timings))
        started = time.thread_time()
        for i, result in enumerate(results):
            tab.on_result(result)
            view.show_image(result.frame.image, i)
            view.grab()  # compose and paint now, as a repaint would
            if i % 8 == 0:
                tab.refresh_views()
        return (time.thread_time() - started) / n * 1000

    modes = sys.argv[1].split(",") if len(sys.argv) > 1 else ("none", "heatmap", "grid") * 2
    for mode in modes:
        print(f"{mode:8s} {run(mode):6.2f} ms GUI-thread CPU per result", flush=True)
    tab.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

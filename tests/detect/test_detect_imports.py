"""A Darknet `detect` run imports only what its work needs: no torchvision (whose import
pulls in torch._dynamo, seconds of start-up), no Qt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2

from engine.features.detect.backends.darknet.random_weights import synthetic_image

ROOT = Path(__file__).resolve().parents[2]

# Runs main.py as a script and reports, at exit, which heavy packages were loaded.
PROBE = """
import atexit, json, runpy, sys
out = sys.argv[1]
def report():
    heavy = ("torch", "torchvision", "torch._dynamo", "PySide6", "shiboken6", "pyqtgraph")
    with open(out, "w") as fh:
        json.dump(sorted(m for m in heavy if m in sys.modules), fh)
atexit.register(report)
sys.argv = ["main.py"] + sys.argv[2:]
runpy.run_path("main.py", run_name="__main__")
"""


def test_darknet_detect_never_imports_torchvision(darknet_weights, tmp_path):
    cfg, weights = darknet_weights("yolov4-tiny")
    image = tmp_path / "street.png"
    cv2.imwrite(str(image), synthetic_image(240, 320, seed=5))
    report = tmp_path / "modules.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", PROBE, str(report), "detect", str(image), "--cfg", str(cfg),
                           "--weights", str(weights), "--size", "256x192", "--json"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr
    record = json.loads(done.stdout.strip().splitlines()[0])
    assert record["detections"], "the run did detect (random weights are calibrated to find boxes)"
    loaded = json.loads(report.read_text())
    assert "torch" in loaded  # the probe sees real imports
    assert "torchvision" not in loaded and "torch._dynamo" not in loaded, loaded
    assert not {"PySide6", "shiboken6", "pyqtgraph"} & set(loaded)

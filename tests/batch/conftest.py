"""Fixtures of the batch tests: a home with generated yolov4-tiny weights installed, small
images and videos written with OpenCV, and the sequential `detect --json` rows they must give."""

from __future__ import annotations

import cv2
import pytest

import main as app_main
from engine.features.detect.backends.darknet.random_weights import synthetic_image, write_random_weights
from engine.features.detect.names import bundled_path
from tests.batch.rows import write_video


@pytest.fixture(scope="session")
def batch_home(tmp_path_factory):
    """A CNN_STUDIO_HOME with random (calibrated) yolov4-tiny weights imported as the catalog model."""
    import os

    home = tmp_path_factory.mktemp("batch-home")
    weights = home / "yolov4-tiny.weights"
    write_random_weights(bundled_path("yolov4-tiny.cfg"), weights, seed=0)
    previous = os.environ.get("CNN_STUDIO_HOME")
    os.environ["CNN_STUDIO_HOME"] = str(home / "home")
    try:
        assert app_main.main(["models", "import", "yolov4-tiny", str(weights)]) == 0
    finally:
        if previous is None:
            del os.environ["CNN_STUDIO_HOME"]
        else:
            os.environ["CNN_STUDIO_HOME"] = previous
    return home / "home"


@pytest.fixture
def home(batch_home, monkeypatch):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(batch_home))
    return batch_home


@pytest.fixture(scope="session")
def media(tmp_path_factory):
    """A folder with 3 images (one in a subfolder), 2 videos (5 and 4 frames at 10 fps) and a broken .jpg."""
    root = tmp_path_factory.mktemp("batch-media")
    (root / "sub").mkdir()
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png"]):
        cv2.imwrite(str(root / name), synthetic_image(120, 160, seed=i))
    write_video(root / "clip1.avi", 5, seed=20)
    write_video(root / "clip2.avi", 4, seed=40)
    (root / "broken.jpg").write_bytes(b"this is not a picture")
    return root

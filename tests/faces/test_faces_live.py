"""End to end in the real main window: image source -> worker -> Faces tab -> overlay in a snapshot."""

from __future__ import annotations

import cv2
import torch
from PySide6.QtCore import QSettings

from engine.features.faces.detectors import HaarDetector
from engine.features.faces.embedders import LBPEmbedder
from engine.features.faces.gallery import Gallery
from engine.features.faces.recognizer import FaceRecognizer


def test_a_live_feed_shows_the_enrolled_name(qtbot, tmp_path, monkeypatch, astronaut_variants):
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    from engine.features.faces.gallery import default_path
    from gui.features.faces.tab import FacesTab
    from gui.shell.main_window import MainWindow

    with Gallery(default_path()) as gallery:
        FaceRecognizer(HaarDetector(), LBPEmbedder(), gallery).enrol(
            "Eileen", [(n, astronaut_variants[n]) for n in ("original", "brighter")]
        )
    photo = tmp_path / "visitor.png"
    cv2.imwrite(str(photo), astronaut_variants["noisy"])

    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    window = MainWindow(settings, torch.device("cpu"), source=str(photo))
    qtbot.addWidget(window)
    try:
        faces = next(t for t in window.tabs if isinstance(t, FacesTab))
        window.tab_widget.setCurrentIndex(window.tabs.index(faces))
        window.show()
        qtbot.waitUntil(lambda: faces._last is not None and len(faces._last.faces) > 0, timeout=30000)
        face = faces._last.faces[0]
        assert face.label == "Eileen" and face.distance <= faces.threshold
        shot = cv2.imread(str(window.snapshot(tmp_path / "snap.png")))
        x1, y1, x2, _ = face.detection.box.astype(int)
        tag = shot[max(y1 - 30, 0):y1, x1:x2]
        green = (tag[..., 1] > 150) & (tag[..., 2] < 120)  # BGR: the "known" colour behind the name
        assert green.mean() > 0.2
    finally:
        window.shutdown()

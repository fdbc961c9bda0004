"""The Detector mode's session without Qt: capture with carried boxes, and a saved model
folder listed for Detect as my-<project name> through the settings store."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QSettings

from engine.core.errors import NotFound
from engine.features.detect import user_models
from engine.features.teach.detection.scenes import make_scene
from engine.features.teach.detection.session import DetectorSession, folder_name
from engine.models.user_model_list import forget, saved
from engine.models.yolox.folder import write_folder
from engine.models.yolox.model import build_yolox
from gui.common.settings import QSettingsStore


def test_capture_carries_the_last_boxes_and_drops_lost_ones(tmp_path):
    session = DetectorSession(tmp_path)
    project = session.new_project("Cups & spoons / test")
    assert project.root.name == "Cups spoons test" == folder_name("Cups & spoons / test")
    image, boxes, ids = make_scene(np.random.default_rng(2), (320, 240), 3)
    project.add_class("b")
    project.add_class("c")
    first = session.capture(image)
    assert (first.carried, first.lost) == (0, 0)
    project.set_boxes(first.picture.id, boxes, ids)
    shifted = np.roll(image, 5, axis=1)
    shifted[:, :5] = image[:, :5]
    covered = shifted.copy()
    x1, y1, x2, y2 = boxes[0].astype(int)
    covered[max(0, y1 - 5):y2 + 5, max(0, x1):x2 + 10] = 128  # hide the first object
    second = session.capture(covered)
    assert second.lost == 1 and second.carried == len(boxes) - 1
    assert second.picture.unconfirmed == tuple(range(len(boxes) - 1))
    np.testing.assert_array_equal(second.picture.class_ids, ids[1:])
    np.testing.assert_allclose(second.picture.boxes, boxes[1:] + np.float32([5, 0, 5, 0]), atol=2.0)
    session.carry = False
    assert session.capture(shifted).carried == 0


def test_use_in_detect_lists_the_saved_model_as_my_project(tmp_path):
    store = QSettingsStore(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
    session = DetectorSession(tmp_path / "detectors")
    project = session.new_project("Birds")
    project.add_class("tit")
    with pytest.raises(NotFound, match="no trained detector"):
        session.use_in_detect(store)
    write_folder(session.model_folder(), build_yolox("nano", 2), project.classes, (320, 320))
    assert session.use_in_detect(store) == "my-Birds"
    assert session.use_in_detect(store) == "my-Birds"  # once, however often it is pressed
    assert saved(store) == [(str(session.model_folder()), None)]
    entries, note = user_models.restore(store, ())  # what the Detect tab does when it starts
    assert note is None and [e.name for e in entries] == ["my-Birds"]
    assert entries[0].meta["categories"] == ("object", "tit")
    forget(store, [str(session.model_folder())])
    assert user_models.saved(store) == []

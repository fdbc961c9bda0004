"""Opening YOLOX weights files: the architecture and class count come from the shapes,
the names are checked against them, and what is not a YOLOX state dict (an Ultralytics
checkpoint, a pickled whole model, another network) is refused with one line, without
ever being unpickled."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch
from torch import nn

from engine.core.errors import UserError
from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.features.detect.backends.yolox.decode import grid_point_centres, point_centres
from engine.features.detect.backends.yolox.loading import UnsupportedWeightsError, yolox_from_pth
from engine.features.detect.backends.yolox.random_weights import random_state_dict, write_random_pth
from engine.models.yolox.model import build_yolox


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("yolox-files")
    return {"nano": write_random_pth(folder / "nano.pth", "nano"),
            "tiny7": write_random_pth(folder / "tiny7.pth", "tiny", num_classes=7), "folder": folder}


def one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert isinstance(exc.value, UserError) and "\n" not in text
    return text


@pytest.mark.parametrize("arch", ["nano", "tiny", "s"])
def test_architecture_is_read_from_the_shapes(tmp_path, arch):
    path = write_random_pth(tmp_path / "weights.pth", arch, num_classes=3)
    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    detector = yolox_from_pth(path, names, device="cpu")
    assert detector.model.arch.name == arch and detector.class_names == ("cat", "dog", "bird")
    assert detector.input_size == detector.model.arch.test_size
    assert detector.name == "weights"


def test_class_count_must_agree_with_the_names(files, tmp_path):
    six = tmp_path / "six.names"
    six.write_text("\n".join(f"c{i}" for i in range(6)) + "\n")
    with pytest.raises(UserError) as exc:
        yolox_from_pth(files["tiny7"], six)
    assert "lists 6 classes, but the model predicts 7" in one_line(exc)
    with pytest.raises(UserError) as exc:
        yolox_from_pth(files["tiny7"])
    assert "predicts 7 classes" in one_line(exc) and "--names" in str(exc.value)
    assert yolox_from_pth(files["nano"]).class_names[0] == "person"  # 80 classes, no names: COCO


def test_an_ultralytics_checkpoint_is_refused_unread(tmp_path):
    """A pickle naming ``ultralytics.nn.tasks.DetectionModel``: refused before loading
    (the module is never imported: the stand-in below is gone when the file is read)."""
    package = {name: types.ModuleType(name) for name in ("ultralytics", "ultralytics.nn", "ultralytics.nn.tasks")}

    class DetectionModel(nn.Module):
        pass

    DetectionModel.__module__ = "ultralytics.nn.tasks"
    DetectionModel.__qualname__ = "DetectionModel"
    package["ultralytics.nn.tasks"].DetectionModel = DetectionModel
    sys.modules.update(package)
    try:
        path = tmp_path / "yolov8n.pt"
        torch.save({"model": DetectionModel(), "epoch": -1}, path)
    finally:
        for name in package:
            sys.modules.pop(name)
    with pytest.raises(UnsupportedWeightsError) as exc:
        yolox_from_pth(path)
    text = one_line(exc)
    assert "Ultralytics (YOLOv5/YOLOv8-family) checkpoint" in text and "AGPL" in text and "YOLOX" in text and "D-FINE" in text
    assert "ultralytics" not in sys.modules


def test_a_pickled_whole_model_is_refused(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(build_yolox("nano"), path)
    with pytest.raises(UnsupportedWeightsError) as exc:
        yolox_from_pth(path)
    assert "pickled whole model" in one_line(exc) and "state_dict" in str(exc.value)


def test_other_files_are_refused_with_one_line(files, tmp_path):
    other = tmp_path / "resnet.pth"
    torch.save({"model": {"conv1.weight": torch.zeros(8, 3, 3, 3)}}, other)
    with pytest.raises(UnsupportedWeightsError) as exc:
        yolox_from_pth(other)
    assert "not a YOLOX weights file" in one_line(exc)

    state = random_state_dict("nano")
    state["backbone.backbone.dark3.1.conv3.bn.weight"] = torch.ones(5)
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": state}, wrong)
    with pytest.raises(UserError) as exc:
        yolox_from_pth(wrong)
    assert "'backbone.backbone.dark3.1.conv3.bn.weight' has shape (5,)" in one_line(exc)

    odd = build_yolox("nano").state_dict()
    odd = {k: v for k, v in odd.items() if not k.startswith("backbone.backbone.dark2.1.m.")}
    torch.save({"model": odd}, tmp_path / "odd.pth")
    with pytest.raises(UnsupportedWeightsError) as exc:
        yolox_from_pth(tmp_path / "odd.pth")
    assert "is not a size this app builds" in one_line(exc)

    text = tmp_path / "notes.pth"
    text.write_text("not weights")
    with pytest.raises(UserError) as exc:
        yolox_from_pth(text)
    one_line(exc)


def test_detections_say_which_grid_point_predicted_them(files):
    """The course view's data: per box its level (stride), grid point and the point's
    centre in input pixels; each level's grid covers the input."""
    detector = yolox_from_pth(files["nano"], device="cpu")
    detector.conf_threshold = 0.05
    found = detector.detect(synthetic_image(300, 451, seed=2))
    assert len(found) > 0 and found.extra["anchor_free"]
    grids = found.grids
    assert [(g.stride, g.cols, g.rows) for g in grids] == [(8, 52, 52), (16, 26, 26), (32, 13, 13)]
    level, gx, gy, anchor = found.origins.T
    assert set(anchor.tolist()) == {0}
    for k in range(len(found)):
        assert 0 <= gx[k] < grids[level[k]].cols and 0 <= gy[k] < grids[level[k]].rows
    stride = np.array([g.stride for g in grids])[level]
    np.testing.assert_allclose(point_centres(found.origins, grids), np.stack([(gx + 0.5) * stride, (gy + 0.5) * stride], 1))
    kept = found.select(found.scores > np.median(found.scores))  # as the live task filters them
    assert np.array_equal(point_centres(kept.origins, kept.grids), point_centres(found.origins, grids)[found.scores > np.median(found.scores)])
    lattice = grid_point_centres(grids[2])
    assert lattice.shape == (169, 2) and tuple(lattice[0]) == (16.0, 16.0) and tuple(lattice[-1]) == (400.0, 400.0)


def test_course_view_points_in_frame_pixels(files):
    from engine.features.detect.backends.yolox.course import point_levels, predicting_point

    detector = yolox_from_pth(files["nano"], device="cpu")
    detector.conf_threshold = 0.05
    frame = synthetic_image(300, 451, seed=2)  # letterboxed: ratio 416 / 451
    found = detector.detect(frame)
    levels = point_levels(found)
    assert [(lv.stride, len(lv.points)) for lv in levels] == [(8, 52 * 52), (16, 26 * 26), (32, 13 * 13)]
    ratio = 416 / 451
    np.testing.assert_allclose(levels[2].points[0], [16 / ratio, 16 / ratio], rtol=1e-6)
    best = int(np.argmax(found.scores))
    point = predicting_point(found, best)
    level, gx, gy, _ = found.origins[best]
    stride = found.grids[level].stride
    np.testing.assert_allclose(point.centre, [(gx + 0.5) * stride / ratio, (gy + 0.5) * stride / ratio], rtol=1e-5)
    assert f"stride {stride}" in point.text and f"point ({gx}, {gy})" in point.text
    assert predicting_point(found, len(found)) is None

"""The YOLO txt layout: read, write, and every kind of bad label named and counted."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from engine.core.errors import NotFound
from engine.features.teach.detection import labels as L
from engine.features.teach.detection.scenes import make_scene, scenes_dataset


def _picture(path, w=200, h=100):
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), 128, np.uint8))


def test_round_trip_keeps_boxes_to_a_pixel_fraction(tmp_path):
    source = scenes_dataset(tmp_path / "a", count=6, seed=3)
    assert source.box_count > 0 and not source.report
    copy = L.read_yolo_dataset(L.write_yolo_dataset(source, tmp_path / "b"))
    assert copy.classes == source.classes
    assert len(copy.images) == len(source.images)
    for a, b in zip(source.images, copy.images):
        assert a.image_path.name == b.image_path.name and (a.width, a.height) == (b.width, b.height)
        np.testing.assert_array_equal(a.class_ids, b.class_ids)
        np.testing.assert_allclose(a.boxes, b.boxes, atol=1e-3)


def test_scene_boxes_are_where_the_objects_were_drawn():
    image, boxes, ids = make_scene(np.random.default_rng(5))
    for (x1, y1, x2, y2) in boxes.astype(int):
        inside = image[y1 + 3:y2 - 3, (x1 + x2) // 2]
        outside = image[max(y1 - 4, 0), (x1 + x2) // 2] if y1 >= 4 else image[min(y2 + 3, image.shape[0] - 1), (x1 + x2) // 2]
        assert np.abs(inside.astype(int).mean(axis=0) - outside.astype(int)).max() > 25


def test_every_bad_label_is_named_and_counted(tmp_path):
    root = tmp_path / "data"
    (root / "classes.txt").parent.mkdir(parents=True)
    (root / "classes.txt").write_text("cat\ndog\n")
    for name in ("good", "bad", "empty", "unlabelled"):
        _picture(root / "images" / f"{name}.png")
    (root / "images" / "broken.jpg").write_bytes(b"\xff\xd8\xff not a jpeg")
    (root / "labels").mkdir()
    (root / "labels" / "broken.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "good.txt").write_text("0 0.5 0.5 0.5 0.5\n1 0.25 0.25 0.1 0.2\n")
    (root / "labels" / "bad.txt").write_text("7 0.5 0.5 0.2 0.2\n"      # class beyond classes.txt
                                           "0 0.5 0.5\n"               # malformed
                                           "1 0.95 0.5 0.2 0.2\n"      # reaches outside: clipped
                                           "0 0.5 0.5 0 0.3\n"         # zero size
                                           "1 1.5 0.5 0.2 0.2\n")      # entirely outside: zero size
    (root / "labels" / "empty.txt").write_text("\n")
    (root / "labels" / "orphan.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    data = L.read_yolo_dataset(root)
    counts = data.report.counts
    assert counts == {L.BAD_CLASS: 1, L.MALFORMED: 1, L.OUTSIDE: 1, L.ZERO_SIZE: 2, L.EMPTY_FILE: 1,
                      L.NO_LABELS: 1, L.NO_IMAGE: 1, L.UNREADABLE: 1}
    by_name = {item.image_path.stem: item for item in data.images}
    assert sorted(by_name) == ["bad", "empty", "good"]
    np.testing.assert_allclose(by_name["good"].boxes, [[50, 25, 150, 75], [40, 15, 60, 35]], atol=1e-3)
    np.testing.assert_allclose(by_name["bad"].boxes, [[170, 40, 200, 60]], atol=1e-3)  # clipped at x = 200
    assert len(by_name["empty"].boxes) == 0
    assert "1 class id beyond classes.txt" in data.report.summary()
    line = next(str(p) for p in data.report.problems if p.kind == L.BAD_CLASS)
    assert "bad.txt:1" in line and "class 7" in line


def test_unusable_folders_get_one_clear_error(tmp_path):
    with pytest.raises(NotFound, match="no such folder"):
        L.read_yolo_dataset(tmp_path / "missing")
    (tmp_path / "d").mkdir()
    with pytest.raises(L.LabelsError, match="classes.txt"):
        L.read_yolo_dataset(tmp_path / "d")
    (tmp_path / "d" / "classes.txt").write_text("a\n\nb\n")
    with pytest.raises(L.LabelsError, match="line 2 is blank"):
        L.read_yolo_dataset(tmp_path / "d")
    (tmp_path / "d" / "classes.txt").write_text("a\nb\n")
    with pytest.raises(L.LabelsError, match="images/"):
        L.read_yolo_dataset(tmp_path / "d")


def test_split_is_seeded_and_holds_out_at_least_one(tmp_path):
    data = scenes_dataset(tmp_path, count=10, seed=1)
    train, val = data.split(0.2, seed=4)
    again = data.split(0.2, seed=4)[1]
    assert len(train.images) == 8 and len(val.images) == 2
    assert [i.image_path for i in val.images] == [i.image_path for i in again.images]
    assert not {i.image_path for i in train.images} & {i.image_path for i in val.images}
    assert len(data.split(0.01, seed=0)[1].images) == 1

"""A detector project: captured frames, boxes, classes, review flags, YOLO import/export,
and a hostile project folder that cannot make us read, write or delete outside it."""

from __future__ import annotations

import json
import os

import cv2
import numpy as np
import pytest

from engine.features.teach.detection import labels as L
from engine.features.teach.detection.project import DetectorProject, DetectorProjectError, is_picture_id, list_projects
from engine.features.teach.detection.scenes import write_scenes


def _frame(seed: int = 0, size=(160, 120)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)


def test_capture_box_and_reopen(tmp_path):
    project = DetectorProject.create(tmp_path / "cups", ("cup", "spoon"))
    assert (tmp_path / "cups" / "classes.txt").read_text() == "cup\nspoon\n"
    first = project.add_frame(_frame(0))
    second = project.add_frame(_frame(1), np.array([[10, 20, 50, 60]]), np.array([1]), unconfirmed=[0])
    assert is_picture_id(first.id) and first.id < second.id  # capture order
    assert first.image_path.suffix == ".png" and cv2.imread(str(first.image_path)).shape == (120, 160, 3)
    assert (tmp_path / "cups" / "labels" / f"{first.id}.txt").read_text() == ""  # a background picture until boxed

    # boxes outside are clipped, a box under a pixel is dropped, the label file is YOLO
    saved = project.set_boxes(first.id, np.array([[-10, 5, 40, 30], [100, 100, 100.5, 110], [150, 100, 170, 130]]),
                              np.array([0, 0, 1]))
    np.testing.assert_allclose(saved.boxes, [[0, 5, 40, 30], [150, 100, 160, 120]])
    lines = (tmp_path / "cups" / "labels" / f"{first.id}.txt").read_text().splitlines()
    assert lines[0].split() == ["0", "0.125000", "0.145833", "0.250000", "0.208333"]
    with pytest.raises(DetectorProjectError, match="class id 2"):
        project.set_boxes(first.id, np.array([[0, 0, 9, 9]]), np.array([2]))

    infos = {p.id: p for p in project.pictures()}
    assert (infos[first.id].boxes, infos[first.id].unconfirmed) == (2, 0)
    assert (infos[second.id].boxes, infos[second.id].unconfirmed) == (1, 1)
    state = json.loads((tmp_path / "cups" / "detector.json").read_text())
    assert state["unconfirmed"] == {second.id: [0]}  # the review flag is in the sidecar, not the YOLO file

    again = DetectorProject.open(tmp_path / "cups")
    assert again.classes == ("cup", "spoon") and again.picture(second.id).unconfirmed == (0,)
    again.confirm(second.id)
    assert again.pictures()[1].unconfirmed == 0
    assert json.loads((tmp_path / "cups" / "detector.json").read_text())["unconfirmed"] == {}
    again.delete_picture(first.id)
    assert [p.id for p in again.pictures()] == [second.id]
    assert not (tmp_path / "cups" / "labels" / f"{first.id}.txt").exists()
    assert list_projects(tmp_path) == [tmp_path / "cups"]


def test_classes_added_renamed_and_removed_with_confirmation(tmp_path):
    project = DetectorProject.create(tmp_path / "p", ("a", "b", "c"))
    p = project.add_frame(_frame(), np.array([[0, 0, 10, 10], [10, 10, 30, 30], [40, 40, 60, 60], [5, 5, 9, 9]]),
                          np.array([0, 1, 2, 1]), unconfirmed=[2, 3])
    assert project.add_class("d") == 3
    with pytest.raises(DetectorProjectError, match="already a class"):
        project.add_class("A")
    project.rename_class("b", "bee")
    assert L.read_classes(tmp_path / "p" / "classes.txt") == ("a", "bee", "c", "d")
    assert project.boxes_of_class("bee") == 2
    with pytest.raises(DetectorProjectError, match="would delete its 2 box"):
        project.remove_class("bee")
    with pytest.raises(DetectorProjectError, match="would delete its 2 box"):
        project.remove_class("bee", confirm_boxes=1)
    assert project.remove_class("bee", confirm_boxes=2) == 2
    after = project.picture(p.id)
    assert project.classes == ("a", "c", "d")
    np.testing.assert_array_equal(after.class_ids, [0, 1])  # "c" moved from id 2 to 1
    np.testing.assert_allclose(after.boxes, [[0, 0, 10, 10], [40, 40, 60, 60]], atol=1e-3)
    assert after.unconfirmed == (1,)  # the flag followed its box
    assert project.remove_class("d") == 0  # no boxes: no confirmation needed
    project.remove_class("c", confirm_boxes=1)
    with pytest.raises(DetectorProjectError, match="only class"):
        project.remove_class("a", confirm_boxes=1)


def test_import_with_bad_labels_and_export_round_trip(tmp_path):
    source = write_scenes(tmp_path / "scenes", count=5, seed=2)
    labels = sorted((source / "labels").glob("*.txt"))
    labels[0].write_text("7 0.5 0.5 0.1 0.1\n0 0.5 0.5 0.2 0.2\n")  # one bad class id, one good box
    labels[1].write_text("not a label\n")
    (source / "images" / "extra.png").write_bytes(cv2.imencode(".png", _frame())[1].tobytes())  # no label file

    project = DetectorProject.create(tmp_path / "p", ("square", "star"))
    summary = project.import_yolo(source)
    assert summary.pictures == 5
    assert summary.report.counts == {L.BAD_CLASS: 1, L.MALFORMED: 1, L.NO_LABELS: 1}
    assert "1 class id beyond classes.txt" in summary.message()
    assert summary.new_classes == ("disc", "triangle")
    assert project.classes == ("square", "star", "disc", "triangle")
    # the source's ids were mapped by name: its "square" (1) is the project's 0
    data = L.read_yolo_dataset(source)
    mine = project.dataset()
    assert len(mine.images) == 5 and not mine.report
    want = sorted(tuple(np.round(b).astype(int)) + (("disc", "square", "triangle")[c],)
                  for item in data.images for b, c in zip(item.boxes, item.class_ids))
    got = sorted(tuple(np.round(b).astype(int)) + (project.classes[c],)
                 for item in mine.images for b, c in zip(item.boxes, item.class_ids))
    assert got == want and summary.boxes == len(want)

    out = project.export_yolo(tmp_path / "out")
    back = L.read_yolo_dataset(out)
    assert back.classes == project.classes and back.box_count == mine.box_count
    assert back.report.counts == {L.EMPTY_FILE: 1}  # the picture whose only line was malformed: background
    with pytest.raises(Exception, match="detector project"):
        project.export_yolo(tmp_path / "p" / "inside")


def test_a_hostile_project_folder_cannot_reach_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.txt"
    secret.write_text("0 0.5 0.5 0.5 0.5\n")
    project = DetectorProject.create(tmp_path / "p", ("a",))
    picture = project.add_frame(_frame())

    # a label file replaced by a link to a file outside: not read, not written through, not deleted
    label = tmp_path / "p" / "labels" / f"{picture.id}.txt"
    label.unlink()
    os.symlink(secret, label)
    with pytest.raises(DetectorProjectError, match="leads outside"):
        project.picture(picture.id)
    with pytest.raises(DetectorProjectError, match="leads outside"):
        project.set_boxes(picture.id, np.array([[0, 0, 5, 5]]), np.array([0]))
    with pytest.raises(DetectorProjectError, match="leads outside"):
        project.delete_picture(picture.id)
    assert secret.read_text() == "0 0.5 0.5 0.5 0.5\n"
    assert project.pictures() == []  # left out of the list, named in the log

    # ids that are not ours never become paths
    for bad in ("../../outside/secret", "p0000000000000000/../x", "", "P0123456789abcdef"):
        with pytest.raises(DetectorProjectError, match="not a picture id"):
            project.delete_picture(bad)

    # review flags naming other files are dropped when the project opens
    marker = tmp_path / "p" / "detector.json"
    state = json.loads(marker.read_text())
    state["unconfirmed"] = {"../../outside/secret": [0], picture.id: [0, "x"]}
    marker.write_text(json.dumps(state))
    assert DetectorProject.open(tmp_path / "p")._unconfirmed == {}

    # a model folder linked outside is never handed out (Detect would read it)
    (tmp_path / "p" / "model").mkdir()
    os.symlink(outside, tmp_path / "p" / "model" / "p")
    with pytest.raises(DetectorProjectError, match="leads outside"):
        project.model_folder("p")
    with pytest.raises(DetectorProjectError, match="plain folder name"):
        project.model_folder("..")
    project.clear_model()  # removes the link, never what it points to
    assert secret.is_file() and not (tmp_path / "p" / "model").exists()

    # a folder of the project linked outside: refused before anything is read
    images = tmp_path / "p" / "images"
    os.rename(images, outside / "images")
    os.symlink(outside / "images", images)
    with pytest.raises(DetectorProjectError, match="leads outside"):
        DetectorProject.open(tmp_path / "p")
    assert (outside / "images" / f"{picture.id}.png").is_file()

"""A YOLOX model folder (config.json model_type "yolox" + model.safetensors + classes.txt, as
Teach saves a trained detector) opens in Detect exactly as the same weights in a Megvii
``.pth``: `detect --model-dir FOLDER`, ``open_model_dir`` and the ``my-<name>`` entry."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

import main as app_main
from engine.core.errors import UserError
from engine.features.detect.backends.yolox.loading import yolox_from_pth
from engine.features.detect.backends.yolox.random_weights import random_model, write_random_pth
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from engine.features.detect.user_models import user_entry
from engine.models.yolox import folder as yolox_folder

NAMES = ("disc", "square", "triangle")


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """(the folder, the .pth and names file of the same seeded weights, a picture)."""
    root = tmp_path_factory.mktemp("yolox-folder")
    pth = write_random_pth(root / "shapes.pth", "nano", num_classes=3, seed=5)
    names = root / "shapes.names"
    names.write_text("".join(f"{n}\n" for n in NAMES))
    folder = yolox_folder.write_folder(root / "shapes", random_model("nano", 3, seed=5), NAMES, (320, 256),
                                       {"trained_by": "test"})
    rng = np.random.default_rng(3)
    image = rng.integers(0, 255, (240, 320, 3), dtype=np.uint8)
    cv2.circle(image, (100, 120), 40, (40, 60, 220), -1)
    picture = root / "scene.png"
    cv2.imwrite(str(picture), image)
    return folder, pth, names, picture


def test_the_folder_holds_the_format(saved):
    folder, *_ = saved
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "yolox" and config["architecture"] == "nano"
    assert config["id2label"] == {"0": "disc", "1": "square", "2": "triangle"} and config["input_size"] == [320, 256]
    assert config["trained_by"] == "test"
    assert (folder / "classes.txt").read_text().splitlines() == list(NAMES)
    model, spec, _ = yolox_folder.read_folder(folder)
    reference = random_model("nano", 3, seed=5).state_dict()
    assert set(model.state_dict()) == set(reference)  # Megvii's keys, counters included
    assert all(torch_equal(model.state_dict()[k], v) for k, v in reference.items())
    assert spec.classes == NAMES and spec.input_size == (320, 256)


def torch_equal(a, b) -> bool:
    return bool((a == b).all())


def test_same_detections_as_the_pth(saved):
    folder, pth, names, picture = saved
    image = cv2.imread(str(picture))
    options = DetectorOptions(conf_threshold=0.05, input_size=(320, 256))
    from_pth = yolox_from_pth(pth, names, options=options).detect(image)
    from_folder = open_model_dir(folder, options=options).detect(image)
    assert len(from_pth) == len(from_folder) > 0
    assert np.array_equal(from_pth.boxes, from_folder.boxes)
    assert np.array_equal(from_pth.scores, from_folder.scores)
    assert from_folder.labels == from_pth.labels and set(from_folder.labels) <= set(NAMES)
    assert open_model_dir(folder).input_size == (320, 256)  # the size it was trained at


def test_user_entry_and_cli(saved, capsys):
    folder, _, _, picture = saved
    entry = user_entry(folder)
    assert entry.name == "my-shapes" and entry.meta["categories"] == NAMES
    assert entry.capabilities.input_size.default == (320, 256) and entry.transforms.resize == "letterbox"
    assert "YOLOX" in entry.title
    detector = entry.build()
    assert detector.class_names == NAMES
    code = app_main.main(["detect", str(picture), "--model-dir", str(folder), "--conf", "0.05", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    record = json.loads(out)
    expected = open_model_dir(folder, options=DetectorOptions(conf_threshold=0.05)).detect(cv2.imread(str(picture)))
    assert [d["label"] for d in record["detections"]] == expected.labels
    assert np.allclose([d["box"] for d in record["detections"]], expected.boxes, atol=0.01)


def test_a_folder_that_does_not_fit_is_named(saved, tmp_path):
    folder, *_ = saved
    broken = tmp_path / "broken"
    broken.mkdir()
    for name in ("model.safetensors", "classes.txt"):
        (broken / name).write_bytes((folder / name).read_bytes())
    config = json.loads((folder / "config.json").read_text())
    config["architecture"] = "tiny"
    (broken / "config.json").write_text(json.dumps(config))
    for opener in (open_model_dir, user_entry):
        with pytest.raises(UserError, match="does not fit YOLOX-tiny with 3 classes"):
            opener(broken)
    config["architecture"], config["id2label"] = "nano", {"0": "disc"}
    (broken / "config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="1 classes: key 'head.cls_preds.0.weight'"):
        open_model_dir(broken)

"""`teach detect-train` and `teach export` of a detector folder through the real command;
fine-tuning from released-layout COCO weights (seeded random, 80 classes)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

import main as app_main
from engine.features.detect.backends.yolox.random_weights import random_state_dict, write_random_pth
from engine.features.teach.detection.scenes import write_scenes
from engine.features.teach.detection.training import DetectorTrainSettings, installed_coco_weights, train_detector
from engine.models.yolox.pretrained import PretrainedWeightsError, pretrained_model

ARGS = ["--untrained", "--epochs", "1", "--size", "128", "--seed", "4"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """8 scenes, one bad label line and one picture without labels."""
    root = write_scenes(tmp_path_factory.mktemp("data"), count=8, seed=1)
    with open(root / "labels" / "scene_0001.txt", "a") as fh:
        fh.write("7 0.5 0.5 0.1 0.1\n")
    (root / "labels" / "scene_0002.txt").unlink()
    return root


@pytest.fixture(scope="module")
def model(data, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "shapes"
    code = app_main.main(["teach", "detect-train", str(data), "-o", str(out), *ARGS])
    assert code == 0
    return out


def test_detect_train_prints_labels_estimate_and_map(data, tmp_path, capsys):
    out = tmp_path / "m"
    code = app_main.main(["teach", "detect-train", str(data), "-o", str(out), *ARGS])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    assert "read 7 pictures" in stderr
    assert "labels: 1 class id beyond classes.txt (box dropped), 1 picture without a label file (left out)" in stderr
    assert "from scratch" in stderr and "estimated time:" in stderr and "training:" in stderr
    assert "held-out mAP@0.5 " in stdout and "mAP@0.5:0.95 " in stdout and "model saved to" in stdout
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "yolox" and config["input_size"] == [128, 128]
    assert config["teach"]["start"].startswith("from scratch") and config["teach"]["held_out_pictures"] == 1
    assert (out / "classes.txt").read_text().split() == ["disc", "square", "triangle"]


def test_without_installed_weights_says_what_to_do(data, tmp_path, capsys, monkeypatch):
    # A home of its own: other tests install YOLOX weights into the shared test home.
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNN_STUDIO_MODELS", raising=False)
    assert installed_coco_weights("nano") is None
    code = app_main.main(["teach", "detect-train", str(data), "-o", str(tmp_path / "m"), "--epochs", "1"])
    _, stderr = capsys.readouterr()
    assert code == 2
    assert "COCO weights of YOLOX-nano are not installed" in stderr and "--untrained" in stderr
    assert not (tmp_path / "m" / "config.json").exists()


def test_bad_arguments_are_one_line(data, tmp_path, capsys):
    code = app_main.main(["teach", "detect-train", str(data), "-o", str(tmp_path / "m"), "--untrained", "--size", "100"])
    assert code == 2 and "multiple of 32" in capsys.readouterr().err
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    code = app_main.main(["teach", "detect-train", str(data), "-o", str(other), *ARGS])
    assert code == 2 and "not a model folder" in capsys.readouterr().err
    assert sorted(p.name for p in other.iterdir()) == ["notes.txt"]


def test_export_onnx_same_outputs_and_names(model, tmp_path, capsys):
    """A folder `detect-train` wrote; for the outputs, calibrated seeded weights (a model
    trained for one step has activations so large that float32 rounding shows)."""
    import onnx
    import onnxruntime

    from engine.features.detect.backends.yolox.random_weights import random_model
    from engine.features.teach.detection.trained import TrainedDetector, load_trained_detector

    code = app_main.main(["teach", "export", str(model), "--format", "onnx", "-o", str(tmp_path / "t" / "m.onnx")])
    assert code == 0 and (tmp_path / "t" / "m.onnx").is_file()
    model = TrainedDetector(random_model("nano", 3, seed=2), ("disc", "square", "triangle"), "nano", 128,
                            info={"start": "seeded"}).save(tmp_path / "seeded")
    target = tmp_path / "exports" / "shapes.onnx"
    code = app_main.main(["teach", "export", str(model), "--format", "onnx", "-o", str(target)])
    assert code == 0, capsys.readouterr().err
    meta = {p.key: p.value for p in onnx.load(str(target)).metadata_props}
    assert json.loads(meta["class_names"]) == ["disc", "square", "triangle"]
    assert meta["model_type"] == "yolox" and json.loads(meta["input_size"]) == [128, 128]
    assert json.loads(meta["cnn_studio"]) == {"start": "seeded"}
    assert (target.parent / "classes.txt").read_text().split() == ["disc", "square", "triangle"]
    session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 160, 192)).astype(np.float32)  # another size works too
    (got,) = session.run(None, {"images": x})
    with torch.inference_mode():
        expected = load_trained_detector(model)._network()(torch.from_numpy(x)).numpy()
    assert got.shape == expected.shape == (2, (20 * 24 + 10 * 12 + 5 * 6), 8)
    assert np.allclose(got[..., :4], expected[..., :4], atol=1e-3) and np.allclose(got[..., 4:], expected[..., 4:], atol=1e-5)
    code = app_main.main(["teach", "export", str(model), "--format", "torchscript", "-o", str(tmp_path / "x.pt")])
    assert code == 2 and "ONNX only" in capsys.readouterr().err


def test_fine_tuning_starts_from_the_coco_weights(data, tmp_path):
    from engine.features.teach.detection.labels import read_yolo_dataset

    coco = write_random_pth(tmp_path / "yolox_nano.pth", "nano", num_classes=80, seed=6)
    model = pretrained_model(coco, "nano", 3)
    released = random_state_dict("nano", 80, seed=6)
    state = model.state_dict()
    assert all(torch.equal(state[k], v) for k, v in released.items() if not k.startswith("head.cls_preds."))
    assert state["head.cls_preds.0.weight"].shape[0] == 3
    trained = train_detector(read_yolo_dataset(data), DetectorTrainSettings(input_size=128, epochs=1), pretrained=coco,
                             situation="test")
    assert trained.info["start"] == "COCO YOLOX-nano weights (yolox_nano.pth)"
    untrained = train_detector(read_yolo_dataset(data), DetectorTrainSettings(input_size=128, epochs=1, untrained=True),
                               pretrained=coco, situation="test")
    assert untrained.info["start"].startswith("from scratch")
    with pytest.raises(PretrainedWeightsError, match="not the released COCO YOLOX-tiny"):
        pretrained_model(coco, "tiny", 3)

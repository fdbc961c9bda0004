"""ONNX export of any detector's network: ONNX Runtime (a test dependency) computes what
our network computes, to 1e-4, through the engine function, the API and `models export`."""

from __future__ import annotations

import json

import numpy as np
import onnxruntime as ort  # a test dependency: missing, these tests fail rather than skip
import pytest
import torch
from torch import nn

import main as app_main
from engine import api
from engine.features.detect.detector import Detector, DetectorError
from engine.features.detect.onnx_export import export_onnx
from engine.features.detect.types import empty_detections
from engine.models.catalog import Transforms


class TwoHeads(nn.Module):
    """A tiny set-prediction-like network: (N, 3, H, W) -> {"logits", "boxes"} per query."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.BatchNorm2d(8), nn.SiLU(),
                                  nn.Conv2d(8, 16, 3, stride=2, padding=1), nn.GELU())
        self.logits = nn.Linear(16, 5)
        self.boxes = nn.Linear(16, 4)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        tokens = self.body(image).flatten(2).transpose(1, 2)  # (N, HW/16, 16): one query per cell
        return {"logits": self.logits(tokens), "boxes": self.boxes(tokens).sigmoid()}


class SetDetector(Detector):
    """A detector of another family: its network in ``self.model``, no input size of its own."""

    name = "toy-set"

    def __init__(self) -> None:
        super().__init__(("a", "b", "c", "d", "e"))
        torch.manual_seed(0)
        self.model = TwoHeads().eval()
        for module in self.model.modules():  # non-trivial batch-norm statistics
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-0.5, 0.5)
                module.running_var.uniform_(0.5, 2.0)
        self.transforms = Transforms(size=None, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))

    def detect(self, image_bgr):
        return empty_detections(self.class_names, (image_bgr.shape[1], image_bgr.shape[0]))


def test_any_detector_with_a_torch_network_exports(tmp_path):
    det = SetDetector()
    with pytest.raises(DetectorError, match="give the export an input size"):
        export_onnx(det, tmp_path / "set.onnx")
    path = export_onnx(det, tmp_path / "set.onnx", (96, 64))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["logits", "boxes"]
    x = torch.rand(2, 3, 64, 96, generator=torch.Generator().manual_seed(1))  # batch 2: the batch axis is free
    with torch.no_grad():
        ours = det.model(x)
    theirs = session.run(None, {"image": x.numpy()})
    assert theirs[0].shape == (2, 16 * 24, 5) and theirs[1].shape == (2, 16 * 24, 4)  # cells at stride 4
    for key, value in zip(("logits", "boxes"), theirs):
        assert np.abs(ours[key].numpy() - value).max() < 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["input_size"]) == [96, 64] and json.loads(meta["class_names"]) == list("abcde")
    assert json.loads(meta["transforms"])["std"] == [0.229, 0.224, 0.225]
    assert "heads" not in meta  # Darknet's decoding metadata belongs to Darknet exports

    class Networkless(Detector):
        name = "networkless"

        def detect(self, image_bgr):
            return empty_detections(self.class_names, (image_bgr.shape[1], image_bgr.shape[0]))

    with pytest.raises(DetectorError, match="networkless has none"):
        export_onnx(Networkless(("thing",)), tmp_path / "other.onnx", (64, 64))


@pytest.fixture()
def installed(darknet_weights, monkeypatch, tmp_path):
    """yolov4-tiny (random weights) installed in a home of its own."""
    monkeypatch.setenv("CNN_STUDIO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("CNN_STUDIO_MODELS", raising=False)
    _, weights = darknet_weights("yolov4-tiny")
    assert app_main.main(["models", "import", "yolov4-tiny", str(weights)]) == 0


def _compare_darknet(path, detector, size, image) -> None:
    width, height = size
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [o.name for o in session.get_outputs()] == ["head0", "head1"]
    x = torch.from_numpy(image[:height, :width, ::-1].transpose(2, 0, 1).astype(np.float32) / 255)[None].contiguous()
    with torch.inference_mode():
        ours = [h.float().numpy() for h in detector.model.float()(x)]
    theirs = session.run(None, {"image": x.numpy()})
    assert [t.shape for t in theirs] == [o.shape for o in ours] == [(1, 255, height // 32, width // 32),
                                                                      (1, 255, height // 16, width // 16)]
    for a, b in zip(ours, theirs):
        assert np.abs(a - b).max() < 1e-4
    meta = session.get_modelmeta().custom_metadata_map
    assert json.loads(meta["input_size"]) == [width, height] and len(json.loads(meta["heads"])) == 2


def test_the_api_and_models_export_write_what_onnx_runtime_runs_as_ours(installed, street_image, tmp_path, capsys):
    det = api.load_detector("yolov4-tiny", device="cpu", precision="fp32")
    path = det.export_onnx(tmp_path / "yolo.onnx", size=(320, 256))  # another size than the detector's 416
    assert path == tmp_path / "yolo.onnx" and not list(tmp_path.glob(".tmp-*"))
    _compare_darknet(path, det.engine_detector, (320, 256), street_image)

    capsys.readouterr()
    out = tmp_path / "cli.onnx"
    assert app_main.main(["models", "export", "yolov4-tiny", "--format", "onnx", "-o", str(out), "--size", "288x224"]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    _compare_darknet(out, det.engine_detector, (288, 224), street_image)

    # The model's own size rule, in one line.
    assert app_main.main(["models", "export", "yolov4-tiny", "-o", str(out), "--size", "300x224"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "multiples of 32" in err and len(err.strip().splitlines()) == 1

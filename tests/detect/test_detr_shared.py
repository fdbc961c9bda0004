"""The DETR family's shared pieces against Hugging Face transformers (a test dependency):
the preprocessing (antialiased resize) gives RTDetrImageProcessor's pixel values bit
for bit, and ``postprocess_set`` gives ``post_process_object_detection``'s detections.
Plus the model-folder reader and ``open_model_dir``'s dispatch on bad input: one
UserError line each, naming the file and what to do."""

from __future__ import annotations

import json
import sys
import types

import cv2
import numpy as np
import pytest
import skimage.data
import torch
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)
from safetensors.torch import save_file

from engine.core.errors import BadFormat, NotFound, Unsupported, UserError
from engine.features.detect.backends.detr import hf_folder
from engine.features.detect.backends.detr.detector import DETR_TRANSFORMS
from engine.features.detect.backends.detr.postprocess import postprocess_set
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.types import Detections
from engine.models.transforms import InputResolver


def _photos() -> list[np.ndarray]:
    """RGB photos: square (upscaled to 640), wide (upscaled), large (downscaled)."""
    coffee = skimage.data.coffee()
    return [skimage.data.astronaut(), coffee, cv2.resize(coffee, (1000, 777), interpolation=cv2.INTER_CUBIC)]


@pytest.mark.parametrize("index", [0, 1, 2])
def test_preprocessing_is_the_image_processors_bit_for_bit(index):
    from transformers import RTDetrImageProcessor

    rgb = _photos()[index]
    expected = RTDetrImageProcessor()(images=rgb, return_tensors="pt")["pixel_values"]
    actual, mapping = InputResolver(DETR_TRANSFORMS)(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert actual.shape == expected.shape == (1, 3, 640, 640)
    assert (actual - expected).abs().max().item() <= 1e-6
    assert (mapping.frame_width, mapping.frame_height) == (rgb.shape[1], rgb.shape[0])


def test_without_antialias_a_downscale_differs():
    # What the antialias flag is for: OpenCV's bilinear point-samples a downscale.
    from dataclasses import replace

    from transformers import RTDetrImageProcessor

    rgb = _photos()[2]
    expected = RTDetrImageProcessor()(images=rgb, return_tensors="pt")["pixel_values"]
    plain, _ = InputResolver(replace(DETR_TRANSFORMS, antialias=False))(np.ascontiguousarray(rgb[:, :, ::-1]))
    assert (plain - expected).abs().max().item() > 0.05


def test_postprocess_matches_transformers():
    from transformers import RTDetrImageProcessor
    from transformers.models.rt_detr.modeling_rt_detr import RTDetrObjectDetectionOutput

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 300, 80, generator=gen) * 2 - 4
    boxes = torch.rand(2, 300, 4, generator=gen) * torch.tensor([1.0, 1.0, 0.5, 0.5])
    sizes = [(480, 640), (333, 500)]  # (height, width)
    reference = RTDetrImageProcessor().post_process_object_detection(
        RTDetrObjectDetectionOutput(logits=logits, pred_boxes=boxes), threshold=0.3, target_sizes=sizes)
    for i, (h, w) in enumerate(sizes):
        ours = postprocess_set(logits[i], boxes[i], (w, h), 0.3, clip=False)
        ref = reference[i]
        assert len(ours.scores) == len(ref["scores"]) > 10
        assert torch.equal(ours.labels, ref["labels"])
        assert torch.allclose(ours.scores, ref["scores"])
        assert torch.allclose(ours.boxes, ref["boxes"], atol=1e-4)
        clipped = postprocess_set(logits[i], boxes[i], (w, h), 0.3)
        assert clipped.boxes[:, 0::2].max() <= w and clipped.boxes.min() >= 0
        # each kept pair names its query, and a class mask keeps others out of the top k
        assert torch.allclose(boxes[i][ours.queries][:, :2] * torch.tensor([w, h]),
                              (ours.boxes[:, :2] + ours.boxes[:, 2:]) / 2, atol=1e-3)
    mask = torch.zeros(80, dtype=torch.bool)
    mask[3] = True
    only = postprocess_set(logits[0], boxes[0], (640, 480), 0.3, class_mask=mask)
    assert len(only.labels) > 0 and set(only.labels.tolist()) == {3}


def test_selecting_rows_keeps_row_extras_aligned():
    det = Detections(np.arange(12, dtype=np.float32).reshape(3, 4), np.array([0.9, 0.5, 0.7], np.float32),
                     np.array([1, 2, 3]), ("a", "b", "c", "d"), (10, 10), extra={"rows": {"query": np.array([7, 8, 9])},
                                                                                "other": 1})
    kept = det.select(det.scores > 0.6)
    assert kept.extra["rows"]["query"].tolist() == [7, 9] and kept.extra["other"] == 1
    assert det.extra["rows"]["query"].tolist() == [7, 8, 9]


# ---------------------------------------------------------------- bad model folders and files


def _folder(tmp_path, config=None, name="m"):
    folder = tmp_path / name
    folder.mkdir()
    if config is not None:
        (folder / "config.json").write_text(config if isinstance(config, str) else json.dumps(config))
    return folder


def _one_line(exc: BaseException) -> str:
    line = str(exc)
    assert "\n" not in line and "Traceback" not in line
    return line


def test_folder_without_config(tmp_path):
    folder = _folder(tmp_path)
    with pytest.raises(BadFormat) as err:
        open_model_dir(folder)
    assert "config.json" in _one_line(err.value) and str(folder) in str(err.value)


def test_config_not_json(tmp_path):
    with pytest.raises(BadFormat, match="not valid JSON"):
        open_model_dir(_folder(tmp_path, "{model_type: rt_detr"))


def test_unsupported_model_type_names_the_supported_ones(tmp_path):
    with pytest.raises(Unsupported) as err:
        open_model_dir(_folder(tmp_path, {"model_type": "detr", "id2label": {"0": "cat"}}))
    line = _one_line(err.value)
    assert "'detr'" in line and "rt_detr" in line and "d_fine" in line


def test_pickled_bin_instead_of_safetensors_is_refused_unread(tmp_path):
    folder = _folder(tmp_path, {"model_type": "rt_detr", "id2label": {"0": "cat"}})
    torch.save({"w": torch.zeros(2)}, folder / "pytorch_model.bin")
    with pytest.raises(BadFormat) as err:
        hf_folder.read_state(folder)
    assert "pytorch_model.bin" in _one_line(err.value) and "save_pretrained" in str(err.value)


def test_pickle_under_the_safetensors_name(tmp_path):
    folder = _folder(tmp_path, {"model_type": "rt_detr"})
    torch.save({"w": torch.zeros(2)}, folder / "model.safetensors")
    with pytest.raises(BadFormat, match="pickled"):
        hf_folder.read_state(folder)


def test_truncated_safetensors(tmp_path):
    folder = _folder(tmp_path, {"model_type": "rt_detr"})
    save_file({"w": torch.zeros(100)}, str(folder / "model.safetensors"))
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[:-50])
    with pytest.raises(BadFormat, match="safetensors"):
        hf_folder.read_state(folder)
    (folder / "model.safetensors").write_bytes(b"\xff" * 7 + b"\x7f" + b"{}")
    with pytest.raises(BadFormat, match="not a safetensors file"):
        hf_folder.read_state(folder)


def test_wrong_shapes_name_the_first_mismatching_key(tmp_path):
    module = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Linear(3, 2))
    state = {k: v.clone() for k, v in module.state_dict().items()}
    state["1.weight"] = torch.zeros(2, 5)
    with pytest.raises(BadFormat) as err:
        hf_folder.load_state(module, state, "model.safetensors")
    assert "'1.weight'" in _one_line(err.value) and "(2, 5)" in str(err.value)
    del state["1.weight"]
    with pytest.raises(BadFormat, match="missing key '1.weight'"):
        hf_folder.load_state(module, state, "model.safetensors")


def test_id2label(tmp_path):
    assert hf_folder.class_names({"id2label": {"1": "dog", "0": "cat"}}) == ("cat", "dog")
    for bad in ({}, {"id2label": {"0": "cat", "2": "dog"}}, {"id2label": {"x": "cat"}}, {"id2label": {"0": 3}}):
        with pytest.raises(BadFormat, match="id2label"):
            hf_folder.class_names(bad)


def test_ultralytics_checkpoint_is_refused_without_unpickling(tmp_path, monkeypatch):
    # A checkpoint as Ultralytics writes it: a pickled object of its classes. The module
    # is a stand-in made here (never the real package); loading the file would need it.
    package = types.ModuleType("ultralytics")
    nn_mod = types.ModuleType("ultralytics.nn")
    tasks = types.ModuleType("ultralytics.nn.tasks")

    class DetectionModel:
        pass

    DetectionModel.__module__ = "ultralytics.nn.tasks"
    DetectionModel.__qualname__ = "DetectionModel"
    tasks.DetectionModel = DetectionModel
    for name, module in (("ultralytics", package), ("ultralytics.nn", nn_mod), ("ultralytics.nn.tasks", tasks)):
        monkeypatch.setitem(sys.modules, name, module)
    path = tmp_path / "yolov8n.pt"
    torch.save({"model": DetectionModel(), "epoch": 3}, path)
    monkeypatch.delitem(sys.modules, "ultralytics.nn.tasks")
    with pytest.raises(Unsupported) as err:
        open_model_dir(path)
    line = _one_line(err.value)
    assert "Ultralytics" in line and "AGPL" in line and "model.safetensors" in line


@pytest.mark.parametrize("name", ["notes.txt", "model.onnx"])
def test_other_files_say_what_is_accepted(tmp_path, name):
    path = tmp_path / name
    path.write_bytes(b"x")
    with pytest.raises(UserError) as err:
        open_model_dir(path)
    assert "config.json" in _one_line(err.value) and ".pth" in str(err.value)


def test_missing_path_and_names_with_a_folder(tmp_path):
    with pytest.raises(NotFound):
        open_model_dir(tmp_path / "nowhere")
    folder = _folder(tmp_path, {"model_type": "rt_detr", "id2label": {"0": "cat"}})
    with pytest.raises(UserError, match="id2label"):
        open_model_dir(folder, names=tmp_path / "x.names")

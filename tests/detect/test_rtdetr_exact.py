"""Our RT-DETR / RT-DETRv2 against Hugging Face transformers (the oracle, a test
dependency): transformers builds the model from a small-but-real config with seeded
random weights and saves it with ``save_pretrained`` (config.json + model.safetensors);
we open that folder with ``open_model_dir`` and run both on real photos (scikit-image's
astronaut: square; coffee: wide; coffee enlarged: a downscale). Transformers' image
processor and ``post_process_object_detection`` give the expected detections: the same
classes, boxes with IoU >= 0.99 and scores within 1e-3."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import transformers  # noqa: E402, F401  (the oracle, in the test extra: missing, these tests fail rather than skip)

from engine.core.errors import BadFormat
from engine.features.detect.backends.detr.detector import SetDetector, SetTrace
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from engine.models.catalog import CapabilityError
from tests.detect.detr_oracle import LABELS, calibrated_threshold, iou, photos, randomize, reference, save_random  # noqa: E402


@pytest.fixture(scope="module", params=["rt_detr", "rt_detr_v2"])
def saved(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    return folder, save_random(folder, request.param, seed=1 if request.param == "rt_detr" else 2)


@pytest.mark.parametrize("photo", ["square", "wide", "large"])
def test_detections_match_transformers(saved, photo):
    folder, model = saved
    rgb = photos()[photo]
    threshold = calibrated_threshold(model, rgb)
    expected = reference(model, rgb, threshold)
    detector = open_model_dir(folder, options=DetectorOptions(conf_threshold=threshold))
    assert isinstance(detector, SetDetector) and detector.class_names == tuple(LABELS.values())
    found = detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
    h, w = rgb.shape[:2]
    assert found.frame_size == (w, h)
    assert len(found) == len(expected["scores"]) >= 8
    order = np.argsort(-expected["scores"].numpy(), kind="stable")
    ref_boxes = expected["boxes"].numpy()[order].copy()
    ref_boxes[:, 0::2] = ref_boxes[:, 0::2].clip(0, w)  # our convention: boxes clipped to the frame
    ref_boxes[:, 1::2] = ref_boxes[:, 1::2].clip(0, h)
    assert np.array_equal(found.class_ids, expected["labels"].numpy()[order])
    assert np.abs(found.scores - expected["scores"].numpy()[order]).max() <= 1e-3
    assert iou(found.boxes, ref_boxes).min() >= 0.99


def test_set_trace_follows_each_query_through_the_layers(saved):
    folder, model = saved
    rgb = photos()["wide"]
    detector = open_model_dir(folder, options=DetectorOptions(conf_threshold=calibrated_threshold(model, rgb)))
    found = detector.detect(np.ascontiguousarray(rgb[:, :, ::-1]))
    trace = found.extra["set_trace"]
    assert isinstance(trace, SetTrace)
    assert trace.proposals.shape == (60, 4) and trace.layer_boxes.shape == (3, 60, 4)
    assert trace.proposal_scores.shape == (60,) and (np.diff(trace.proposal_scores) <= 0).all()  # top-k, best first
    queries = found.extra["rows"]["query"]
    assert queries.shape == (len(found),) and ((0 <= queries) & (queries < 60)).all()
    h, w = rgb.shape[:2]
    last = trace.layer_boxes[-1][queries]
    last[:, 0::2] = last[:, 0::2].clip(0, w)
    last[:, 1::2] = last[:, 1::2].clip(0, h)
    assert np.allclose(last, found.boxes, atol=1e-3)
    path = trace.refinement(int(queries[0]))
    assert path.shape == (4, 4) and not np.allclose(path[0], path[-1])  # the layers moved the box
    kept = found.select(found.scores > np.median(found.scores))
    assert np.array_equal(kept.extra["rows"]["query"], queries[found.scores > np.median(found.scores)])


def test_capabilities_no_nms_and_input_size(saved):
    folder, _ = saved
    detector = open_model_dir(folder)
    caps = detector.capabilities
    assert caps.postprocess == "set" and caps.tracks and caps.input_size.multiple == 32
    with pytest.raises(CapabilityError, match="non-maximum suppression"):
        open_model_dir(folder, options=DetectorOptions(iou_threshold=0.5))
    detector.set_input_size(480, 320)
    found = detector.detect(np.zeros((240, 320, 3), np.uint8))
    assert detector.input_size == (480, 320) and found.frame_size == (320, 240)


def test_weights_of_another_config_name_the_first_key(tmp_path):
    save_random(tmp_path / "a", "rt_detr")
    save_random(tmp_path / "b", "rt_detr", d_model=64, decoder_in_channels=[32, 32, 32])
    (tmp_path / "a" / "model.safetensors").write_bytes((tmp_path / "b" / "model.safetensors").read_bytes())
    with pytest.raises(BadFormat) as err:
        open_model_dir(tmp_path / "a")
    line = str(err.value)
    assert "model.safetensors" in line and "key '" in line and "expected" in line and "\n" not in line


@pytest.mark.slow
def test_full_size_r18_matches_transformers(tmp_path):
    """rtdetr_r18vd's real shape (ResNet-18-vd, 256 wide, 3 decoder layers, 300 queries)."""
    r18 = dict(backbone_config={"model_type": "rt_detr_resnet", "depths": [2, 2, 2, 2], "layer_type": "basic",
                                "hidden_sizes": [64, 128, 256, 512], "embedding_size": 64, "out_indices": [2, 3, 4]},
               encoder_in_channels=[128, 256, 512], decoder_layers=3)
    from transformers import RTDetrConfig, RTDetrForObjectDetection

    coco = {i: f"class {i}" for i in range(80)}
    model = RTDetrForObjectDetection(RTDetrConfig(**r18, id2label=coco, label2id={v: k for k, v in coco.items()})).eval()
    randomize(model, 5)
    model.save_pretrained(tmp_path)
    detector = open_model_dir(tmp_path)
    x = torch.rand(1, 3, 640, 640, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = model(pixel_values=x)
        logits, boxes = detector.model(x)[:2]
    assert (logits - expected.logits).abs().max() <= 1e-3
    assert (boxes - expected.pred_boxes).abs().max() <= 1e-4

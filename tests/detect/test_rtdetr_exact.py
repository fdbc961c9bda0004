"""Our RT-DETR / RT-DETRv2 against Hugging Face transformers (the oracle, a test
dependency): transformers builds the model from a small-but-real config with seeded
random weights and saves it with ``save_pretrained`` (config.json + model.safetensors);
we open that folder with ``open_model_dir`` and run both on real photos (scikit-image's
astronaut: square; coffee: wide; coffee enlarged: a downscale). Transformers' image
processor and ``post_process_object_detection`` give the expected detections: the same
classes, boxes with IoU >= 0.99 and scores within 1e-3."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import skimage.data
import torch

from engine.core.errors import BadFormat
from engine.features.detect.backends.detr.detector import SetDetector, SetTrace
from engine.features.detect.model_dir import open_model_dir
from engine.features.detect.options import DetectorOptions
from engine.models.catalog import CapabilityError

transformers = pytest.importorskip("transformers")

TINY_BACKBONE = {"model_type": "rt_detr_resnet", "depths": [1, 1, 1, 1], "hidden_sizes": [16, 32, 64, 128],
                 "embedding_size": 16, "layer_type": "basic", "out_indices": [2, 3, 4]}
TINY = dict(backbone_config=TINY_BACKBONE, encoder_in_channels=[32, 64, 128], encoder_hidden_dim=32,
            encoder_ffn_dim=64, d_model=32, decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64, decoder_layers=3,
            num_queries=60, encoder_attention_heads=2, decoder_attention_heads=4, decoder_n_points=2)
LABELS = {i: name for i, name in enumerate(["person", "bicycle", "car", "dog", "cat", "kite", "cup"])}


def randomize(model: torch.nn.Module, seed: int) -> None:
    """Seeded weights of trained-like scale (fan-in scaled), then calibrated as training
    would leave them: every batch norm's statistics are those of its input on another
    photo (so activations keep a unit scale through the network), and an encoder token
    outside the anchors' valid area (its features zeroed) scores below the valid ones,
    so query selection picks real places."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        state = model.state_dict()
        for key, t in state.items():
            if not t.is_floating_point() or key.endswith("n_points_scale"):
                continue
            if key.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
            elif key.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
            elif t.dim() >= 2:
                t.copy_(torch.randn(t.shape, generator=gen) / math.sqrt(t[0].numel()))
            elif "norm" in key and key.endswith("weight"):
                t.copy_(1 + 0.1 * torch.randn(t.shape, generator=gen))
            else:
                t.copy_(torch.randn(t.shape, generator=gen) * 0.1)
        state["model.enc_output.0.bias"].zero_()
        state["model.enc_output.1.bias"].zero_()
        state["model.enc_score_head.bias"].fill_(-3.0)
    _calibrate_norms(model)


def _calibrate_norms(model: torch.nn.Module) -> None:
    def measure(module, inputs):
        x = inputs[0].transpose(0, 1).flatten(1)
        module.running_mean.copy_(x.mean(1))
        module.running_var.copy_(x.var(1) + 1e-3)

    norms = [m for m in model.modules() if hasattr(m, "running_var") and hasattr(m, "running_mean")]
    hooks = [m.register_forward_pre_hook(measure) for m in norms]
    chelsea = cv2.resize(skimage.data.chelsea(), (640, 640), interpolation=cv2.INTER_AREA)
    pixels = torch.from_numpy(chelsea).permute(2, 0, 1)[None].float() / 255
    try:
        with torch.no_grad():
            model(pixel_values=pixels)
    finally:
        for hook in hooks:
            hook.remove()


def save_random(folder, kind: str, seed: int = 0, **overrides):
    """A transformers model of ``kind`` ("rt_detr" or "rt_detr_v2") with random weights,
    saved to ``folder``; returns the reference model."""
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrV2Config, RTDetrV2ForObjectDetection

    config_cls, model_cls = ((RTDetrV2Config, RTDetrV2ForObjectDetection) if kind == "rt_detr_v2"
                             else (RTDetrConfig, RTDetrForObjectDetection))
    settings = {**TINY, **overrides}
    config = config_cls(**settings, id2label=LABELS, label2id={v: k for k, v in LABELS.items()})
    torch.manual_seed(seed)
    model = model_cls(config).eval()
    randomize(model, seed)
    model.save_pretrained(folder)
    return model


@pytest.fixture(scope="module", params=["rt_detr", "rt_detr_v2"])
def saved(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(request.param)
    return folder, save_random(folder, request.param, seed=1 if request.param == "rt_detr" else 2)


def photos() -> dict[str, np.ndarray]:
    coffee = skimage.data.coffee()
    return {"square": skimage.data.astronaut(), "wide": coffee,
            "large": cv2.resize(coffee, (1100, 733), interpolation=cv2.INTER_CUBIC)}


def reference(model, rgb: np.ndarray, threshold: float) -> dict:
    from transformers import RTDetrImageProcessor

    processor = RTDetrImageProcessor()
    inputs = processor(images=rgb, return_tensors="pt")
    with torch.no_grad():
        out = model(**inputs)
    h, w = rgb.shape[:2]
    return processor.post_process_object_detection(out, threshold=threshold, target_sizes=[(h, w)])[0]


def calibrated_threshold(model, rgb: np.ndarray, keep: int = 8) -> float:
    """A threshold that keeps ``keep`` detections, halfway between two scores that are
    clearly apart (so float noise cannot move a detection across it)."""
    scores = reference(model, rgb, 0.0)["scores"].sort(descending=True).values
    for k in range(keep, len(scores) - 1):
        if scores[k - 1] - scores[k] > 4e-3:
            return float(scores[k - 1] + scores[k]) / 2
    raise AssertionError("no gap between scores")


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    lt, rb = np.maximum(a[:, :2], b[:, :2]), np.minimum(a[:, 2:], b[:, 2:])
    inter = np.clip(rb - lt, 0, None).prod(1)
    area = lambda x: (x[:, 2:] - x[:, :2]).prod(1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


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

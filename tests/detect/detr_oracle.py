"""Transformers' RT-DETR models with seeded random weights, saved in the released layout,
and transformers' own preprocessing + post-processing: the oracle of the RT-DETR tests
(and of any DETR-family test that wants it)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import skimage.data
import torch

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

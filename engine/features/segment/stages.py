"""What the course teaches about segmentation decoders, read from the network itself.

``decoder_path(segmenter, image)``: each stage of the way from the backbone's coarse
features back to every pixel, with the resolution it works at (measured with forward
hooks on the frame, not restated): the backbone's feature maps (their output stride),
the head's logits, and the final upsampling to the input and to the frame. torchvision's
segmentation models upsample bilinearly (``F.interpolate``); none has a transposed
convolution, which ``op`` says for each step ("bilinear" or "transposed conv" where a
``ConvTranspose2d`` is found).

``decoder_views`` gives the same stages from the live task's own forward, each with a
preview at its resolution (feature strength or the argmax class), for the tab's view.

``atrous_taps(segmenter)``: DeepLabV3's ASPP branches as (rate, output stride): a 3x3
convolution with dilation r on features of stride s samples the input at offsets
{-r, 0, r} * s pixels in x and y, so its nine taps span (2 r s + 1) input pixels while
costing what a plain 3x3 costs. ``tap_offsets`` gives those offsets in frame pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.features.segment.model import Segmenter, input_size, resize_like_torchvision


@dataclass(frozen=True)
class Stage:
    """One step of the decoder. name: what it is. size: (width, height) of its output.
    stride: input pixels per output pixel (1 = the input's resolution). channels: its
    depth. op: how the next resolution is reached ("bilinear", "transposed conv", or "")."""

    name: str
    size: tuple[int, int]
    stride: float
    channels: int
    op: str = ""


def _upsampling_op(network: nn.Module) -> str:
    return "transposed conv" if any(isinstance(m, nn.ConvTranspose2d) for m in network.modules()) else "bilinear"


def _hooked_forward(segmenter: Segmenter, image_bgr: np.ndarray,
                    short_side: int | None) -> tuple[torch.Tensor, dict[str, torch.Tensor], tuple[int, int]]:
    """One forward with the backbone's and the head's outputs recorded: (logits at the input,
    {stage name: tensor}, (input width, input height))."""
    h, w = image_bgr.shape[:2]
    in_w, in_h = input_size(w, h, int(short_side or segmenter.short_side))
    seen: dict[str, torch.Tensor] = {}
    network = segmenter.network
    hooks = [network.backbone.register_forward_hook(lambda _m, _i, out: seen.update({f"backbone {k}": v for k, v in out.items()})),
             network.classifier.register_forward_hook(lambda _m, _i, out: seen.update({"head logits": out}))]
    try:
        x, _ = segmenter._resolver(resize_like_torchvision(image_bgr, (in_w, in_h)))
        logits = network(x)["out"].float()
    finally:
        for hook in hooks:
            hook.remove()
    return logits, seen, (in_w, in_h)


def _stages(segmenter: Segmenter, seen: dict[str, torch.Tensor], in_size: tuple[int, int],
            frame_size: tuple[int, int]) -> list[tuple[Stage, torch.Tensor | None]]:
    op = _upsampling_op(segmenter.network)
    in_w, in_h = in_size
    out: list[tuple[Stage, torch.Tensor | None]] = []
    for name, tensor in sorted(seen.items(), key=lambda kv: kv[1].shape[-1]):
        size = (int(tensor.shape[-1]), int(tensor.shape[-2]))
        out.append((Stage(name, size, in_w / size[0], int(tensor.shape[1]), op if name == "head logits" else ""), tensor))
    classes = len(segmenter.categories)
    out.append((Stage("logits at the input", (in_w, in_h), 1.0, classes, op), None))
    out.append((Stage("logits at the frame", frame_size, in_w / frame_size[0], classes, ""), None))
    return out


@torch.inference_mode()
def decoder_path(segmenter: Segmenter, image_bgr: np.ndarray, short_side: int | None = None) -> list[Stage]:
    """The stages for one BGR uint8 frame (H, W, 3), coarse to fine, ending at the frame's size."""
    h, w = image_bgr.shape[:2]
    _logits, seen, in_size = _hooked_forward(segmenter, image_bgr, short_side)
    return [stage for stage, _t in _stages(segmenter, seen, in_size, (w, h))]


@dataclass(frozen=True, eq=False)
class StageView:
    """A stage and what it holds, at its own resolution: preview (h, w, 3) uint8 BGR, the
    feature maps' L2 norm over channels (a heat colour map, 0 = its minimum, 255 = its
    maximum), or for logits their argmax in the class colours."""

    stage: Stage
    preview: np.ndarray


def _preview(tensor: torch.Tensor, logits: bool) -> np.ndarray:
    import cv2

    from engine.features.segment.render import palette_bgr

    if logits:
        labels = tensor[0].argmax(0).to(torch.uint8).cpu().numpy()
        return np.ascontiguousarray(palette_bgr(256)[labels])
    norm = tensor[0].float().norm(dim=0)
    low, high = float(norm.min()), float(norm.max())
    scaled = ((norm - low) / max(high - low, 1e-12) * 255).to(torch.uint8).cpu().numpy()
    return cv2.applyColorMap(scaled, cv2.COLORMAP_VIRIDIS)


@torch.inference_mode()
def decoder_views(segmenter: Segmenter, image_bgr: np.ndarray,
                  short_side: int | None = None) -> tuple[torch.Tensor, list[StageView]]:
    """One forward: (logits (1, C, h, w) at the input's size, the stages with their previews),
    coarse to fine; the last stage ("logits at the frame") previews the label map at the
    frame's size."""
    import torch.nn.functional as F

    h, w = image_bgr.shape[:2]
    logits, seen, in_size = _hooked_forward(segmenter, image_bgr, short_side)
    views = []
    for stage, tensor in _stages(segmenter, seen, in_size, (w, h)):
        if tensor is None:
            tensor = logits if stage.size == in_size else F.interpolate(logits, size=(h, w), mode="bilinear",
                                                                        align_corners=False)
        views.append(StageView(stage, _preview(tensor, logits=tensor.shape[1] == len(segmenter.categories))))
    return logits, views


def atrous_taps(segmenter: Segmenter, probe_side: int = 64) -> list[tuple[int, int]]:
    """(dilation rate, output stride in input pixels) of each dilated 3x3 ASPP branch; [] for a head without ASPP."""
    from torchvision.models.segmentation.deeplabv3 import ASPPConv

    network = segmenter.network
    rates = [int(m[0].dilation[0]) for m in network.modules() if isinstance(m, ASPPConv)]
    if not rates:
        return []
    with torch.inference_mode():
        device = next(network.parameters()).device
        features = network.backbone(torch.zeros(1, 3, probe_side, probe_side, device=device))["out"]
    stride = probe_side // int(features.shape[-1])
    return [(rate, stride) for rate in rates]


def tap_offsets(rate: int, stride: int, frame_per_input: float) -> np.ndarray:
    """(9, 2) float32 (dx, dy) frame-pixel offsets of a 3x3 convolution's taps with
    dilation ``rate`` on features of ``stride``; frame_per_input: frame px per input px."""
    step = rate * stride * frame_per_input
    grid = np.array([(dx, dy) for dy in (-1, 0, 1) for dx in (-1, 0, 1)], np.float32)
    return grid * step

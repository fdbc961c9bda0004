"""Grad-CAM for a class region (seg-CAM): which parts of the picture a layer used to call a region "cat".

For class c, layer activations A (1, K, h', w') and logits Y (1, C, h, w) at the network
input's size, the region M is where the argmax of Y is c, the score is
S = sum over M of Y[c], each channel's weight is the spatial mean of dS/dA_k, and the map
is relu(sum_k weight_k * A_k), (h', w') at the layer's resolution. It is resized bilinearly
to the frame and divided by its maximum (0..1); without any pixel of class c there is no
map (``CamResult.heat`` None). Vinogradova et al., "Towards interpretable semantic
segmentation via gradient-weighted class activation mapping" (2020), after Selvaraju et
al.'s Grad-CAM (2017).

``cam_layers(architecture)``: the backbone stages one may choose (their module names), read
from the architecture built on the meta device (no memory, no weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from engine.features.segment.model import Segmenter, build_network, input_size, resize_like_torchvision


@dataclass(frozen=True, eq=False)
class CamResult:
    """heat: (H, W) float32 0..1 at the frame's size, or None without the class in the picture.
    class_id, layer: what it explains and where. layer_size: (width, height) of the layer's
    map. region: pixels of the class at the input's size. logits: (1, C, h, w) float32 of the
    same forward (detached; the label map comes from them)."""

    heat: np.ndarray | None
    class_id: int
    layer: str
    layer_size: tuple[int, int]
    region: int
    logits: torch.Tensor


def cam_layers(architecture: str) -> list[str]:
    """Module names of the backbone's last stages (coarse to fine order reversed: last first)."""
    with torch.device("meta"):
        network = build_network(architecture)
    names = [f"backbone.{name}" for name, _m in network.backbone.named_children()]
    return list(reversed(names[-3:]))


def seg_cam(segmenter: Segmenter, image_bgr: np.ndarray, class_id: int, layer: str,
            short_side: int | None = None) -> CamResult:
    """The seg-CAM of ``class_id`` at module ``layer`` for one BGR uint8 (H, W, 3) frame."""
    network = segmenter.network
    modules = dict(network.named_modules())
    if layer not in modules:
        raise ValueError(f"no layer '{layer}' in {segmenter.name} (try one of {', '.join(cam_layers_of(segmenter))})")
    h, w = image_bgr.shape[:2]
    in_w, in_h = input_size(w, h, int(short_side or segmenter.short_side))
    seen: list[torch.Tensor] = []
    hook = modules[layer].register_forward_hook(lambda _m, _i, out: seen.append(out))
    with torch.inference_mode():  # the resolver's buffers are inference tensors
        x, _ = segmenter._resolver(resize_like_torchvision(image_bgr, (in_w, in_h)))
    try:
        with torch.inference_mode(False), torch.enable_grad():
            # a normal tensor (a clone outside inference mode), and gradients flow whatever
            # the parameters' requires_grad flags say
            x = x.clone().requires_grad_(True)
            logits = network(x)["out"].float()
            region = logits[0].argmax(0) == class_id
            count = int(region.sum())
            activation = seen[0]
            if count == 0:
                size = (int(activation.shape[-1]), int(activation.shape[-2]))
                return CamResult(None, class_id, layer, size, 0, logits.detach())
            score = (logits[0, class_id] * region).sum()
            (grad,) = torch.autograd.grad(score, activation)
    finally:
        hook.remove()
    with torch.no_grad():
        weights = grad.mean(dim=(2, 3), keepdim=True)
        cam = F.relu((weights * activation.detach()).sum(dim=1, keepdim=True))
        size = (int(cam.shape[-1]), int(cam.shape[-2]))
        heat = F.interpolate(cam, size=(h, w), mode="bilinear", align_corners=False)[0, 0]
        top = float(heat.max())
        heat = heat / top if top > 0 else heat
    return CamResult(heat.cpu().numpy().astype(np.float32), class_id, layer, size, count, logits.detach())


def cam_layers_of(segmenter: Segmenter) -> list[str]:
    names = [f"backbone.{name}" for name, _m in segmenter.network.backbone.named_children()]
    return list(reversed(names[-3:]))

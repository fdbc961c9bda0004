"""Seeded random weights for torchvision's Mask R-CNN and Keypoint R-CNN, in the published format.

The published files are state_dicts of the torchvision models with frozen batch norm (no
``num_batches_tracked`` entries). An untrained network finds nothing (every class about
1/91, under the 0.05 score threshold), so ``calibrated_instance_state`` makes its outputs
have structure: the backbone's batch-norm statistics are measured on the photo (activations
neither vanish nor explode), the class logits get a spread across regions and a few classes
a head start over background (so detections exist and their scores differ), and the mask
logits a spread (so masks are neither empty nor full).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

#: Classes given a head start (COCO ids): person, dog, chair.
FAVOURED = (1, 18, 62)
SPREAD = 3.0
HEAD_START = 3.0


def reference_network(architecture: str, seed: int | None = None, min_size: int = 800) -> nn.Module:
    """torchvision's own builder, untrained (BatchNorm2d where the published file has frozen
    batch norm); ``min_size``: its transform's short side (800 is the published one)."""
    from torchvision.models import detection

    if seed is not None:
        torch.manual_seed(seed)
    return getattr(detection, architecture)(weights=None, weights_backbone=None, min_size=min_size).eval()


def reference_output(network: nn.Module, image_bgr: np.ndarray) -> dict[str, torch.Tensor]:
    """torchvision's pipeline: its weights' transform (uint8 -> float 0..1) on the RGB tensor, then the model."""
    from torchvision.models.detection import MaskRCNN_ResNet50_FPN_Weights

    rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).permute(2, 0, 1)
    x = MaskRCNN_ResNet50_FPN_Weights.DEFAULT.transforms()(rgb)
    with torch.inference_mode():
        return network([x])[0]


def _calibrate_backbone(network: nn.Module, image_bgr: np.ndarray) -> None:
    rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).permute(2, 0, 1).float() / 255
    images, _ = network.transform([rgb])
    body = network.backbone.body
    for module in body.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    body.train()
    with torch.no_grad():
        body(images.tensors)
    body.eval()


def calibrated_instance_state(architecture: str, image_bgr: np.ndarray, seed: int = 0, min_size: int = 800,
                              spread: float = SPREAD, head_start: float = HEAD_START) -> dict[str, torch.Tensor]:
    """A seeded state_dict (published layout) whose forward on ``image_bgr`` finds instances."""
    network = reference_network(architecture, seed, min_size)
    _calibrate_backbone(network, image_bgr)
    heads = network.roi_heads
    with torch.no_grad():
        cls = heads.box_predictor.cls_score
        cls.weight.mul_(spread)
        cls.bias.zero_()
        favoured = [c for c in FAVOURED if c < cls.out_features]
        cls.bias[favoured] += head_start
        if heads.mask_predictor is not None:
            heads.mask_predictor.mask_fcn_logits.weight.mul_(30.0)
        if heads.keypoint_predictor is not None:
            heads.keypoint_predictor.kps_score_lowres.weight.mul_(10.0)
    return {k: v for k, v in network.state_dict().items() if not k.endswith("num_batches_tracked")}

"""Seeded random weights for torchvision's segmentation networks, in the published file format.

The published files are state_dicts of the torchvision model (DeepLabV3 and FCN with the
training-only auxiliary head). An untrained network gives nearly the same class
everywhere, so ``calibrated_state`` shifts the last classifier's biases by the class
logits' means on a real photo and widens their spread: the argmax then changes across the
picture and several classes appear, so a comparison of label maps means something.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import skimage.data
import torch
from torch import nn

from engine.features.segment.model import ARCHITECTURES


def photo_bgr(name: str = "astronaut") -> np.ndarray:
    """A real photo from scikit-image as BGR uint8 (astronaut 512x512, chelsea 451x300, coffee 600x400)."""
    rgb = getattr(skimage.data, name)()
    return np.ascontiguousarray(rgb[:, :, ::-1])


def reference_logits(network: nn.Module, image_bgr: np.ndarray, architecture: str) -> torch.Tensor:
    """torchvision's own pipeline: its weights' transforms on the RGB tensor, then the network's "out"."""
    transforms = _weights_enum(architecture).DEFAULT.transforms()
    rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).permute(2, 0, 1)
    with torch.inference_mode():
        return network(transforms(rgb)[None])["out"]


def reference_labels(network: nn.Module, image_bgr: np.ndarray, architecture: str) -> np.ndarray:
    """torchvision's label map: logits resized bilinearly to the photo, argmax (H, W) uint8."""
    logits = reference_logits(network, image_bgr, architecture)
    h, w = image_bgr.shape[:2]
    up = torch.nn.functional.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return up[0].argmax(0).to(torch.uint8).numpy()


def _weights_enum(architecture: str):
    from torchvision.models import segmentation as seg
    return {"lraspp_mobilenet_v3_large": seg.LRASPP_MobileNet_V3_Large_Weights,
            "deeplabv3_mobilenet_v3_large": seg.DeepLabV3_MobileNet_V3_Large_Weights,
            "deeplabv3_resnet50": seg.DeepLabV3_ResNet50_Weights,
            "fcn_resnet50": seg.FCN_ResNet50_Weights}[architecture]


def published_network(architecture: str, seed: int = 0) -> nn.Module:
    """The architecture as torchvision publishes it (with the auxiliary head where it has one), seeded."""
    torch.manual_seed(seed)
    make = ARCHITECTURES[architecture]
    if architecture == "lraspp_mobilenet_v3_large":
        return make(21).eval()
    from torchvision.models import segmentation as seg
    return getattr(seg, architecture)(weights=None, weights_backbone=None, num_classes=21, aux_loss=True).eval()


def _last_classifiers(network: nn.Module) -> list[nn.Conv2d]:
    """The convolutions whose outputs (summed) are the logits."""
    head = network.classifier
    if hasattr(head, "high_classifier"):  # LR-ASPP sums a low- and a high-level classifier
        return [head.low_classifier, head.high_classifier]
    convs = [m for m in head.modules() if isinstance(m, nn.Conv2d) and m.out_channels == 21]
    return convs[-1:]


def _calibrate_batchnorm(network: nn.Module, image_bgr: np.ndarray, architecture: str) -> None:
    """Running statistics measured on the photo (and its mirror image: the pooled ASPP branch
    needs two values per channel), so activations neither vanish nor explode in the deep
    untrained backbones (DeepLabV3 MobileNet's collapsed to 1e-9 with the default statistics)."""
    transforms = _weights_enum(architecture).DEFAULT.transforms()
    rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[:, :, ::-1])).permute(2, 0, 1)
    x = transforms(rgb)[None]
    batch = torch.cat([x, x.flip(-1)])
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: exactly this batch's statistics
    network.train()
    with torch.no_grad():
        network(batch)
    network.eval()
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.1


def calibrated_state(architecture: str, image_bgr: np.ndarray, seed: int = 0, spread: float = 4.0) -> dict:
    """A seeded state_dict whose label map on ``image_bgr`` shows several classes."""
    network = published_network(architecture, seed)
    _calibrate_batchnorm(network, image_bgr, architecture)
    logits = reference_logits(network, image_bgr, architecture)[0]
    mean = logits.mean(dim=(1, 2))
    std = logits.std(dim=(1, 2)).clamp_min(1e-6)
    with torch.no_grad():
        # logit' = (logit - mean) / std * spread, per class: every summed classifier scaled,
        # the mean taken off the last one's bias
        factor = spread / std
        convs = _last_classifiers(network)
        for conv in convs:
            conv.weight.mul_(factor.view(-1, 1, 1, 1))
            conv.bias.mul_(factor)
        convs[-1].bias.sub_(mean * factor)
    return network.state_dict()


def save_state(state: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(state, path)
    return path

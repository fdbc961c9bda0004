"""Seeded random YOLOX weights in the released file layout, for tests and offline demos.

``write_random_pth`` saves ``{"start_epoch": 300, "model": state_dict}`` with
``torch.save``, as Megvii's released ``.pth`` files hold it (the keys of
``YoloxModel.state_dict()``, batch-norm statistics included). A naive random network is
useless for tests (every score near 0 or 1), so the values are calibrated on a seeded
synthetic picture: the batch-norm statistics are measured on it (activations stay in
range at every depth, whatever the 0..255 input), then each prediction convolution is
rescaled so that its logits have chosen spreads: on a photo, a few percent of the points
score above common thresholds, and boxes are a few strides wide.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.features.detect.backends.darknet.random_weights import synthetic_image
from engine.models.yolox.model import BaseConv, YoloxModel, build_yolox

# Target logit (mean, std) of each prediction channel group on the calibration picture.
_BOX_XY = (0.5, 0.4)     # near the point's cell centre
_BOX_WH = (1.0, 0.5)     # exp(1) ~ 2.7 strides
_OBJECTNESS = (-3.0, 1.5)
_CLASSES = (-3.0, 1.3)


def _calibration_input(seed: int, count: int = 6) -> torch.Tensor:
    """(count + 2, 3, 256, 320) BGR 0..255 pictures, like YOLOX's input: synthetic scenes
    (some letterboxed: grey 114 below or right), uniform noise and a black/white split.
    The last two bound what a photo can do to the first layers' statistics, so that no
    photo drives the deeper layers far beyond what they were calibrated on."""
    rng = np.random.default_rng(seed)
    images = [synthetic_image(256, 320, seed=seed * 101 + k) for k in range(count)]
    for k, image in enumerate(images[1::2]):
        image[256 - 32 * (k + 1):] = 114 if k % 2 == 0 else image[256 - 32 * (k + 1):]
        image[:, 320 - 48 * (k + 1):] = 114
    images.append(rng.integers(0, 256, size=(256, 320, 3), dtype=np.uint8))
    split = np.zeros((256, 320, 3), np.uint8)
    split[:, 160:] = 255
    images.append(split)
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).float()


@torch.no_grad()
def random_model(arch: str, num_classes: int = 80, seed: int = 0) -> YoloxModel:
    """An unfused ``YoloxModel`` with seeded, calibrated random weights (eval mode)."""
    gen = torch.Generator().manual_seed(seed)
    model = build_yolox(arch, num_classes)
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            fan_in = module.in_channels // module.groups * module.kernel_size[0] * module.kernel_size[1]
            module.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
            if module.bias is not None:
                module.bias.zero_()
        elif isinstance(module, BaseConv):
            bn = module.bn
            bn.weight.copy_(0.8 + 0.4 * torch.rand(bn.num_features, generator=gen))
            bn.bias.copy_(0.1 * torch.randn(bn.num_features, generator=gen))
    # Batch-norm statistics of the calibration picture (cumulative average over one batch).
    x = _calibration_input(seed)
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None
    model(x)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.03
            # A channel nearly constant on these pictures would amplify any other picture:
            # no variance below the mean of its layer.
            var = module.running_var
            var.clamp_(min=float(var.mean()))
    model.eval()
    # Logits of the prediction convolutions, then an affine fix per channel.
    head = model.head
    seen: dict[nn.Conv2d, torch.Tensor] = {}
    hooks = [conv.register_forward_hook(lambda m, i, o: seen.__setitem__(m, o))
             for conv in (*head.cls_preds, *head.reg_preds, *head.obj_preds)]
    model(x)
    for hook in hooks:
        hook.remove()
    for conv, out in seen.items():
        if conv in head.reg_preds:
            targets = [_BOX_XY, _BOX_XY, _BOX_WH, _BOX_WH]
        else:
            targets = [_OBJECTNESS if conv in head.obj_preds else _CLASSES] * conv.out_channels
        mean, std = out.mean(dim=(0, 2, 3)), out.std(dim=(0, 2, 3)).clamp_min(1e-6)
        want_mean = torch.tensor([t[0] for t in targets]) + 0.3 * torch.randn(len(targets), generator=gen)
        want_std = torch.tensor([t[1] for t in targets])
        factor = want_std / std
        conv.weight.mul_(factor.reshape(-1, 1, 1, 1))
        conv.bias.copy_(want_mean - mean * factor)
    return model


def random_state_dict(arch: str, num_classes: int = 80, seed: int = 0) -> dict[str, torch.Tensor]:
    """The state dict of ``random_model`` (the released keys)."""
    return {k: v.clone() for k, v in random_model(arch, num_classes, seed).state_dict().items()}


def write_random_pth(path: str | Path, arch: str, num_classes: int = 80, seed: int = 0) -> Path:
    """Write a released-layout ``.pth`` of random weights; returns the path."""
    path = Path(path)
    torch.save({"start_epoch": 300, "model": random_state_dict(arch, num_classes, seed)}, path)
    return path

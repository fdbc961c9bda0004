"""Random-initialised .weights files for any cfg, for demos, tests and benchmarks.

Real Darknet weights are large downloads; an untrained network in the real file format
exercises the same loading, inference and decoding code. A naive random init is useless
for that, though: every score ends up near 0 or near 1, so either nothing or everything
passes the threshold. ``calibrated_random_model`` therefore measures the raw head outputs
on a synthetic image and rescales each head's last convolution so that its box, objectness
and class logits have chosen spreads: some cells score above common thresholds, most do
not, and boxes vary in size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from engine.features.detect.backends.darknet.cfg import DarknetCfg, parse_cfg
from engine.features.detect.backends.darknet.layers import ConvBlock
from engine.features.detect.backends.darknet.model import DarknetModel
from engine.features.detect.backends.darknet.weights_file import write_darknet_weights

log = logging.getLogger(__name__)

# Target logit distributions (mean, std) per output channel group of a head, chosen so
# that objectness x class probability crosses 0.25 for a few percent of the cells.
_BOX_XY = (0.0, 1.0)
_BOX_WH = (-0.3, 0.5)
_OBJECTNESS = (-3.5, 1.5)
_CLASSES = (-3.0, 1.2)


def synthetic_image(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A deterministic BGR uint8 test picture: smooth gradients, blobs and a little noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    img = np.empty((height, width, 3), np.float32)
    img[..., 0] = 128 + 100 * np.sin(xx / 23.0 + seed)
    img[..., 1] = 128 + 100 * np.cos(yy / 31.0)
    img[..., 2] = 255 * (xx + yy) / (width + height)
    for _ in range(12):
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        r = rng.uniform(0.03, 0.2) * min(height, width)
        mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
        img[mask] = rng.uniform(0, 255, size=3)
    img += rng.normal(0, 6, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _init_block(block: ConvBlock, gen: torch.Generator) -> None:
    conv = block.conv
    fan_in = conv.in_channels // conv.groups * conv.kernel_size[0] * conv.kernel_size[1]
    with torch.no_grad():
        # He init keeps activations O(1) through leaky/mish stacks; BN statistics near the
        # identity, but not equal to it, so that their order in the file matters.
        conv.weight.normal_(0.0, (2.0 / fan_in) ** 0.5, generator=gen)
        if isinstance(block.bn, nn.BatchNorm2d):
            n = block.bn.num_features
            block.bn.weight.copy_(0.8 + 0.4 * torch.rand(n, generator=gen))
            block.bn.bias.copy_(0.1 * torch.randn(n, generator=gen))
            block.bn.running_mean.copy_(0.1 * torch.randn(n, generator=gen))
            block.bn.running_var.copy_(0.6 + 0.8 * torch.rand(n, generator=gen))
        elif conv.bias is not None:
            conv.bias.copy_(0.05 * torch.randn(conv.out_channels, generator=gen))


def _head_convs(model: DarknetModel) -> list[ConvBlock]:
    """The convolution feeding each [yolo] head (the layer right before it)."""
    convs = []
    for head in model.heads:
        block = model.layers[head.layer_index - 1]
        if not isinstance(block, ConvBlock) or block.batch_normalize:
            raise ValueError(f"layer {head.layer_index - 1} before [yolo] must be a convolution without batch norm")
        convs.append(block)
    return convs


@torch.no_grad()
def calibrated_random_model(cfg: DarknetCfg, seed: int = 0) -> DarknetModel:
    """An unfused DarknetModel with random weights calibrated as described above."""
    gen = torch.Generator().manual_seed(seed)
    model = DarknetModel(cfg).eval()
    for block in model.conv_blocks():
        _init_block(block, gen)
    heads = _head_convs(model)
    # Measure pre-activation head outputs: swap each head's activation out for the probe.
    saved = [h.act for h in heads]
    for h in heads:
        h.act = nn.Identity()
    image = synthetic_image(cfg.height, cfg.width, seed)
    x = torch.from_numpy(image[..., ::-1].copy()).permute(2, 0, 1)[None].float() / 255.0
    raw = model(x)
    for h, act in zip(heads, saved):
        h.act = act
    for spec, block, out in zip(model.heads, heads, raw):
        per_anchor = 5 + spec.num_classes
        targets = []
        for k in range(per_anchor):
            targets.append(_BOX_XY if k < 2 else _BOX_WH if k < 4 else _OBJECTNESS if k == 4 else _CLASSES)
        # One (mean, std) target per output channel, repeated for each anchor.
        target = torch.tensor(targets * spec.num_anchors, dtype=torch.float32)
        if spec.new_coords:
            # Logistic heads: w = 4 * sigmoid(t)^2 * anchor; centre the wh logits lower so
            # that boxes are mostly anchor-sized rather than up to 4x larger.
            target[2::per_anchor, 0] -= 0.7
            target[3::per_anchor, 0] -= 0.7
        flat = out[0].reshape(out.shape[1], -1)
        mean, std = flat.mean(dim=1), flat.std(dim=1).clamp_min(1e-6)
        gain = target[:, 1] / std
        conv = block.conv
        conv.weight.mul_(gain.reshape(-1, 1, 1, 1))
        conv.bias.copy_((conv.bias - mean) * gain + target[:, 0])
    return model


def write_random_weights(cfg_path: str | Path, weights_path: str | Path, seed: int = 0) -> int:
    """Write a calibrated random .weights file for ``cfg_path``; returns its size in bytes."""
    model = calibrated_random_model(parse_cfg(cfg_path), seed)
    size = write_darknet_weights(model, weights_path)
    log.info("wrote random weights for %s to %s (%d bytes)", cfg_path, weights_path, size)
    return size

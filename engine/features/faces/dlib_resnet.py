"""dlib's face descriptor network (dlib_face_recognition_resnet_model_v1.dat) as a torch module.

The network of dlib's dnn_face_recognition_ex: a ResNet-34-like stack with 29
convolutions, each followed by an affine (frozen batch-norm) layer, on a 150x150 RGB
chip, ending in global average pooling and a 128-unit linear layer without bias.
Descriptors are compared by plain L2 distance; dlib publishes 0.6 as the threshold
(99.38 % on LFW). Weights are read from the .dat file by our own parser (dlib_dnn.py).

dlib details that matter for exact agreement:
- input: (channel - channel mean) / 256 with the means stored in the file, RGB order;
- strided 3x3 convolutions, the 7x7 stem and the 3x3 max pool have no padding;
- a down-sampling residual adds a 2x2 average pool of its input, and where the two
  branches differ in channels or size, the smaller one is zero-padded (dlib's add_prev).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.features.faces.dlib_dnn import DnnFile, DnnLayer, check_kinds, read_dnn

log = logging.getLogger(__name__)

CHIP_SIZE = 150
DIM = 128
THRESHOLD = 0.6

_ARES = "LLLLLLLT"
_ARES_DOWN = "LLLSTLLLLLT"
# Outermost first: fc, global pool, then levels 0..4 (each written outer block first).
_LEVELS = [_ARES_DOWN] + [_ARES, _ARES, _ARES_DOWN] * 2 + [_ARES, _ARES, _ARES, _ARES_DOWN] + [_ARES] * 3
STRUCTURE = "LL" + "".join(_LEVELS) + "LLLI"
# Residual blocks innermost first: (filters, down-sampling?)
BLOCKS = [(32, False)] * 3 + [(64, True)] + [(64, False)] * 3 + [(128, True)] + [(128, False)] * 2 \
    + [(256, True)] + [(256, False)] * 2 + [(256, True)]


def _expected_kinds() -> list[str]:
    kinds = ["con", "affine", "relu", "max_pool"]
    for _, down in BLOCKS:
        kinds += ["con", "affine", "relu", "con", "affine"]
        kinds += ["avg_pool", "add_prev", "relu"] if down else ["add_prev", "relu"]
    return kinds + ["avg_pool", "fc"]


def add_padded(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """dlib's tensor add: (N, C, H, W) tensors of different C/H/W, the smaller zero-padded."""
    if a.shape == b.shape:
        return a + b
    c, h, w = (max(a.shape[i], b.shape[i]) for i in (1, 2, 3))

    def pad(t: torch.Tensor) -> torch.Tensor:
        return F.pad(t, (0, w - t.shape[3], 0, h - t.shape[2], 0, c - t.shape[1]))

    return pad(a) + pad(b)


class Affine(nn.Module):
    """Per-channel y = gamma * x + beta (dlib's affine_ layer in convolution mode)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("gamma", torch.ones(1, channels, 1, 1))
        self.register_buffer("beta", torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, x, self.gamma)


class Residual(nn.Module):
    """relu(affine(conv3(relu(affine(conv3 stride s (x)))))) + shortcut(x)); the shortcut is
    x, or a 2x2/2 average pool of x when down-sampling."""

    def __init__(self, cin: int, cout: int, down: bool) -> None:
        super().__init__()
        self.down = down
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=2 if down else 1, padding=0 if down else 1)
        self.aff1 = Affine(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.aff2 = Affine(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.aff2(self.conv2(F.relu(self.aff1(self.conv1(x)))))
        shortcut = F.avg_pool2d(x, 2, 2) if self.down else x
        return F.relu(add_padded(y, shortcut))


class DlibFaceResNet(nn.Module):
    """150x150 RGB chips -> 128-d descriptors (not normalised; compare with L2, threshold 0.6).

    forward(x): x float (N, 3, 150, 150), already (rgb - mean) / 256 (see ``prepare``).
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298]).view(1, 3, 1, 1))
        self.stem = nn.Conv2d(3, 32, 7, stride=2, padding=0)
        self.stem_aff = Affine(32)
        blocks, cin = [], 32
        for cout, down in BLOCKS:
            blocks.append(Residual(cin, cout, down))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(256, DIM, bias=False)

    def prepare(self, chips_rgb: torch.Tensor) -> torch.Tensor:
        """uint8/float (N, 150, 150, 3) RGB -> normalised (N, 3, 150, 150) on this module's device."""
        x = chips_rgb.to(self.mean_rgb.device).permute(0, 3, 1, 2).float()
        return ((x - self.mean_rgb) / 256.0).to(self.stem.weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Channels-last runs the convolutions on oneDNN / tensor-core kernels: ~5x faster on a CPU.
        x = x.contiguous(memory_format=torch.channels_last)
        x = F.max_pool2d(F.relu(self.stem_aff(self.stem(x))), 3, 2)
        x = self.blocks(x)
        return self.fc(x.mean(dim=(2, 3)))

    def load_dlib(self, net: DnnFile) -> None:
        """Copy the weights of a parsed dlib file into this module (shapes are checked)."""
        check_kinds(net, _expected_kinds(), "dlib face descriptor (ResNet)")
        layers = iter(net.layers)

        def conv(module: nn.Conv2d, layer: DnnLayer) -> None:
            s = layer.settings
            expected = (module.out_channels, module.kernel_size[0], module.stride[0], module.padding[0])
            found = (s["num_filters"], s["nr"], s["stride_y"], s["padding_y"])
            if expected != found:
                raise ValueError(f"{net.path.name}: convolution (filters, size, stride, padding) is {found}, expected {expected}")
            module.weight.data.copy_(torch.from_numpy(layer.arrays["filters"]))
            module.bias.data.copy_(torch.from_numpy(layer.arrays["biases"]))

        def affine(module: Affine, layer: DnnLayer) -> None:
            module.gamma.copy_(torch.from_numpy(layer.arrays["gamma"]).view_as(module.gamma))
            module.beta.copy_(torch.from_numpy(layer.arrays["beta"]).view_as(module.beta))

        conv(self.stem, next(layers))
        affine(self.stem_aff, next(layers))
        next(layers), next(layers)  # relu, max pool
        for block in self.blocks:
            conv(block.conv1, next(layers))
            affine(block.aff1, next(layers))
            next(layers)
            conv(block.conv2, next(layers))
            affine(block.aff2, next(layers))
            for _ in range(3 if block.down else 2):
                next(layers)
        next(layers)
        fc = next(layers)
        self.fc.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(fc.arrays["weights"].T)))
        self.mean_rgb.copy_(torch.tensor(net.input["avg_rgb"], dtype=torch.float32).view(1, 3, 1, 1))


def load_resnet(path: str | Path) -> DlibFaceResNet:
    """The descriptor network with the weights of ``path`` (DlibFormatError when unreadable)."""
    net = read_dnn(path, STRUCTURE, "face descriptor network")
    model = DlibFaceResNet()
    model.load_dlib(net)
    return model.eval().to(memory_format=torch.channels_last)

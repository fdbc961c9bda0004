"""VGG-16 features for the perceptual loss of fast style training (Johnson et al. 2016).

Weights: torchvision's ImageNet VGG-16 state_dict (``features.<index>.weight/bias``; the
classifier keys are ignored). Only the layers up to relu4_3 (features 0..22) are used.
Input: (B, 3, H, W) float RGB in 0..255 (the pixel range of TransformerNet); the ImageNet
normalisation is applied inside. Output: the four activations relu1_2, relu2_2, relu3_3,
relu4_3, shapes (B, 64, H, W), (B, 128, H/2, W/2), (B, 256, H/4, W/4), (B, 512, H/8, W/8).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import BadFormat
from engine.features.style.vgg import IMAGENET_MEAN, IMAGENET_STD

# (features index, in, out) of each conv up to conv4_3; "M" = max-pool.
_CFG: tuple[int | str, ...] = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512)
OUTPUTS = ("relu1_2", "relu2_2", "relu3_3", "relu4_3")
# torchvision's vgg16-397923af.pth holds the classifier too: the file's size budget counts it.
VGG16_FILE_PARAMETERS = 138_357_544
_TAPS = {3: "relu1_2", 8: "relu2_2", 15: "relu3_3", 22: "relu4_3"}  # index of the ReLU in ``features``


class VGG16WeightsError(BadFormat, ValueError):
    """A file is not torchvision's VGG-16 state_dict; the message names the first bad key."""


def _convs() -> list[tuple[int, int, int]]:
    out, index, cin = [], 0, 3
    for item in _CFG:
        if item == "M":
            index += 1
            continue
        out.append((index, cin, int(item)))
        cin = int(item)
        index += 2
    return out


CONVS = tuple(_convs())


def check_state(state: object, origin: str = "state_dict") -> dict[str, torch.Tensor]:
    """``{"<index>.weight"/"<index>.bias": tensor}`` of the ten convs used; VGG16WeightsError otherwise."""
    if not isinstance(state, Mapping):
        raise VGG16WeightsError(f"{origin}: expected a state_dict, got {type(state).__name__}")
    prefix = "features." if any(str(k).startswith("features.") for k in state) else ""
    out: dict[str, torch.Tensor] = {}
    for index, cin, cout in CONVS:
        for part, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"{prefix}{index}.{part}"
            tensor = state.get(key)
            if not isinstance(tensor, torch.Tensor):
                raise VGG16WeightsError(f"{origin}: missing key '{key}' — not torchvision's VGG-16 layout")
            if tuple(tensor.shape) != shape:
                raise VGG16WeightsError(f"{origin}: key '{key}' has shape {tuple(tensor.shape)}, expected {shape} (VGG-16)")
            out[f"{index}.{part}"] = tensor.float()
    return out


def load_state(path: str | Path) -> dict[str, torch.Tensor]:
    from engine.models import checkpoint

    p = Path(path)
    try:
        state = checkpoint.load(p, budget_bytes=checkpoint.budget_for_parameters(VGG16_FILE_PARAMETERS),
                                check=lambda s: check_state(s, str(p)), what="VGG-16 weights file")
    except checkpoint.CheckpointError as exc:
        raise VGG16WeightsError(str(exc)) from None
    return check_state(state, str(p))


def random_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random VGG-16 conv weights in torchvision's layout (Kaiming init, so activations neither vanish nor explode)."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for index, cin, cout in CONVS:
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2.0 / (cin * 9)) ** 0.5
        state[f"features.{index}.bias"] = torch.zeros(cout)
    return state


class VGG16Features(nn.Module):
    """Frozen VGG-16 up to relu4_3; forward returns the four ``OUTPUTS`` in order."""

    def __init__(self, state: Mapping[str, torch.Tensor]) -> None:
        super().__init__()
        weights = check_state(state)
        self.convs = nn.ModuleDict()
        for index, cin, cout in CONVS:
            conv = nn.Conv2d(cin, cout, 3, padding=1)
            conv.weight.data.copy_(weights[f"{index}.weight"])
            conv.bias.data.copy_(weights[f"{index}.bias"])
            self.convs[str(index)] = conv
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1) * 255.0)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1) * 255.0)
        self.requires_grad_(False)
        self.eval()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        y = (x - self.mean) / self.std
        outs: list[torch.Tensor] = []
        index = 0
        for item in _CFG:
            if item == "M":
                y = F.max_pool2d(y, 2, 2)
                index += 1
                continue
            y = F.relu(self.convs[str(index)](y))
            if index + 1 in _TAPS:
                outs.append(y)
            index += 2
        return outs

"""FaceNet's Inception-ResNet-v1 embedding network, in our own code.

The module and parameter names follow the state_dict layout of the published PyTorch
ports of David Sandberg's FaceNet checkpoints (conv2d_1a ... conv2d_4b, repeat_1/2/3,
mixed_6a, mixed_7a, block8, last_linear, last_bn, optional logits), so those
checkpoints load with ``load_state_dict(strict=True)``.

Input: (B, 3, 160, 160) float RGB, standardised as (x - 127.5) / 128.
Output: (B, 512) float, L2-normalised (unit vectors); or class logits when the
classifier layer exists and ``classify=True``.
Without ``logits`` the network has 23,482,624 parameters.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

EMBEDDING_DIM = 512
INPUT_SIZE = 160


class BasicConv2d(nn.Module):
    """conv (no bias) -> batch norm (eps 1e-3, as in the TensorFlow original) -> ReLU."""

    def __init__(self, in_ch: int, out_ch: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_ch, eps=0.001, momentum=0.1, affine=True)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class _Residual(nn.Module):
    """Shared tail of the Inception-ResNet blocks: concat branches, 1x1 up, scaled residual."""

    scale: float
    apply_relu: bool = True

    def _merge(self, x: torch.Tensor, branches: list[torch.Tensor]) -> torch.Tensor:
        out = self.conv2d(torch.cat(branches, 1))
        out = x + out * self.scale
        return self.relu(out) if self.apply_relu else out


class Block35(_Residual):
    """Inception-ResNet-A on 256 channels at 17x17."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1))
        self.branch2 = nn.Sequential(
            BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1), BasicConv2d(32, 32, 3, padding=1)
        )
        self.conv2d = nn.Conv2d(96, 256, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._merge(x, [self.branch0(x), self.branch1(x), self.branch2(x)])


class Block17(_Residual):
    """Inception-ResNet-B on 896 channels at 8x8 (factorised 1x7 / 7x1 convolutions)."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.Sequential(
            BasicConv2d(896, 128, 1),
            BasicConv2d(128, 128, (1, 7), padding=(0, 3)),
            BasicConv2d(128, 128, (7, 1), padding=(3, 0)),
        )
        self.conv2d = nn.Conv2d(256, 896, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._merge(x, [self.branch0(x), self.branch1(x)])


class Block8(_Residual):
    """Inception-ResNet-C on 1792 channels at 3x3; the last one skips the final ReLU."""

    def __init__(self, scale: float = 1.0, no_relu: bool = False) -> None:
        super().__init__()
        self.scale = scale
        self.apply_relu = not no_relu
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.Sequential(
            BasicConv2d(1792, 192, 1),
            BasicConv2d(192, 192, (1, 3), padding=(0, 1)),
            BasicConv2d(192, 192, (3, 1), padding=(1, 0)),
        )
        self.conv2d = nn.Conv2d(384, 1792, 1)
        if self.apply_relu:
            self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._merge(x, [self.branch0(x), self.branch1(x)])


class Mixed6a(nn.Module):
    """Reduction-A: 256 -> 896 channels, 17x17 -> 8x8."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2)
        self.branch1 = nn.Sequential(
            BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3, padding=1), BasicConv2d(192, 256, 3, stride=2)
        )
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x)], 1)


class Mixed7a(nn.Module):
    """Reduction-B: 896 -> 1792 channels, 8x8 -> 3x3."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2))
        self.branch2 = nn.Sequential(
            BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, padding=1), BasicConv2d(256, 256, 3, stride=2)
        )
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)], 1)


class InceptionResnetV1(nn.Module):
    """FaceNet embedding network.

    num_classes: size of the optional classifier layer ``logits`` (8631 for the VGGFace2
    checkpoint, 10575 for CASIA-WebFace); None builds the network without it.
    classify: when True and ``logits`` exists, forward returns logits instead of embeddings.
    """

    def __init__(self, num_classes: int | None = None, classify: bool = False, dropout: float = 0.6) -> None:
        super().__init__()
        self.classify = classify
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2)
        self.repeat_1 = nn.Sequential(*[Block35(scale=0.17) for _ in range(5)])
        self.mixed_6a = Mixed6a()
        self.repeat_2 = nn.Sequential(*[Block17(scale=0.10) for _ in range(10)])
        self.mixed_7a = Mixed7a()
        self.repeat_3 = nn.Sequential(*[Block8(scale=0.20) for _ in range(5)])
        self.block8 = Block8(no_relu=True)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(dropout)
        self.last_linear = nn.Linear(1792, EMBEDDING_DIM, bias=False)
        self.last_bn = nn.BatchNorm1d(EMBEDDING_DIM, eps=0.001, momentum=0.1, affine=True)
        self.logits = nn.Linear(EMBEDDING_DIM, num_classes) if num_classes else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (B, 3, 160, 160) standardised RGB -> (B, 512) unit vectors (or logits)."""
        x = self.conv2d_4b(self.conv2d_4a(self.conv2d_3b(self.maxpool_3a(
            self.conv2d_2b(self.conv2d_2a(self.conv2d_1a(x)))))))
        x = self.repeat_1(x)
        x = self.mixed_6a(x)
        x = self.repeat_2(x)
        x = self.mixed_7a(x)
        x = self.repeat_3(x)
        x = self.block8(x)
        x = self.dropout(self.avgpool_1a(x))
        x = self.last_bn(self.last_linear(x.flatten(1)))
        if self.classify and self.logits is not None:
            return self.logits(x)
        return F.normalize(x, p=2, dim=1)


def count_parameters(model: nn.Module, include_logits: bool = False) -> int:
    """Number of learnable parameters, leaving out the classifier layer unless asked."""
    return sum(
        p.numel() for name, p in model.named_parameters() if include_logits or not name.startswith("logits.")
    )

"""LeNet-5 (LeCun et al., 1998), the classic digit recogniser, built in so that the tab
always has a tiny model to show (no download, trains in seconds).

Input: (N, 1, 32, 32) grayscale in [-1, 1]; output: (N, 10) logits for the digits 0-9.
Sub-sampling layers are average pools and activations tanh, as in the paper; the
original's partial C3 connection table is replaced by a full convolution, as almost
every modern re-implementation does.
"""

from __future__ import annotations

import torch
from torch import nn

DIGITS = tuple(str(d) for d in range(10))


class LeNet5(nn.Module):
    """C1 conv5 (6) -> S2 avgpool -> C3 conv5 (16) -> S4 avgpool -> C5 (120) -> F6 (84) -> 10."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 6, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x))

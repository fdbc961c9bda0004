"""What the background-compile tests share: a tiny network, a quick compiler, the first
served calls the compile waits for, and the app's own warnings."""

from __future__ import annotations

import logging

import torch
from torch import nn

from engine.runtime.compiled import EAGER_FIRST


def tiny(seed: int = 0) -> nn.Module:
    """conv 3->4 (3x3), leaky ReLU, conv 4->2 (1x1): (N, 3, H, W) -> (N, 2, H, W), seeded."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.LeakyReLU(0.1), nn.Conv2d(4, 2, 1)).eval()


def aot_eager(module: nn.Module):
    """A real torch.compile that builds no C++ (seconds instead of a minute)."""
    return torch.compile(module, backend="aot_eager", dynamic=False)


def serve_first(net, x) -> None:
    """The first calls, after which the compile begins (it waits for them)."""
    for _ in range(EAGER_FIRST):
        net(x)


def notes(caplog) -> list[str]:
    """Our warnings (torch's own, e.g. about CUDA on a CPU-only machine, are not counted)."""
    return [r.getMessage() for r in caplog.records if r.name.startswith("engine.") and r.levelno >= logging.WARNING]

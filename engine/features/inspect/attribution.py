"""More explanations beside saliency, SmoothGrad and Grad-CAM: Integrated Gradients,
guided backpropagation and occlusion sensitivity.

All take a normalised input ``x`` of shape (1, C, H, W) and a class index, and need
gradients enabled (run them outside ``torch.inference_mode()``); the model's parameters
never accumulate ``.grad``. Maps are (H, W) float32 in input pixel coordinates.

- Integrated Gradients (Sundararajan et al. 2017): (x - x') times the average gradient
  along the straight path from the baseline x' (0 = the mean colour after
  normalisation) to x, by Gauss-Legendre quadrature. Completeness: the attributions
  sum to f(x) - f(x'), up to the quadrature error (:class:`Attribution.delta`).
- Guided backpropagation (Springenberg et al. 2015): the input gradient with every
  ReLU passing back only positive gradients (Captum's implementation).
- Occlusion (Zeiler & Fergus 2013): slide a grey square (0 after normalisation) over
  the image and record how much the class score drops; a pixel's value is the mean
  drop of the windows covering it (positive: hiding it hurts the class).

Integrated Gradients and occlusion have a ``backend``: "own" (the code here) or "captum"
(Captum's implementation of the same method). bench/inspect_live.py measures both in
the live loop (ResNet-18, 224 px, 2-core CPU): Captum's Integrated Gradients took 0.72x
the time of ours, so it is the default; our occlusion took 0.98x Captum's and also
covers the right and bottom borders when the window does not divide the input, so ours
is the default there. Guided backprop is Captum's only.
"""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from engine.features.inspect.saliency import class_scores

log = logging.getLogger(__name__)

BACKENDS = ("own", "captum")


@dataclass(frozen=True)
class Attribution:
    """attributions: (1, C, H, W) per input value. delta: sum(attributions) - (f(x) - f(x'))
    (the completeness gap; 0 for a perfect path integral). score/baseline_score: f(x), f(x')."""

    attributions: torch.Tensor
    delta: float
    score: float
    baseline_score: float

    def heat(self) -> torch.Tensor:
        """(H, W) in [0, 1]: |attribution| summed over channels, normalised to its peak."""
        return normalise(self.attributions.detach().abs().sum(dim=1)[0])


def normalise(values: torch.Tensor) -> torch.Tensor:
    """Shift to a minimum of 0 and scale to a peak of 1 (a constant map becomes 0)."""
    values = values - values.min()
    peak = values.max()
    return values / peak if peak > 0 else values


def _score(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    scores = class_scores(model(x))
    if not 0 <= target < scores.shape[1]:
        raise ValueError(f"class index {target} is out of range: the model has {scores.shape[1]} classes (0-{scores.shape[1] - 1})")
    return scores[:, target]


def integrated_gradients(model: nn.Module, x: torch.Tensor, target: int, *, baseline: torch.Tensor | None = None,
                         steps: int = 32, batch: int = 16, backend: str = "captum") -> Attribution:
    """Integrated Gradients of class ``target``; ``baseline`` defaults to zeros (the mean colour)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}': use one of {', '.join(BACKENDS)}")
    x = x.detach()
    base = torch.zeros_like(x) if baseline is None else baseline.detach().to(x)
    with torch.enable_grad():
        ends = _score(model, torch.cat([x, base]), target).detach()
    score, base_score = float(ends[0]), float(ends[1])
    if backend == "captum":
        from captum.attr import IntegratedGradients

        attributions = IntegratedGradients(model).attribute(x, baselines=base, target=target, n_steps=steps,
                                                            method="gausslegendre", internal_batch_size=batch)
    else:
        nodes, weights = np.polynomial.legendre.leggauss(steps)
        alphas = torch.tensor((nodes + 1) / 2, dtype=x.dtype, device=x.device)
        weights_t = torch.tensor(weights / 2, dtype=x.dtype, device=x.device)
        total = torch.zeros_like(x)
        diff = x - base
        for start in range(0, steps, batch):
            a = alphas[start:start + batch].view(-1, 1, 1, 1)
            points = (base + a * diff).requires_grad_(True)
            with torch.enable_grad():
                (grad,) = torch.autograd.grad(_score(model, points, target).sum(), points)
            total += (grad * weights_t[start:start + batch].view(-1, 1, 1, 1)).sum(dim=0, keepdim=True)
        attributions = diff * total
    attributions = attributions.detach()
    delta = float(attributions.sum()) - (score - base_score)
    return Attribution(attributions, delta, score, base_score)


def guided_backprop(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """Guided backpropagation map (H, W) in [0, 1]: |guided gradient|, max over channels.

    In-place ReLUs are switched to out-of-place for the call (backward hooks cannot see
    through an in-place op) and restored afterwards.
    """
    from captum.attr import GuidedBackprop

    relus = [m for m in model.modules() if isinstance(m, nn.ReLU) and m.inplace]
    for m in relus:
        m.inplace = False
    try:
        with torch.enable_grad(), warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Setting backward hooks on ReLU", category=UserWarning)
            grad = GuidedBackprop(model).attribute(x.detach().clone().requires_grad_(True), target=target)
    finally:
        for m in relus:
            m.inplace = True
    return normalise(grad.detach().abs().amax(dim=1)[0])


def occlusion(model: nn.Module, x: torch.Tensor, target: int, *, window: int | None = None, stride: int | None = None,
              batch: int = 16, backend: str = "own") -> torch.Tensor:
    """Occlusion sensitivity (H, W): mean drop of the class score when a grey square covers a pixel.

    window: side of the square in input pixels (default: a sixth of the input); stride:
    its step (default: half the window). Runs (H / stride)^2 forward passes, ``batch``
    at a time, under no_grad.
    """
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend '{backend}': use one of {', '.join(BACKENDS)}")
    x = x.detach()
    _, channels, height, width = x.shape
    window = int(window or max(2, min(height, width) // 6))
    stride = int(stride or max(1, window // 2))
    if backend == "captum":
        from captum.attr import Occlusion

        with torch.no_grad():
            out = Occlusion(model).attribute(x, target=target, sliding_window_shapes=(channels, window, window),
                                             strides=(channels, stride, stride), baselines=0.0, perturbations_per_eval=batch)
        return out.detach().sum(dim=1)[0] / channels
    ys = list(range(0, max(1, height - window) + 1, stride))
    xs = list(range(0, max(1, width - window) + 1, stride))
    # A last window flush with the border, so the right and bottom edges are covered too.
    if ys[-1] + window < height:
        ys.append(height - window)
    if xs[-1] + window < width:
        xs.append(width - window)
    boxes = [(y, xx) for y in ys for xx in xs]
    total = torch.zeros((height, width), device=x.device)
    count = torch.zeros((height, width), device=x.device)
    with torch.no_grad():
        reference = float(_score(model, x, target)[0])
        for start in range(0, len(boxes), batch):
            chunk = boxes[start:start + batch]
            occluded = x.repeat(len(chunk), 1, 1, 1)
            for i, (y, xx) in enumerate(chunk):
                occluded[i, :, y:y + window, xx:xx + window] = 0.0
            drops = reference - _score(model, occluded, target)
            for i, (y, xx) in enumerate(chunk):
                total[y:y + window, xx:xx + window] += drops[i]
                count[y:y + window, xx:xx + window] += 1
    return total / count.clamp(min=1)

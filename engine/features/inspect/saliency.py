"""Which pixels matter for a class: vanilla gradients, SmoothGrad and Grad-CAM.

All functions take a normalised input ``x`` of shape (1, C, H, W) and return a map of
shape (H, W), float32 in [0, 1] (1 = most important), in input pixel coordinates.
They need gradients: call them outside ``torch.inference_mode()``. Gradients are
taken with ``torch.autograd.grad`` with respect to the input or one activation only, so
the model's parameters never accumulate ``.grad``.

- Vanilla gradient (Simonyan et al. 2014): |d score / d pixel|, max over colour channels.
- SmoothGrad (Smilkov et al. 2017): the vanilla map averaged over copies of the input
  with Gaussian noise of ``sigma`` times the input's value range.
- Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k alpha_k A_k) where A is the chosen
  layer's output and alpha_k the spatial mean of d score / d A_k, upsampled bilinearly.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._pytree import tree_flatten

from engine.features.inspect.layer_table import find_layer

log = logging.getLogger(__name__)


class NotAClassifierError(ValueError):
    """The model's output has no per-class scores to explain."""


def class_scores(output) -> torch.Tensor:
    """The (N, classes) scores of a model output (a tensor, or the first tensor of a tuple)."""
    tensors = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
    if not tensors or tensors[0].dim() != 2:
        shape = tuple(tensors[0].shape) if tensors else None
        raise NotAClassifierError(f"the model's output {shape} is not (N, classes) scores: saliency and Grad-CAM need a classifier")
    return tensors[0]


def _normalise(saliency: torch.Tensor) -> torch.Tensor:
    saliency = saliency - saliency.min()
    peak = saliency.max()
    return saliency / peak if peak > 0 else saliency


def _check_class(scores: torch.Tensor, target: int) -> None:
    if not 0 <= target < scores.shape[1]:
        raise ValueError(f"class index {target} is out of range: the model has {scores.shape[1]} classes (0-{scores.shape[1] - 1})")


def vanilla_gradient(model: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """|d score_target / d x| max over channels, normalised: (1, C, H, W) -> (H, W) in [0, 1]."""
    x = x.detach().clone().requires_grad_(True)
    with torch.enable_grad():
        scores = class_scores(model(x))
        _check_class(scores, target)
        (grad,) = torch.autograd.grad(scores[:, target].sum(), x)
    return _normalise(grad.abs().amax(dim=1)[0]).detach()


def smooth_grad(model: nn.Module, x: torch.Tensor, target: int, samples: int = 16, sigma: float = 0.15, batch: int = 8, seed: int | None = 0) -> torch.Tensor:
    """SmoothGrad of the vanilla map: (1, C, H, W) -> (H, W) in [0, 1].

    sigma: noise standard deviation as a fraction of (max - min) of ``x``; samples are
    run ``batch`` at a time. ``seed`` makes the noise repeatable (None: fresh noise).
    """
    x = x.detach()
    generator = torch.Generator(device=x.device)
    if seed is not None:
        generator.manual_seed(seed)
    else:
        generator.seed()
    spread = float(sigma) * float(x.max() - x.min())
    total = torch.zeros(x.shape[-2:], device=x.device)
    done = 0
    while done < samples:
        n = min(batch, samples - done)
        noisy = (x.expand(n, -1, -1, -1) + spread * torch.randn((n, *x.shape[1:]), generator=generator, device=x.device)).requires_grad_(True)
        with torch.enable_grad():
            scores = class_scores(model(noisy))
            _check_class(scores, target)
            (grad,) = torch.autograd.grad(scores[:, target].sum(), noisy)
        total += grad.abs().amax(dim=1).sum(dim=0)
        done += n
    return _normalise(total / samples).detach()


def grad_cam(model: nn.Module, x: torch.Tensor, target: int | None, layer: str, model_name: str = "the model") -> tuple[torch.Tensor, torch.Tensor]:
    """Grad-CAM of ``target`` at ``layer``: returns (cam (H, W) in [0, 1] at input size, scores (N, classes)).

    target None explains the top class of this same forward pass (no extra pass).
    The layer must output a feature map (1, K, h, w). The hook is installed for this
    call only and always removed.
    """
    module = find_layer(model, layer, model_name)
    captured: list[torch.Tensor] = []

    def keep(mod, inputs, output):
        tensors = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
        if not tensors:
            return None
        captured.append(tensors[0])
        # Hand the rest of the network a copy, so an in-place op after this layer
        # (ResNet's `out += identity`, in-place ReLUs) cannot alter the captured map.
        return tensors[0].clone() if isinstance(output, torch.Tensor) else None

    handle = module.register_forward_hook(keep)
    try:
        x = x.detach().clone().requires_grad_(True)  # so A is part of the graph even with frozen weights
        with torch.enable_grad():
            scores = class_scores(model(x))
            if target is None:
                target = int(scores[0].argmax())
            _check_class(scores, target)
            if not captured:
                raise ValueError(f"layer '{layer}' did not run in the forward pass; choose another layer")
            activation = captured[-1]
            if activation.dim() != 4:
                raise ValueError(f"Grad-CAM needs a layer with a feature map (N, C, H, W); '{layer}' outputs {tuple(activation.shape)}")
            (grad,) = torch.autograd.grad(scores[:, target].sum(), activation)
    finally:
        handle.remove()
    weights = grad.mean(dim=(2, 3), keepdim=True)
    cam = F.relu((weights * activation).sum(dim=1, keepdim=True))
    cam = F.interpolate(cam, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return _normalise(cam).detach(), scores.detach()


def last_conv_layer(model: nn.Module) -> str:
    """Name of the last Conv2d in ``named_modules`` order (a sensible Grad-CAM default)."""
    name = ""
    for n, m in model.named_modules():
        if isinstance(m, nn.Conv2d):
            name = n
    if not name:
        raise ValueError("the model has no convolution layer for Grad-CAM")
    return name

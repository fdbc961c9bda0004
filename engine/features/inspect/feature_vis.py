"""Feature visualisation by optimisation: the image that excites a unit, a channel or a class most.

Follows Olah, Mordvintsev & Schubert, "Feature Visualization" (Distill 2017):

- the image is parameterised in a decorrelated space: a Fourier spectrum per colour
  channel, scaled by 1 / frequency so every frequency starts with the same energy
  (plain pixels let high frequencies win and give noise), mapped through the square
  root of ImageNet's colour correlation and a sigmoid to RGB in [0, 1];
- every step sees a randomly jittered, scaled and rotated copy (robustness to small
  transformations removes high-frequency adversarial patterns);
- a small total-variation penalty smooths what is left.

:func:`visualise` is a job: a generator yielding :class:`VisStep` progress (with a preview
image every few steps) and returning the final :class:`VisStep`; stop iterating to
cancel. Images are uint8 BGR (size, size, 3).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Iterator

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.features.inspect.layer_table import find_layer
from engine.features.inspect.saliency import class_scores

log = logging.getLogger(__name__)

OBJECTIVES = ("channel", "unit", "class")

# Square root of the colour covariance of ImageNet images (its SVD factor), the mapping
# from decorrelated to RGB colour used by the paper's reference code; columns scaled so
# the largest has unit norm.
_COLOR_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
_COLOR = _COLOR_SQRT / np.max(np.linalg.norm(_COLOR_SQRT, axis=0))


@dataclass(frozen=True)
class Objective:
    """What to maximise. kind: "channel" (mean of ``layer``'s channel ``index``), "unit" (that
    channel at the centre position, or ``position`` (row, col)) or "class" (logit ``index``)."""

    kind: str
    index: int
    layer: str | None = None
    position: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if self.kind not in OBJECTIVES:
            raise ValueError(f"unknown objective '{self.kind}': use one of {', '.join(OBJECTIVES)}")
        if self.kind != "class" and not self.layer:
            raise ValueError(f"a {self.kind} objective needs a layer")
        if self.index < 0:
            raise ValueError(f"the {self.kind} index must be 0 or more, got {self.index}")

    def describe(self) -> str:
        return f"class {self.index}" if self.kind == "class" else f"{self.layer} {self.kind} {self.index}"


@dataclass(frozen=True)
class VisStep:
    """step of steps; value: the objective on the un-jittered image; image: BGR uint8 preview or None."""

    step: int
    steps: int
    value: float
    image: np.ndarray | None


class FourierImage(nn.Module):
    """An RGB image (1, 3, size, size) in [0, 1] from a learnable, frequency-scaled spectrum."""

    def __init__(self, size: int, generator: torch.Generator | None = None, init: np.ndarray | None = None, std: float = 0.01) -> None:
        super().__init__()
        fy = np.fft.fftfreq(size)[:, None]
        fx = np.fft.rfftfreq(size)[None, :]
        freqs = np.sqrt(fy * fy + fx * fx)
        scale = 1.0 / np.maximum(freqs, 1.0 / size)
        self.size = size
        self.register_buffer("scale", torch.tensor(scale, dtype=torch.float32)[None, :, :, None])
        self.register_buffer("color", torch.tensor(_COLOR))
        shape = (3, size, size // 2 + 1, 2)
        spectrum = torch.randn(shape, generator=generator) * std
        if init is not None:
            spectrum = self._spectrum_of(init)
        self.spectrum = nn.Parameter(spectrum)

    def _spectrum_of(self, bgr: np.ndarray) -> torch.Tensor:
        # The exact inverse of forward(): sigmoid -> colour mixing -> irfft -> scaling.
        rgb = cv2.cvtColor(cv2.resize(bgr, (self.size, self.size), interpolation=cv2.INTER_AREA), cv2.COLOR_BGR2RGB)
        values = torch.tensor(rgb, dtype=torch.float32).permute(2, 0, 1) / 255.0
        logits = torch.logit(values.clamp(0.02, 0.98))
        decorrelated = torch.einsum("ij,jhw->ihw", torch.linalg.inv(self.color), logits)
        spectrum = torch.fft.rfft2(decorrelated * 4.0, norm="ortho")
        return torch.view_as_real(spectrum / self.scale[..., 0]).contiguous()

    def forward(self) -> torch.Tensor:
        spectrum = torch.view_as_complex((self.spectrum * self.scale).contiguous())
        decorrelated = torch.fft.irfft2(spectrum, s=(self.size, self.size), norm="ortho") / 4.0
        rgb = torch.einsum("ij,jhw->ihw", self.color, decorrelated)
        return torch.sigmoid(rgb)[None]


def random_transform(image: torch.Tensor, generator: torch.Generator, jitter: int = 8, scales=(0.95, 1.05), degrees: float = 5.0) -> torch.Tensor:
    """One random shift (up to ``jitter`` px), scale and rotation of (1, 3, S, S), edges reflected."""
    size = image.shape[-1]
    r = torch.rand(4, generator=generator)
    angle = math.radians((float(r[0]) * 2 - 1) * degrees)
    scale = scales[0] + float(r[1]) * (scales[1] - scales[0])
    tx, ty = ((float(r[2]) * 2 - 1) * jitter * 2 / size, (float(r[3]) * 2 - 1) * jitter * 2 / size)
    cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
    theta = torch.tensor([[cos, -sin, tx], [sin, cos, ty]], dtype=image.dtype, device=image.device)[None]
    grid = F.affine_grid(theta, list(image.shape), align_corners=False)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of (1, C, H, W)."""
    return (image[..., 1:, :] - image[..., :-1, :]).abs().mean() + (image[..., :, 1:] - image[..., :, :-1]).abs().mean()


class _Probe:
    """Forward hook keeping ``layer``'s output (with its graph) for the objective."""

    def __init__(self, model: nn.Module, layer: str | None, model_name: str) -> None:
        self.output: torch.Tensor | None = None
        self._handle = find_layer(model, layer, model_name).register_forward_hook(self._keep) if layer else None

    def _keep(self, module, inputs, output) -> None:
        self.output = output if isinstance(output, torch.Tensor) else next(t for t in output if isinstance(t, torch.Tensor))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.remove()


def _value(objective: Objective, probe: _Probe, output) -> torch.Tensor:
    if objective.kind == "class":
        scores = class_scores(output)
        if objective.index >= scores.shape[1]:
            raise ValueError(f"class {objective.index} is out of range: the model has {scores.shape[1]} classes")
        return scores[:, objective.index].mean()
    act = probe.output
    if act is None:
        raise ValueError(f"layer '{objective.layer}' did not run in the forward pass")
    if act.dim() == 2:
        act = act[:, :, None, None]
    if objective.index >= act.shape[1]:
        raise ValueError(f"{objective.layer} has {act.shape[1]} channels; channel {objective.index} does not exist")
    channel = act[:, objective.index]
    if objective.kind == "channel":
        return channel.mean()
    row, col = objective.position or (channel.shape[1] // 2, channel.shape[2] // 2)
    if not (0 <= row < channel.shape[1] and 0 <= col < channel.shape[2]):
        raise ValueError(f"unit ({row}, {col}) is outside {objective.layer}'s {channel.shape[1]}x{channel.shape[2]} grid")
    return channel[:, row, col].mean()


def to_bgr(image: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) RGB in [0, 1] -> (H, W, 3) uint8 BGR."""
    rgb = (image.detach()[0].permute(1, 2, 0).clamp(0, 1).cpu().numpy() * 255.0 + 0.5).astype(np.uint8)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)


def objective_value(model: nn.Module, image_bgr: np.ndarray, objective: Objective, mean, std, model_name: str = "the model") -> float:
    """The objective on a BGR uint8 image resized to the size the optimisation used (no jitter)."""
    rgb = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB)
    device = next(model.parameters()).device
    x = torch.tensor(rgb, dtype=torch.float32, device=device).permute(2, 0, 1)[None] / 255.0
    probe = _Probe(model, objective.layer if objective.kind != "class" else None, model_name)
    try:
        with torch.no_grad():
            output = model(_normalise(x, mean, std))
            return float(_value(objective, probe, output))
    finally:
        probe.close()


def _normalise(x: torch.Tensor, mean, std) -> torch.Tensor:
    m = torch.tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - m) / s


def visualise(model: nn.Module, objective: Objective, *, mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
              size: int = 224, steps: int = 256, lr: float = 0.05, tv_weight: float = 0.05, seed: int = 0,
              init_image: np.ndarray | None = None, preview_every: int = 16, model_name: str = "the model") -> Iterator[VisStep]:
    """A job maximising ``objective`` of ``model`` (eval mode; its parameters are not changed).

    mean/std: the model's input normalisation (RGB). init_image: BGR uint8 to start from
    (a "deep dream" of that picture) instead of random noise. Yields a VisStep after each
    step (with an image every ``preview_every`` steps); returns the last one, with image.
    """
    if steps < 1 or size < 16:
        raise ValueError(f"steps must be 1 or more and size 16 or more (got {steps}, {size})")
    if len(mean) != 3:
        raise ValueError("feature visualisation works on RGB models (3 input channels)")
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    param = FourierImage(size, generator, init_image).to(device)
    optimiser = torch.optim.Adam(param.parameters(), lr=lr)
    probe = _Probe(model, objective.layer if objective.kind != "class" else None, model_name)
    requires = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    last = VisStep(0, steps, 0.0, None)
    try:
        for step in range(1, steps + 1):
            with torch.enable_grad():
                image = param()
                seen = random_transform(image, generator)
                value = _value(objective, probe, model(_normalise(seen, mean, std)))
                loss = -value + tv_weight * total_variation(image)
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
            optimiser.step()
            preview = to_bgr(param()) if step % preview_every == 0 or step == steps else None
            last = VisStep(step, steps, float(value.detach()), preview)
            yield last
    finally:
        probe.close()
        for p, r in zip(model.parameters(), requires):
            p.requires_grad_(r)
    return last

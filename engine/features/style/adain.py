"""Real-time arbitrary style transfer with adaptive instance normalisation (Huang & Belongie 2017).

encoder (VGG-19 "normalised", up to relu4_1) -> AdaIN -> trained decoder. AdaIN moves the
per-channel mean and standard deviation of the content features onto the style's:

    AdaIN(x, s) = sigma_s * (x - mu(x)) / sigma(x) + mu_s      (statistics over H, W)

The style's (mu_s, sigma_s) are computed once per style image (``StyleStats``), so a
frame costs one encoder and one decoder pass. Interpolating between styles blends their
statistics, which is exactly the same as blending the AdaIN outputs because AdaIN is
affine in (mu_s, sigma_s).

Weights use the layouts of naoto0804/pytorch-AdaIN: ``vgg_normalised.pth`` is the
state_dict of a 53-module nn.Sequential (keys ``0.weight`` ... ``51.bias``, of which the
first 31 modules, up to relu4_1, are used) and ``decoder.pth`` of a 29-module one.
Tensors in: (1, 3, H, W) RGB in [0, 1]; images in and out: (H, W, 3) uint8 BGR.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.core.errors import BadFormat
from engine.features.style.imaging import bgr_to_tensor, combine_luminance, resize_long_side, tensor_to_bgr

log = logging.getLogger(__name__)

# Layer specs: ("conv", in, out, kernel), "pad", "relu", "pool", "up" — one module each,
# so that module indices equal the published checkpoints' key indices.
_ENCODER_SPEC: list[tuple | str] = [("conv", 3, 3, 1)]
for _cin, _cout, _count in ((3, 64, 2), (64, 128, 2), (128, 256, 4), (256, 512, 4), (512, 512, 4)):
    for _i in range(_count):
        _ENCODER_SPEC += ["pad", ("conv", _cin if _i == 0 else _cout, _cout, 3), "relu"]
    if _cout != 512 or _cin == 256:
        _ENCODER_SPEC.append("pool")
ENCODER_USED = 31  # modules 0..30 end at relu4_1

_DECODER_SPEC: list[tuple | str] = [
    "pad", ("conv", 512, 256, 3), "relu", "up",
    "pad", ("conv", 256, 256, 3), "relu", "pad", ("conv", 256, 256, 3), "relu",
    "pad", ("conv", 256, 256, 3), "relu", "pad", ("conv", 256, 128, 3), "relu", "up",
    "pad", ("conv", 128, 128, 3), "relu", "pad", ("conv", 128, 64, 3), "relu", "up",
    "pad", ("conv", 64, 64, 3), "relu", "pad", ("conv", 64, 3, 3),
]
EPS = 1e-5


class AdaINWeightsError(BadFormat, ValueError):
    """A file is not an AdaIN encoder/decoder state_dict; the message says why."""


def _build(spec: Sequence[tuple | str]) -> nn.Sequential:
    modules: list[nn.Module] = []
    for item in spec:
        if item == "pad":
            modules.append(nn.ReflectionPad2d(1))
        elif item == "relu":
            modules.append(nn.ReLU(inplace=True))
        elif item == "pool":
            modules.append(nn.MaxPool2d(2, 2, ceil_mode=True))
        elif item == "up":
            modules.append(nn.Upsample(scale_factor=2, mode="nearest"))
        else:
            _, cin, cout, k = item
            modules.append(nn.Conv2d(cin, cout, k))
    return nn.Sequential(*modules)


def _expected_shapes(spec: Sequence[tuple | str], limit: int | None = None) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    for index, item in enumerate(spec[:limit]):
        if isinstance(item, tuple):
            _, cin, cout, k = item
            shapes[f"{index}.weight"] = (cout, cin, k, k)
            shapes[f"{index}.bias"] = (cout,)
    return shapes


def _load_checked(path: str | Path, spec: Sequence[tuple | str], limit: int | None, what: str) -> dict[str, torch.Tensor]:
    from engine.models import checkpoint

    p = Path(path)
    origin = f"{p} ({what})"
    # The published files hold the whole network even where only its first layers are used.
    budget = checkpoint.budget_for_parameters(checkpoint.parameter_count(_expected_shapes(spec)))
    try:
        state = checkpoint.load(p, budget_bytes=budget, check=lambda s: check_state(s, spec, limit, origin), what="AdaIN weights file")
    except checkpoint.CheckpointError as exc:
        raise AdaINWeightsError(str(exc)) from None
    return check_state(state, spec, limit, origin)


def check_state(state: object, spec: Sequence[tuple | str], limit: int | None, origin: str) -> dict[str, torch.Tensor]:
    """The needed tensors of ``state``, checked against the layout; AdaINWeightsError otherwise."""
    if not isinstance(state, Mapping):
        raise AdaINWeightsError(f"{origin}: expected a state_dict, got {type(state).__name__}")
    out: dict[str, torch.Tensor] = {}
    for key, shape in _expected_shapes(spec, limit).items():
        tensor = state.get(key)
        if not isinstance(tensor, torch.Tensor):
            raise AdaINWeightsError(f"{origin}: missing '{key}' — not the pytorch-AdaIN layout")
        if tuple(tensor.shape) != shape:
            raise AdaINWeightsError(f"{origin}: '{key}' has shape {tuple(tensor.shape)}, expected {shape}")
        out[key] = tensor.float()
    return out


def load_encoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read ``vgg_normalised.pth`` (weights_only) and keep the layers up to relu4_1."""
    return _load_checked(path, _ENCODER_SPEC, ENCODER_USED, "AdaIN encoder vgg_normalised.pth")


def load_decoder_state(path: str | Path) -> dict[str, torch.Tensor]:
    """Read ``decoder.pth`` (weights_only)."""
    return _load_checked(path, _DECODER_SPEC, None, "AdaIN decoder decoder.pth")


def _random_state(spec: Sequence[tuple | str], seed: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    net = _build(spec)
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            # variance-preserving through ReLUs, so random weights still give images
            # that vary with the input instead of a constant colour
            nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
            nn.init.zeros_(module.bias)
    return net.state_dict()


def random_encoder_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised encoder in the full published layout (all 53 modules)."""
    return _random_state(_ENCODER_SPEC, seed)


def random_decoder_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised decoder in the published layout (output ~ [0, 1] scale)."""
    state = _random_state(_DECODER_SPEC, seed + 1)
    # the encoder's relu4_1 features are far larger than pixels; shrink the last layer
    # so a random decoder's output lands around the [0, 1] range instead of clipping
    state["28.weight"] = state["28.weight"] * 0.02
    state["28.bias"] = torch.full_like(state["28.bias"], 0.5)
    return state


@dataclass(frozen=True, eq=False)
class StyleStats:
    """Per-channel statistics of a style's relu4_1 features: mean, std (1, 512, 1, 1)."""

    mean: torch.Tensor
    std: torch.Tensor
    name: str = "style"


def feature_stats(features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and standard deviation over H, W of (B, C, H, W) features, each (B, C, 1, 1)."""
    var, mean = torch.var_mean(features, dim=(2, 3), keepdim=True, correction=0)
    return mean, (var + EPS).sqrt()


def adaptive_instance_norm(content: torch.Tensor, style: StyleStats) -> torch.Tensor:
    """AdaIN: content features with the style's per-channel mean and std."""
    mean, std = feature_stats(content)
    return (content - mean) / std * style.std + style.mean


def blend_stats(styles: Sequence[tuple[StyleStats, float]]) -> StyleStats:
    """Weighted mix of style statistics (weights normalised to sum 1)."""
    total = sum(max(w, 0.0) for _, w in styles)
    if not styles or total <= 0:
        raise ValueError("style interpolation needs at least one style with a positive weight")
    mean = sum(s.mean * (max(w, 0.0) / total) for s, w in styles)
    std = sum(s.std * (max(w, 0.0) / total) for s, w in styles)
    name = " + ".join(s.name for s, w in styles if w > 0)
    return StyleStats(mean, std, name)  # type: ignore[arg-type]


class AdaINStylizer(nn.Module):
    """Encoder to relu4_1 + decoder, ready for inference on ``device``.

    ``style_stats(image)`` once per style; ``stylize(image, stats, alpha)`` per frame.
    alpha: 0 = the content reconstructed by the decoder, 1 = full style.
    """

    def __init__(self, encoder_state: Mapping[str, torch.Tensor], decoder_state: Mapping[str, torch.Tensor],
                 device: torch.device | str = "cpu", channels_last: bool = True) -> None:
        super().__init__()
        enc = check_state(encoder_state, _ENCODER_SPEC, ENCODER_USED, "AdaIN encoder")
        dec = check_state(decoder_state, _DECODER_SPEC, None, "AdaIN decoder")
        self.encoder = _build(_ENCODER_SPEC[:ENCODER_USED])
        self.encoder.load_state_dict(enc)
        self.decoder = _build(_DECODER_SPEC)
        self.decoder.load_state_dict(dec)
        self.requires_grad_(False)
        self.eval()
        self.device = torch.device(device)
        self.to(self.device)
        # NHWC convolutions: ~20 % less CPU time a frame for this VGG-sized network (bench/style.py)
        self.channels_last = channels_last
        if channels_last:
            self.to(memory_format=torch.channels_last)

    @torch.inference_mode()
    def style_stats(self, image: np.ndarray, max_side: int = 512, name: str = "style") -> StyleStats:
        """Statistics of a style image (BGR), seen at most ``max_side`` px on its long side."""
        if max(image.shape[:2]) > max_side:
            image = resize_long_side(image, max_side)
        mean, std = feature_stats(self.encoder(bgr_to_tensor(image, self.device)))
        return StyleStats(mean.clone(), std.clone(), name)

    @torch.inference_mode()
    def stylize_tensor(self, content: torch.Tensor, style: StyleStats, alpha: float = 1.0) -> torch.Tensor:
        """(1, 3, H, W) RGB [0, 1] -> stylised (1, 3, H, W), cropped back to H, W."""
        h, w = content.shape[-2:]
        if self.channels_last:
            content = content.contiguous(memory_format=torch.channels_last)
        feats = self.encoder(content)
        target = adaptive_instance_norm(feats, style)
        alpha = float(min(max(alpha, 0.0), 1.0))
        if alpha < 1.0:
            target = alpha * target + (1.0 - alpha) * feats
        out = self.decoder(target)
        if out.shape[-2:] != (h, w):
            # ceil-mode pooling rounds odd sizes up, so the decoder may return a few extra
            # rows/columns; anything else is resized back.
            out = out[..., :h, :w] if out.shape[-2] >= h and out.shape[-1] >= w else F.interpolate(out, size=(h, w), mode="bilinear", align_corners=False)
        return out

    def stylize(self, image: np.ndarray, style: StyleStats, alpha: float = 1.0, preserve_color: bool = False) -> np.ndarray:
        """Stylise a BGR uint8 image; with ``preserve_color`` the content's chroma is kept."""
        out = tensor_to_bgr(self.stylize_tensor(bgr_to_tensor(image, self.device), style, alpha))
        return combine_luminance(out, image) if preserve_color else out

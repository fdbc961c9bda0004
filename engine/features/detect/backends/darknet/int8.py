"""CPU "fast" mode: statically quantised int8 convolutions (oneDNN; VNNI/AMX where present).

Each convolution of a batch-norm-folded DarknetModel becomes: quantise the input to
uint8 with a per-tensor scale and zero point measured on calibration frames, run
oneDNN's int8 convolution with per-output-channel int8 weights and a float32 output,
then the activation in float32. Everything between convolutions (maxpool, route,
upsample, shortcut, the heads' decoding) stays float32, so the network's interface is
unchanged: (1, 3, H, W) float32 RGB in [0, 1] in, the raw head outputs out.

The first convolution sees the image itself, k / 255 for uint8 pixels k: its scale is
exactly 1/255 and quantising it loses nothing. Elsewhere int8 costs accuracy; the bench
(bench/detect.py --variants fp32,int8) measures how much against float32 on the
oracle images. Only on the CPU, only float32 models, and only where this PyTorch build
has the oneDNN int8 ops (``available()``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import torch
from torch import nn

from engine.features.detect.backends.darknet.layers import ConvBlock

log = logging.getLogger(__name__)

# oneDNN fuses these after an int8 convolution; anything else runs as its own module.
_FUSED_POST_OPS = {nn.ReLU: "relu", nn.Identity: "none"}


def available() -> bool:
    """Whether this build can run int8 convolutions through oneDNN on the CPU."""
    return (torch.backends.mkldnn.is_available() and hasattr(torch.ops.onednn, "qconv_prepack")
            and hasattr(torch.ops.onednn, "qconv2d_pointwise"))


def activation_qparams(low: float, high: float) -> tuple[float, int]:
    """(scale, zero point) of an asymmetric uint8 range that holds [low, high] and 0."""
    low, high = min(float(low), 0.0), max(float(high), 0.0)
    scale = (high - low) / 255.0
    if scale <= 0.0:
        return 1.0, 0
    return scale, int(min(255, max(0, round(-low / scale))))


class Int8ConvAct(nn.Module):
    """uint8 activations x int8 per-channel weights -> float32, then the activation.

    Input and output: (N, C, H, W) float32 on the CPU (channels_last is what oneDNN
    wants). ``x_scale``/``x_zero_point`` quantise the input; ``input_hw`` tunes the
    weight packing (other sizes give the same results).
    """

    def __init__(self, conv: nn.Conv2d, activation: nn.Module, x_scale: float, x_zero_point: int,
                 input_hw: tuple[int, int]) -> None:
        super().__init__()
        self.padding, self.stride = list(conv.padding), list(conv.stride)
        self.dilation, self.groups = list(conv.dilation), conv.groups
        self.x_scale, self.x_zero_point = float(x_scale), int(x_zero_point)
        weight = conv.weight.detach().float()
        w_scale = (weight.abs().amax(dim=(1, 2, 3)) / 127.0).clamp_min(1e-12)
        w_int8 = torch.clamp(torch.round(weight / w_scale.reshape(-1, 1, 1, 1)), -128, 127).to(torch.int8)
        packed = torch.ops.onednn.qconv_prepack(
            w_int8.contiguous(memory_format=torch.channels_last), w_scale, self.x_scale, self.x_zero_point,
            self.stride, self.padding, self.dilation, self.groups, [1, conv.in_channels, *input_hw])
        self.register_buffer("weight", packed, persistent=False)
        self.register_buffer("w_scale", w_scale, persistent=False)
        self.register_buffer("w_zero_point", torch.zeros(w_scale.shape[0], dtype=torch.int64), persistent=False)
        bias = conv.bias.detach().float() if conv.bias is not None else None
        self.register_buffer("bias", bias, persistent=False)
        self.post_op = _FUSED_POST_OPS.get(type(activation))
        self.act = nn.Identity() if self.post_op is not None else activation
        self.post_op = self.post_op or "none"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # round(x / scale) + zero point, clamped to uint8: four vectorised passes, several
        # times faster here than the generic quantize_per_tensor kernels.
        qx = torch.mul(x, 1.0 / self.x_scale).add_(self.x_zero_point + 0.5).clamp_(0.0, 255.0).to(torch.uint8)
        y = torch.ops.onednn.qconv2d_pointwise(
            qx, self.x_scale, self.x_zero_point, self.weight, self.w_scale, self.w_zero_point, self.bias,
            self.stride, self.padding, self.dilation, self.groups, 1.0, 0, torch.float32, self.post_op, [], "")
        return self.act(y)


@torch.no_grad()
def quantize_for_cpu(model: nn.Module, calibration: Iterable[torch.Tensor]) -> int:
    """Replace every batch-norm-folded ConvBlock of ``model`` by an Int8ConvAct, in place.

    calibration: network inputs (1, 3, H, W) float32 CPU, e.g. a few preprocessed
    frames; each block's input range over all of them sets its quantisation (min/max).
    Returns how many blocks were quantised (0 when the build cannot). Irreversible:
    quantise a copy, for inference only.
    """
    if not available():
        return 0
    blocks = {name: m for name, m in model.named_modules()
              if isinstance(m, ConvBlock) and isinstance(m.bn, nn.Identity) and isinstance(m.conv, nn.Conv2d)}
    ranges: dict[str, list[float]] = {}
    sizes: dict[str, tuple[int, int]] = {}

    def observe(name: str, x: torch.Tensor) -> None:
        low, high = float(x.min()), float(x.max())
        seen = ranges.setdefault(name, [low, high])
        seen[0], seen[1] = min(seen[0], low), max(seen[1], high)
        sizes[name] = tuple(x.shape[-2:])

    hooks = [m.register_forward_pre_hook(lambda mod, inputs, n=name: observe(n, inputs[0])) for name, m in blocks.items()]
    count = 0
    try:
        for x in calibration:
            if x.device.type != "cpu" or x.dtype != torch.float32:
                return 0
            model(x)
            count += 1
    finally:
        for hook in hooks:
            hook.remove()
    if not count:
        raise ValueError("int8 quantisation needs at least one calibration input")
    first = next(iter(blocks), None)
    if first is not None and first in ranges:
        ranges[first] = [0.0, 1.0]  # the image, k / 255: quantised exactly
    quantised = 0
    for name, block in blocks.items():
        if name not in ranges:
            continue
        scale, zero_point = activation_qparams(*ranges[name])
        try:
            block.conv = Int8ConvAct(block.conv, block.act, scale, zero_point, sizes[name])
        except RuntimeError as exc:  # a conv shape oneDNN refuses: keep it float32
            log.debug("not quantising %s: %s", name, exc)
            continue
        block.act = nn.Identity()
        quantised += 1
    log.debug("quantised %d of %d convolutions to int8", quantised, len(blocks))
    return quantised

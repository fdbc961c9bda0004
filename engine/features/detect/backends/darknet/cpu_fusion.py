"""CPU fast path: each convolution and its activation as one oneDNN call on pre-packed weights.

In eager mode PyTorch re-lays-out a convolution's weights into oneDNN's blocked format
on every call and runs the activation as a separate pass over memory. For a small
network such as yolov4-tiny that overhead is a sizeable share of the frame (measured on
a 2-core CPU: 77-87 ms -> 70-77 ms per 416x416 frame, outputs bit-identical). Packing
once at load time and fusing the activation into the convolution removes both, the way
torch.compile's freezing pass does, without its compile time.

Only float32 on the CPU, and only activations oneDNN can fuse (leaky, relu, swish,
logistic, linear); Mish blocks (yolov4, yolov4-csp) keep the eager path. When the
PyTorch build lacks the oneDNN ops everything stays eager.
"""

from __future__ import annotations

import logging

import torch
from torch import nn

from engine.features.detect.backends.darknet.layers import ConvBlock
from engine.runtime import packed_conv

log = logging.getLogger(__name__)


def _fusable(act: nn.Module) -> tuple[str, list[float]] | None:
    """oneDNN's name (and scalars) for a fusable activation, else None."""
    if isinstance(act, nn.LeakyReLU):
        return "leaky_relu", [float(act.negative_slope)]
    if isinstance(act, nn.ReLU):
        return "relu", []
    if isinstance(act, nn.SiLU):
        return "swish", []
    if isinstance(act, nn.Sigmoid):
        return "sigmoid", []
    if isinstance(act, nn.Identity):
        return "none", []
    return None


# Whether this PyTorch build has the fused oneDNN convolution on packed weights: the same
# two ops as engine.runtime.packed_conv, whose check this is.
available = packed_conv.available


class PackedConvAct(nn.Module):
    """conv2d + activation in one oneDNN call; the weight is packed for ``input_hw``.

    Input and output: (N, C, H, W) float32 on the CPU, any memory format (channels_last
    is fastest). The packing is a layout choice tuned for ``input_hw`` (height, width);
    other sizes give the same results.
    """

    def __init__(self, conv: nn.Conv2d, activation: str, scalars: list[float], input_hw: tuple[int, int]) -> None:
        super().__init__()
        self.padding = list(conv.padding)
        self.stride = list(conv.stride)
        self.dilation = list(conv.dilation)
        self.groups = conv.groups
        self.activation, self.scalars = activation, scalars
        weight = conv.weight.detach().contiguous()
        packed = torch.ops.mkldnn._reorder_convolution_weight(
            weight, self.padding, self.stride, self.dilation, self.groups, [1, conv.in_channels, *input_hw]
        )
        self.register_buffer("weight", packed, persistent=False)
        bias = conv.bias.detach() if conv.bias is not None else None
        self.register_buffer("bias", bias, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.ops.mkldnn._convolution_pointwise(
            x, self.weight, self.bias, self.padding, self.stride, self.dilation, self.groups, self.activation, self.scalars, ""
        )


@torch.no_grad()
def pack_for_cpu(model: nn.Module, example: torch.Tensor) -> int:
    """Replace every fusable, batch-norm-folded ConvBlock of ``model`` by a packed one.

    example: an input of the size the model will mostly see, (1, 3, H, W) float32 CPU;
    one forward pass records each block's input size. Returns how many blocks were
    packed (0 when the build cannot). Irreversible: pack a model only for inference.
    """
    if not available() or example.device.type != "cpu" or example.dtype != torch.float32:
        return 0
    blocks = {name: m for name, m in model.named_modules() if isinstance(m, ConvBlock) and isinstance(m.bn, nn.Identity) and isinstance(m.conv, nn.Conv2d)}
    sizes: dict[str, tuple[int, int]] = {}
    hooks = [m.register_forward_pre_hook(lambda mod, inputs, n=name: sizes.__setitem__(n, tuple(inputs[0].shape[-2:]))) for name, m in blocks.items()]
    try:
        model(example)
    finally:
        for hook in hooks:
            hook.remove()
    packed = 0
    for name, block in blocks.items():
        fusable = _fusable(block.act)
        if fusable is None or name not in sizes:
            continue
        try:
            replacement = PackedConvAct(block.conv, fusable[0], fusable[1], sizes[name])
        except RuntimeError as exc:  # an unusual conv shape oneDNN refuses: keep it eager
            log.debug("not packing %s: %s", name, exc)
            continue
        block.conv = replacement
        block.act = nn.Identity()
        packed += 1
    log.debug("packed %d of %d convolutions for the CPU", packed, len(blocks))
    return packed

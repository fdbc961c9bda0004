"""Convolutions whose weights are laid out for oneDNN once, not on every call (CPU, float32).

An eager ``nn.Conv2d`` on the CPU hands oneDNN its weight in PyTorch's plain layout, and
oneDNN reorders it into its blocked one on every call: for ResNet-18 at 224x224 that is
more than a millisecond per 512x512x3x3 layer, and about a quarter of the frame on a
2-core AVX2 CPU (eager 46-54 ms, packed 35-37 ms, the same outputs to 2e-6). torch.compile's
freezing pass does the same packing, but only for a compiled graph, and a network that
is shown layer by layer (hooks on any module) and differentiated (saliency, Grad-CAM)
is better kept eager.

``pack_conv_weights(module, example)`` keeps every ``nn.Conv2d`` what it was (its
``weight`` parameter, hooks, ``state_dict``) and gives it a second, packed copy of the
weight that its forward uses when it can: float32 CPU input of the size the copy was
packed for (another size repacks once: a copy packed for one size runs several times
slower on another), no gradient wanted through the call, and the weight unchanged since
(PyTorch's version counter), and no exporter or compiler recording the call. Anything
else takes the ordinary path, so autograd, tracing, ONNX export, torch.compile, other
devices and dtypes, and edited weights behave exactly as before.
"""

from __future__ import annotations

import functools
import logging

import torch
from torch import nn

log = logging.getLogger(__name__)


def available() -> bool:
    """Whether this PyTorch build has oneDNN's convolution on packed weights."""
    ops = torch.ops.mkldnn
    return (torch.backends.mkldnn.is_available() and hasattr(ops, "_convolution_pointwise")
            and hasattr(ops, "_reorder_convolution_weight"))


class _Packed:
    """One convolution's packed weight: for an input of ``size`` (C, H, W), made from the
    weight at ``version``."""

    __slots__ = ("weight", "size", "version", "padding", "stride", "dilation")

    def __init__(self, conv: nn.Conv2d, size: tuple[int, int, int]) -> None:
        # The op's list arguments, made once here rather than on every call.
        self.padding, self.stride, self.dilation = list(conv.padding), list(conv.stride), list(conv.dilation)
        self.weight = torch.ops.mkldnn._reorder_convolution_weight(
            conv.weight.detach().contiguous(), self.padding, self.stride, self.dilation, conv.groups, [1, *size])
        self.size = size
        self.version = conv.weight._version

    def __deepcopy__(self, memo: dict) -> None:
        return None  # oneDNN's opaque tensor cannot be copied: a copied module packs again on its first call

    def __reduce__(self):
        return _nothing, ()


def _nothing() -> None:
    return None


def _packable(conv: nn.Module) -> bool:
    return (type(conv) is nn.Conv2d and conv.padding_mode == "zeros" and not isinstance(conv.padding, str)
            and conv.weight.dtype == torch.float32 and conv.weight.device.type == "cpu")


def _tracing() -> bool:
    """Whether an exporter or compiler is recording the call (TorchScript, ONNX,
    torch.compile / torch.export): they get the ordinary convolution, which they know."""
    return torch.jit.is_tracing() or torch.onnx.is_in_onnx_export() or torch.compiler.is_compiling()


def _packed_forward(self: nn.Conv2d, x: torch.Tensor) -> torch.Tensor:
    """``nn.Conv2d.forward`` on the packed weight where that gives the same result."""
    usable = (x.dim() == 4 and x.device.type == "cpu" and x.dtype == torch.float32
              and not (torch.is_grad_enabled() and (x.requires_grad or self.weight.requires_grad))
              and not _tracing())
    if not usable:
        return nn.Conv2d.forward(self, x)
    size = tuple(x.shape[1:])
    packed: _Packed | None = self._cnn_packed
    if packed is None or packed.size != size or packed.version != self.weight._version:
        try:
            packed = self._cnn_packed = _Packed(self, size)
        except RuntimeError as exc:  # a shape oneDNN refuses: this layer stays on the ordinary path
            log.debug("not packing a convolution: %s", exc)
            self.forward = functools.partial(nn.Conv2d.forward, self)
            return nn.Conv2d.forward(self, x)
    return torch.ops.mkldnn._convolution_pointwise(
        x, packed.weight, self.bias.detach() if self.bias is not None else None, packed.padding, packed.stride,
        packed.dilation, self.groups, "none", [], "")


@torch.no_grad()
def pack_conv_weights(module: nn.Module, example: torch.Tensor | None = None) -> int:
    """Give every plain float32 CPU ``nn.Conv2d`` of ``module`` a packed weight (see the
    module docstring); returns how many. ``example``: an input of the size the module will
    mostly see, (N, C, H, W), run once to pack each layer for its own input size (None:
    each layer packs on its first call). Calling it again does nothing more; a module moved
    to another device or dtype afterwards simply takes the ordinary path."""
    if not available():
        return 0
    count = 0
    for conv in module.modules():
        if _packable(conv) and not hasattr(conv, "_cnn_packed"):
            conv._cnn_packed = None
            conv.forward = functools.partial(_packed_forward, conv)  # a partial, unlike a bound method, pickles
            count += 1
    if count and example is not None and example.device.type == "cpu" and example.dtype == torch.float32:
        with torch.inference_mode():
            module(example)
    log.debug("packed the weights of %d convolutions", count)
    return count

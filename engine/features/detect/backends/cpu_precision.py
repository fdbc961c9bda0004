"""bfloat16 and int8 on the CPU for any detector network (YOLOX, RT-DETR, D-FINE).

Darknet YOLO has its own, fused path (darknet/int8.py: batch norm folded, ReLU fused into
oneDNN's int8 convolution). The families here reuse its int8 convolution
(``Int8ConvAct``) on every ``nn.Conv2d`` of a network, whatever follows it (batch norm,
SiLU, a residual sum, kept in float32, except an activation the caller pairs with its
convolution: ReLU and SiLU then run fused in oneDNN's kernel), and quantise ``nn.Linear``
layers dynamically
(int8 weights, activations quantised per call: fbgemm/oneDNN). The network's interface
does not change: float32 in, float32 out.

* ``settle(requested, device)``: the mode that really runs. bf16 only on a CPU, and only
  natively (AVX512-BF16/AMX) unless ``native_only=False`` (emulated: correct but slow, for
  checking agreement on CPUs without it); int8 only on a CPU whose PyTorch build has
  oneDNN's int8 convolution. Anything else runs float32, with a warning that says why
  (as Darknet's detector does).
* ``Int8Switch``: int8 mode's calibration. The first ``FRAMES`` inputs run in float32 and
  are kept; then a quantised copy of the network is built once (activation ranges
  min/max over those inputs), which runs from then on. The float32 original stays (the
  course views and the ONNX export read it).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable

import torch
from torch import nn

from engine.features.detect.backends.darknet import int8 as int8_convs
from engine.features.detect.backends.darknet.detector import cpu_bf16_supported

log = logging.getLogger(__name__)

#: What ``settle`` returns: the concrete modes a detector can run in.
MODES = ("fp32", "bf16", "int8")
#: Activations oneDNN's int8 convolution applies itself (its post-op names).
_POST_OPS = {nn.ReLU: "relu", nn.SiLU: "swish", nn.Identity: "none"}
#: ``pairs(model)`` gives (owner, conv attribute, activation attribute) for each
#: convolution whose activation may be fused; the others are quantised alone.
Pairs = Callable[[nn.Module], Iterable[tuple[nn.Module, str, str]]]


def settle(requested: str, device: torch.device, *, native_only: bool = True, name: str = "model") -> str:
    """The mode that runs for ``requested`` ("fp32", "bf16" or "int8"; "auto" must be
    resolved before) on ``device``; falls back to "fp32" with a warning naming why."""
    if requested not in MODES:
        raise ValueError(f"precision {requested!r} is not one of {', '.join(MODES)}")
    if requested == "fp32":
        return "fp32"
    if device.type != "cpu":
        log.warning("%s: %s is a CPU mode; running the %s default", name, requested, device.type)
        return "fp32"
    if requested == "bf16" and native_only and not cpu_bf16_supported():
        log.warning("%s: bfloat16 was asked for, but this CPU has no native support; using float32", name)
        return "fp32"
    if requested == "int8" and not int8_convs.available():
        log.warning("%s: int8 was asked for, but this PyTorch build lacks oneDNN's int8 ops; using float32", name)
        return "fp32"
    return requested


@torch.no_grad()
def quantize_convs(model: nn.Module, calibration: Iterable[tuple], pairs: Pairs | None = None) -> int:
    """Replace every ``nn.Conv2d`` of ``model`` (in place) by an int8 convolution whose
    input scale comes from the range it saw while ``model(*args)`` ran on each tuple of
    ``calibration``; returns how many were replaced. With ``pairs``, a paired activation
    that oneDNN can fuse (``_POST_OPS``) moves into the convolution (its own attribute
    becomes ``nn.Identity``). Convolutions that saw no float32 CPU input, or whose shape
    oneDNN refuses, stay float32."""
    if not int8_convs.available():
        return 0
    fused: dict[int, tuple[nn.Module, str]] = {}
    for owner, conv_attr, act_attr in (pairs(model) if pairs is not None else ()):
        act = getattr(owner, act_attr)
        if type(act) in _POST_OPS and type(getattr(owner, conv_attr)) is nn.Conv2d:
            fused[id(getattr(owner, conv_attr))] = (owner, act_attr)
    convs = {name: m for name, m in model.named_modules() if type(m) is nn.Conv2d}
    ranges: dict[str, list[float]] = {}
    sizes: dict[str, tuple[int, int]] = {}

    def observe(name: str, x: torch.Tensor) -> None:
        if x.dtype != torch.float32 or x.device.type != "cpu" or x.dim() != 4:
            return
        low, high = float(x.min()), float(x.max())
        seen = ranges.setdefault(name, [low, high])
        seen[0], seen[1] = min(seen[0], low), max(seen[1], high)
        sizes[name] = (int(x.shape[-2]), int(x.shape[-1]))

    hooks = [m.register_forward_pre_hook(lambda mod, inputs, n=name: observe(n, inputs[0]))
             for name, m in convs.items()]
    try:
        for args in calibration:
            model(*args)
    finally:
        for hook in hooks:
            hook.remove()
    count = 0
    for name, conv in convs.items():
        if name not in ranges:
            continue
        scale, zero_point = int8_convs.activation_qparams(*ranges[name])
        try:
            replacement = int8_convs.Int8ConvAct(conv, nn.Identity(), scale, zero_point, sizes[name])
        except RuntimeError as exc:  # a shape oneDNN refuses: keep it float32
            log.debug("not quantising %s: %s", name, exc)
            continue
        if id(conv) in fused:
            owner, act_attr = fused[id(conv)]
            replacement.post_op = _POST_OPS[type(getattr(owner, act_attr))]
            setattr(owner, act_attr, nn.Identity())
        parent_name, _, attr = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, attr, replacement)
        count += 1
    return count


def quantize_linears(model: nn.Module) -> int:
    """Replace every ``nn.Linear`` of ``model`` (in place) by a dynamically quantised one
    (int8 weights per tensor, activations quantised per call); returns how many."""
    count = sum(1 for m in model.modules() if type(m) is nn.Linear)
    if count:
        torch.ao.quantization.quantize_dynamic(model, {nn.Linear}, dtype=torch.qint8, inplace=True)
    return count


class Int8Switch:
    """int8 mode's one-off calibration (see the module docstring).

    model: the float32 network (left untouched). linears: quantise ``nn.Linear`` layers
    too (the DETR family's transformer; YOLOX has none). pairs: see ``quantize_convs``.
    ``feed(*args)`` before each float32 call: returns None while calibrating, then (once)
    the quantised copy.
    """

    FRAMES = 4

    def __init__(self, model: nn.Module, *, name: str = "model", linears: bool = False,
                 pairs: Pairs | None = None) -> None:
        self.model, self.name, self.linears, self.pairs = model, name, linears, pairs
        self._inputs: list[tuple] = []
        self.done = False

    def feed(self, *args: torch.Tensor) -> nn.Module | None:
        if self.done:
            return None
        self._inputs.append(tuple(a.detach().clone() for a in args))
        if len(self._inputs) < self.FRAMES:
            return None
        self.done = True
        inputs, self._inputs = self._inputs, []
        network = copy.deepcopy(self.model)
        try:
            with torch.inference_mode():
                convs = quantize_convs(network, inputs, self.pairs)
            linears = quantize_linears(network) if self.linears else 0
        except (RuntimeError, ValueError) as exc:
            log.warning("%s: int8 quantisation failed (%s); staying in float32", self.name, exc)
            return None
        log.info("%s: %d convolutions and %d linear layers quantised to int8", self.name, convs, linears)
        return network if convs or linears else None

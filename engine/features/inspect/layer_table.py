"""The layer table: every module of a network with its output shape, parameters,
mult-adds and receptive field, for multi-path networks too.

How it works: one forward pass of a zero image runs under a torch function mode that
sees every operation, modules and plain functions alike (``x + identity`` in ResNet,
``torch.cat`` in Inception and DenseNet, ``F.max_pool2d`` inside Inception blocks). Each
produced tensor is tagged with the receptive field it carries: sliding windows
(convolutions, pools, padding, resampling) transform the field of their input with the
formulas of :mod:`engine.features.inspect.receptive_field`; every other operation gives its
output the union of its same-sized inputs' fields, which is how merged paths take the
largest field. Forward hooks on every module then read the tag of the module's output,
so containers (``layer4``, ``features``) get the field at their output.

Two conventions, shared by most receptive-field tools: inputs broadcast from a smaller
map (the 1x1 channel weights of squeeze-and-excitation blocks) do not widen the field,
and global pooling or flattening makes a unit cover every position of the map before it.

Shapes in rows leave out the batch dimension: (C, H, W) for feature maps.
"""

from __future__ import annotations

import difflib
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_flatten
from torch.utils.weak import WeakTensorKeyDictionary

from engine.features.inspect.receptive_field import AxisRF, ReceptiveField, merge

log = logging.getLogger(__name__)


class UnknownLayerError(KeyError):
    """A layer name the model does not have; the message lists the valid names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else "unknown layer"


def layer_names(model: nn.Module) -> list[str]:
    """Names of every sub-module (``named_modules`` order, the root left out)."""
    return [name for name, _ in model.named_modules() if name]


def find_layer(model: nn.Module, name: str, model_name: str = "the model") -> nn.Module:
    """The sub-module called ``name``; UnknownLayerError suggests close names and lists all."""
    modules = dict(model.named_modules())
    if name and name in modules:
        return modules[name]
    valid = layer_names(model)
    close = difflib.get_close_matches(name, valid, n=3)
    hint = f"did you mean {', '.join(close)}? " if close else ""
    raise UnknownLayerError(f"{model_name} has no layer '{name}'; {hint}valid layers: {', '.join(valid)}")


# Positional parameter names of the functions whose windows we read, as torch defines them.
_CONV_ARGS = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")
_CONV_T_ARGS = ("input", "weight", "bias", "stride", "padding", "output_padding", "groups", "dilation")
_MAX_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices")
_AVG_POOL_ARGS = ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override")
_MAX_POOLS = {"max_pool2d", "_max_pool2d", "max_pool2d_with_indices"}
_AVG_POOLS = {"avg_pool2d", "lp_pool2d"}
_RESAMPLERS = {"interpolate", "upsample", "upsample_nearest", "upsample_bilinear", "upsample_nearest2d", "upsample_bilinear2d"}


def _bind(names: tuple[str, ...], args: tuple, kwargs: dict) -> dict[str, Any]:
    bound = dict(zip(names, args))
    bound.update(kwargs)
    return bound


def _pair(value: Any, default: int) -> tuple[int, int]:
    if value is None or (isinstance(value, (tuple, list)) and len(value) == 0):
        return default, default
    if isinstance(value, (tuple, list)):
        return (int(value[0]), int(value[-1]))
    return int(value), int(value)


def _is_map(t: torch.Tensor) -> bool:
    """True when the last two dimensions are a spatial grid (N, C, H, W); also for (N, H, W)
    slices such as ``x[:, 0]`` that GoogLeNet's input transform takes."""
    return t.dim() >= 3


class _FieldTracer(TorchFunctionMode):
    """Tags every tensor produced inside the mode with its receptive field; counts mult-adds."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: WeakTensorKeyDictionary = WeakTensorKeyDictionary()
        self.mult_adds = 0
        self.approximated: set[str] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        try:
            self._observe(func, args, kwargs, out)
        except Exception:  # never let bookkeeping break the forward pass
            log.debug("receptive-field bookkeeping failed for %s", getattr(func, "__name__", func), exc_info=True)
        return out

    # -- bookkeeping ------------------------------------------------------------------
    def _observe(self, func, args: tuple, kwargs: dict, out: Any) -> None:
        outputs = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        if not outputs:
            return
        name = getattr(func, "__name__", "")
        self._count(name, args, kwargs, outputs[0])
        inputs = [t for t in tree_flatten((args, kwargs))[0] if isinstance(t, torch.Tensor) and t in self.fields]
        if not inputs:
            return
        first = args[0] if args and isinstance(args[0], torch.Tensor) and args[0] in self.fields else inputs[0]
        field_in = self.fields[first]
        result: ReceptiveField | None = None
        if name == "conv2d":
            b = _bind(_CONV_ARGS, args, kwargs)
            kernel = tuple(b["weight"].shape[-2:])
            dilation = _pair(b.get("dilation"), 1)
            padding = b.get("padding", 0)
            if isinstance(padding, str):  # "valid" or "same" (torch puts the odd pixel on the right)
                padding = (0, 0) if padding == "valid" else tuple(dilation[i] * (kernel[i] - 1) // 2 for i in range(2))
            result = field_in.through(kernel, _pair(b.get("stride"), 1), _pair(padding, 0), dilation)
        elif name in _MAX_POOLS or name in _AVG_POOLS:
            b = _bind(_MAX_POOL_ARGS if name in _MAX_POOLS else _AVG_POOL_ARGS, args, kwargs)
            kernel = _pair(b["kernel_size"], 1)
            stride = _pair(b.get("stride"), 0)
            stride = kernel if stride == (0, 0) else stride
            result = field_in.through(kernel, stride, _pair(b.get("padding"), 0), _pair(b.get("dilation"), 1))
        elif name == "conv_transpose2d":
            b = _bind(_CONV_T_ARGS, args, kwargs)
            stride = _pair(b.get("stride"), 1)
            kernel = tuple(b["weight"].shape[-2:])
            upsampled = ReceptiveField(field_in.y.rescaled(stride[0]), field_in.x.rescaled(stride[1]))
            # A transposed conv is a conv (stride 1, padding k-1-p) over the zero-stuffed input.
            pad = _pair(b.get("padding"), 0)
            result = upsampled.through(kernel, (1, 1), (kernel[0] - 1 - pad[0], kernel[1] - 1 - pad[1]), _pair(b.get("dilation"), 1))
            self.approximated.add(name)
        elif name.startswith("adaptive_") or name.startswith("_adaptive_"):
            result = self._adaptive(field_in, first, outputs[0])
        elif name in _RESAMPLERS and _is_map(first) and _is_map(outputs[0]):
            fy = outputs[0].shape[-2] / first.shape[-2]
            fx = outputs[0].shape[-1] / first.shape[-1]
            result = ReceptiveField(field_in.y.rescaled(fy), field_in.x.rescaled(fx))
        elif name == "pad" and _is_map(first):
            pads = list(args[1] if len(args) > 1 else kwargs.get("pad", ()))
            left, top = (pads + [0, 0, 0, 0])[0], (pads + [0, 0, 0, 0])[2]
            result = field_in.through((1, 1), (1, 1), (int(top), int(left)))
        for t in outputs:
            self.fields[t] = result if result is not None else self._generic(name, inputs, t)

    def _adaptive(self, field_in: ReceptiveField, x: torch.Tensor, out: torch.Tensor) -> ReceptiveField:
        if not (_is_map(x) and _is_map(out)):
            return field_in
        axes = []
        for axis, size_in, size_out in ((field_in.y, x.shape[-2], out.shape[-2]), (field_in.x, x.shape[-1], out.shape[-1])):
            if size_out <= 0:
                axes.append(axis)
                continue
            if size_in % size_out:
                self.approximated.add("adaptive pooling with uneven bins")
            kernel = math.ceil(size_in / size_out)
            axes.append(axis.through(kernel, 1, 0) if size_out == 1 else AxisRF(axis.size + (kernel - 1) * axis.stride, axis.stride * size_in / size_out, axis.padding))
        if out.shape[-2] == 1 and out.shape[-1] == 1:
            return ReceptiveField(field_in.y.covering(x.shape[-2]), field_in.x.covering(x.shape[-1]))
        return ReceptiveField(axes[0], axes[1])

    def _generic(self, name: str, inputs: list[torch.Tensor], out: torch.Tensor) -> ReceptiveField:
        if _is_map(out):
            same = [self.fields[t] for t in inputs if _is_map(t) and t.shape[-2:] == out.shape[-2:]]
            if same:
                return merge(same)
            maps = [t for t in inputs if _is_map(t)]
            if maps:
                self.approximated.add(name or "unknown op")
                return merge([self.fields[t] for t in maps])
            return merge([self.fields[t] for t in inputs])
        # The spatial grid is gone (flatten, global mean, linear): a unit sees every position.
        if out.dim() >= 2:
            kept = [self.fields[t] for t in inputs if _is_map(t) and t.shape[-2:] == out.shape[-2:]]
            if kept:
                return merge(kept)
        collapsed = [
            ReceptiveField(self.fields[t].y.covering(t.shape[-2]), self.fields[t].x.covering(t.shape[-1])) if _is_map(t) else self.fields[t]
            for t in inputs
        ]
        return merge(collapsed)

    def _count(self, name: str, args: tuple, kwargs: dict, out: torch.Tensor) -> None:
        if name == "conv2d":
            weight = _bind(_CONV_ARGS, args, kwargs)["weight"]
            self.mult_adds += out.numel() * weight[0].numel()
        elif name == "conv_transpose2d":
            b = _bind(_CONV_T_ARGS, args, kwargs)
            self.mult_adds += b["input"].numel() * b["weight"][0].numel()
        elif name == "linear":
            weight = args[1] if len(args) > 1 else kwargs["weight"]
            self.mult_adds += out.numel() * weight.shape[-1]
        elif name in ("matmul", "mm", "bmm", "addmm", "__matmul__"):
            tensors = [a for a in args if isinstance(a, torch.Tensor)]
            if len(tensors) >= 2:
                self.mult_adds += out.numel() * tensors[-2].shape[-1]


@dataclass(frozen=True)
class LayerRow:
    """One module of the table.

    kernel/stride/padding: the module's own settings (int, or [h, w] when they differ;
    None for modules without them). output_shape: without the batch dimension, of the
    module's last call; None when the forward pass did not run it (training-only heads).
    params: parameters of the module and its children. mult_adds: multiply-accumulates
    of convolutions and linear layers run inside it for the traced input. calls: how
    often it ran (a shared ReLU runs several times; its row shows the last call).
    """

    name: str
    type: str
    depth: int
    is_container: bool
    kernel: Any
    stride: Any
    padding: Any
    output_shape: tuple[int, ...] | None
    params: int
    mult_adds: int
    receptive_field: ReceptiveField | None
    calls: int

    def as_dict(self) -> dict:
        """The JSON row of ``inspect --summary --json``."""
        return {
            "name": self.name,
            "type": self.type,
            "output_shape": list(self.output_shape) if self.output_shape is not None else None,
            "params": self.params,
            "mult_adds": self.mult_adds,
            "receptive_field": self.receptive_field.as_dict() if self.receptive_field is not None else None,
            "kernel": self.kernel,
            "stride": self.stride,
            "padding": self.padding,
            "depth": self.depth,
            "container": self.is_container,
        }


@dataclass(frozen=True)
class LayerTable:
    """Rows in ``named_modules`` order plus totals over the whole model.

    input_shape: (C, H, W) of the traced input. total_mult_adds: for that input.
    notes: operations whose receptive field could only be approximated.
    """

    model: str
    input_shape: tuple[int, int, int]
    rows: list[LayerRow]
    total_params: int
    trainable_params: int
    total_mult_adds: int
    output_shape: tuple[int, ...] | None
    notes: tuple[str, ...] = field(default=())

    def row(self, name: str) -> LayerRow:
        for row in self.rows:
            if row.name == name:
                return row
        close = difflib.get_close_matches(name, [r.name for r in self.rows], n=3)
        hint = f"did you mean {', '.join(close)}? " if close else ""
        raise UnknownLayerError(f"{self.model} has no layer '{name}'; {hint}valid layers: {', '.join(r.name for r in self.rows)}")

    def spatial_rows(self) -> list[LayerRow]:
        """Rows whose output is a feature map (C, H, W): the ones with channels to show."""
        return [r for r in self.rows if r.output_shape is not None and len(r.output_shape) == 3]

    def as_dict(self) -> dict:
        return {
            "model": self.model,
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_mult_adds": self.total_mult_adds,
            "input_shape": list(self.input_shape),
            "layers": [r.as_dict() for r in self.rows],
        }

    def format_text(self) -> str:
        """A fixed-width table for terminals, indented by depth, totals at the bottom."""
        header = f"{'layer':<34} {'type':<20} {'output':<16} {'params':>12} {'mult-adds':>15} {'RF':>9} {'jump':>6} {'pad':>6}"
        lines = [header, "-" * len(header)]
        for r in self.rows:
            shape = "x".join(str(s) for s in r.output_shape) if r.output_shape is not None else "(not run)"
            rf = r.receptive_field
            size, jump, pad = (_fmt(rf.size), _fmt(rf.stride), _fmt(rf.padding)) if rf is not None else ("", "", "")
            name = ("  " * r.depth + r.name)[:34]
            lines.append(f"{name:<34} {r.type[:20]:<20} {shape:<16} {r.params:>12,} {r.mult_adds:>15,} {size:>9} {jump:>6} {pad:>6}")
        lines.append("-" * len(header))
        c, h, w = self.input_shape
        lines.append(f"total params: {self.total_params:,} (trainable {self.trainable_params:,})")
        lines.append(f"total mult-adds for a {c}x{h}x{w} input: {self.total_mult_adds:,}")
        for note in self.notes:
            lines.append(f"note: {note}")
        return "\n".join(lines)


def _fmt(value: Any) -> str:
    return "x".join(str(v) for v in value) if isinstance(value, list) else str(value)


def _setting(module: nn.Module, attr: str) -> Any:
    value = getattr(module, attr, None)
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, (tuple, list)):
        values = [int(v) for v in value]
        return values[0] if len(set(values)) == 1 else values
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def build_layer_table(model: nn.Module, input_shape: Iterable[int] = (3, 224, 224), model_name: str = "model") -> LayerTable:
    """Trace one forward pass of a zero image of ``input_shape`` (C, H, W) through ``model``.

    The model is run as it is (call ``.eval()`` first for inference behaviour) on the
    device of its parameters, without gradients. Hooks are removed before returning.
    """
    input_shape = tuple(int(v) for v in input_shape)
    first_param = next(model.parameters(), None)
    device = first_param.device if first_param is not None else torch.device("cpu")
    dtype = first_param.dtype if first_param is not None else torch.float32
    tracer = _FieldTracer()
    records: dict[str, dict[str, Any]] = {}
    starts: dict[str, list[int]] = {}
    handles = []

    def pre_hook(name: str):
        def hook(module, inputs):
            starts.setdefault(name, []).append(tracer.mult_adds)
        return hook

    def post_hook(name: str):
        def hook(module, inputs, output):
            begin = starts[name].pop() if starts.get(name) else tracer.mult_adds
            record = records.setdefault(name, {"calls": 0, "mult_adds": 0, "shape": None, "field": None})
            record["calls"] += 1
            record["mult_adds"] += tracer.mult_adds - begin
            tensors = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
            if tensors:
                record["shape"] = tuple(int(s) for s in tensors[0].shape[1:])
                record["field"] = tracer.fields.get(tensors[0])
        return hook

    modules = [(name, m) for name, m in model.named_modules() if name]
    for name, module in modules:
        handles.append(module.register_forward_pre_hook(pre_hook(name)))
        handles.append(module.register_forward_hook(post_hook(name)))
    out_shape = None
    try:
        x = torch.zeros((1, *input_shape), device=device, dtype=dtype)
        with torch.no_grad(), tracer:
            tracer.fields[x] = ReceptiveField()
            out = model(x)
        out_tensors = [t for t in tree_flatten(out)[0] if isinstance(t, torch.Tensor)]
        out_shape = tuple(int(s) for s in out_tensors[0].shape[1:]) if out_tensors else None
    finally:
        for handle in handles:
            handle.remove()

    rows = []
    for name, module in modules:
        record = records.get(name, {"calls": 0, "mult_adds": 0, "shape": None, "field": None})
        rows.append(
            LayerRow(
                name=name,
                type=type(module).__name__,
                depth=name.count("."),
                is_container=any(True for _ in module.children()),
                kernel=_setting(module, "kernel_size"),
                stride=_setting(module, "stride"),
                padding=_setting(module, "padding"),
                output_shape=record["shape"],
                params=sum(p.numel() for p in module.parameters()),
                mult_adds=int(record["mult_adds"]),
                receptive_field=record["field"],
                calls=int(record["calls"]),
            )
        )
    params = list(model.parameters())  # parameters() yields each shared tensor once
    notes = tuple(f"receptive field through '{op}' is approximate" for op in sorted(tracer.approximated))
    return LayerTable(
        model=model_name,
        input_shape=input_shape,  # type: ignore[arg-type]
        rows=rows,
        total_params=sum(p.numel() for p in params),
        trainable_params=sum(p.numel() for p in params if p.requires_grad),
        total_mult_adds=int(tracer.mult_adds),
        output_shape=out_shape,
        notes=notes,
    )

"""VGG-19 feature extractor for optimisation-based style transfer (Gatys et al.).

Layers are named the way the papers name them: ``conv{block}_{n}``, ``relu{block}_{n}``
and ``pool{block}``; the features of a ``conv`` layer are taken before its ReLU (as the
PyTorch tutorial does). Weights come in torchvision's layout: a state_dict whose keys
are ``features.<index>.weight`` / ``features.<index>.bias`` (the classifier keys of the
published file are ignored); a bare ``features`` Sequential (``<index>.weight``) is also
accepted.

Input of the extractor: (B, 3, H, W) float RGB in [0, 1]; the ImageNet normalisation is
applied inside. Outputs: ``{layer name: (B, C, H / 2**pools, W / 2**pools)}``.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from engine.core.errors import BadFormat

log = logging.getLogger(__name__)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# torchvision's vgg19-dcbb9e9d.pth holds the classifier too: the file's size budget counts it.
VGG19_FILE_PARAMETERS = 143_667_240

# torchvision's configuration "E": output channels of each conv, "M" for a max-pool.
_VGG19_CFG: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M",
)


def _layer_table() -> list[tuple[str, int, int, int]]:
    """(name, index in torchvision's ``features``, in_channels, out_channels) per layer."""
    table: list[tuple[str, int, int, int]] = []
    block, conv_in_block, index, channels = 1, 0, 0, 3
    for item in _VGG19_CFG:
        if item == "M":
            table.append((f"pool{block}", index, channels, channels))
            index += 1
            block, conv_in_block = block + 1, 0
            continue
        conv_in_block += 1
        out = int(item)
        table.append((f"conv{block}_{conv_in_block}", index, channels, out))
        table.append((f"relu{block}_{conv_in_block}", index + 1, out, out))
        index += 2
        channels = out
    return table


LAYERS: tuple[tuple[str, int, int, int], ...] = tuple(_layer_table())
LAYER_NAMES: tuple[str, ...] = tuple(name for name, *_ in LAYERS)
_LAYER_INDEX = {name: i for i, (name, *_rest) in enumerate(LAYERS)}
CONV_LAYERS: tuple[str, ...] = tuple(n for n in LAYER_NAMES if n.startswith("conv"))


class VGGWeightsError(BadFormat, ValueError):
    """A file is not a VGG-19 state_dict in torchvision's layout; the message says why."""


def check_layer_names(names: Iterable[str]) -> None:
    """Raise ValueError naming any unknown layer and listing the valid ones."""
    unknown = [n for n in names if n not in _LAYER_INDEX]
    if unknown:
        raise ValueError(f"unknown VGG-19 layer(s) {', '.join(unknown)}; valid: {', '.join(CONV_LAYERS)} (and relu/pool names)")


def normalise_state_dict(state: Mapping[str, torch.Tensor], origin: str = "state_dict") -> dict[str, torch.Tensor]:
    """Return ``{"<index>.weight": tensor, ...}`` for the 16 convs, checked against VGG-19's shapes.

    Accepts torchvision's full model state_dict (``features.N.*`` plus classifier keys,
    which are dropped) or a bare ``features`` state_dict. Raises VGGWeightsError naming
    ``origin`` and the first missing key or wrong shape.
    """
    if not isinstance(state, Mapping):
        raise VGGWeightsError(f"{origin}: expected a state_dict (a mapping of tensors), got {type(state).__name__}")
    prefix = "features." if any(str(k).startswith("features.") for k in state) else ""
    out: dict[str, torch.Tensor] = {}
    for name, index, cin, cout in LAYERS:
        if not name.startswith("conv"):
            continue
        for part, shape in (("weight", (cout, cin, 3, 3)), ("bias", (cout,))):
            key = f"{prefix}{index}.{part}"
            tensor = state.get(key)
            if tensor is None:
                raise VGGWeightsError(f"{origin}: missing '{key}' — not a torchvision VGG-19 state_dict (vgg19-dcbb9e9d.pth)")
            if not isinstance(tensor, torch.Tensor) or tuple(tensor.shape) != shape:
                got = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else type(tensor).__name__
                raise VGGWeightsError(f"{origin}: '{key}' has shape {got}, VGG-19 needs {shape} (is this VGG-16 or a batch-norm VGG?)")
            out[f"{index}.{part}"] = tensor.detach().float()
    return out


def load_vgg19_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a torchvision VGG-19 checkpoint safely (``weights_only=True``) and check it."""
    from engine.models import checkpoint as safe_checkpoint

    p = Path(path)
    try:
        state = safe_checkpoint.load(p, budget_bytes=safe_checkpoint.budget_for_parameters(VGG19_FILE_PARAMETERS),
                                check=lambda s: normalise_state_dict(s, str(p)), what="VGG-19 weights file")
    except safe_checkpoint.CheckpointError as exc:
        raise VGGWeightsError(str(exc)) from None
    return normalise_state_dict(state, str(p))


def validate_vgg19_file(path: Path) -> None:
    """Catalog validator: raise ValueError when ``path`` is not a VGG-19 state_dict."""
    load_vgg19_state_dict(path)


def random_vgg19_state_dict(seed: int = 0) -> dict[str, torch.Tensor]:
    """A randomly initialised VGG-19 ``features`` state_dict in torchvision's key layout.

    Same initialisation as torchvision (Kaiming normal, fan_out, zero bias), for tests and
    benchmarks on machines that cannot download the trained weights.
    """
    gen = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for name, index, cin, cout in LAYERS:
        if name.startswith("conv"):
            std = (2.0 / (cout * 9)) ** 0.5
            state[f"features.{index}.weight"] = torch.randn((cout, cin, 3, 3), generator=gen) * std
            state[f"features.{index}.bias"] = torch.zeros(cout)
    return state


class VGGFeatures(nn.Module):
    """VGG-19 truncated after the deepest requested layer; returns the requested activations.

    Only the layers up to the deepest of ``layers`` are built, so a content layer of
    conv4_2 and style layers up to conv5_1 never run conv5_2 onwards. Parameters are
    frozen (``requires_grad=False``): the optimisation only needs gradients of the image.

    ``pool``: "max" (as trained) or "avg" (Gatys et al. report smoother results).
    ``checkpoint_blocks``: recompute activations inside each block during backward
    (activation checkpointing) instead of storing them, for outputs that would not fit.
    """

    def __init__(self, state: Mapping[str, torch.Tensor], layers: Iterable[str], pool: str = "max") -> None:
        super().__init__()
        self.layers = tuple(dict.fromkeys(layers))
        if not self.layers:
            raise ValueError("VGGFeatures needs at least one layer")
        check_layer_names(self.layers)
        if pool not in ("max", "avg"):
            raise ValueError(f"pool must be 'max' or 'avg', not {pool!r}")
        weights = normalise_state_dict(state)
        last = max(_LAYER_INDEX[n] for n in self.layers)
        wanted = set(self.layers)
        self.plan: list[tuple[str, str]] = []  # (layer name, kind) in execution order
        self.convs = nn.ModuleDict()
        for name, index, cin, cout in LAYERS[: last + 1]:
            kind = name[:4]
            if kind == "conv":
                conv = nn.Conv2d(cin, cout, 3, padding=1)
                conv.weight.data.copy_(weights[f"{index}.weight"])
                conv.bias.data.copy_(weights[f"{index}.bias"])
                self.convs[name] = conv
            self.plan.append((name, kind))
        self._wanted = wanted
        self.pool = pool
        # Blocks end after each pooling layer; checkpointing works per block.
        self._segments: list[list[tuple[str, str]]] = [[]]
        for step in self.plan:
            self._segments[-1].append(step)
            if step[1] == "pool":
                self._segments.append([])
        self._segments = [seg for seg in self._segments if seg]
        self.checkpoint_blocks = False  # set True to trade compute for memory (large outputs)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    @property
    def depth(self) -> int:
        """Number of layers actually run (conv, relu and pool layers)."""
        return len(self.plan)

    def forward(self, rgb: torch.Tensor) -> dict[str, torch.Tensor]:
        x = (rgb - self.mean) / self.std
        out: dict[str, torch.Tensor] = {}
        use_checkpoint = self.checkpoint_blocks and torch.is_grad_enabled() and rgb.requires_grad
        for segment in self._segments:
            if use_checkpoint:
                # Keep only each block's input for the backward pass and recompute the
                # activations inside it: roughly half the memory for ~1/3 more compute.
                x, feats = checkpoint(self._run_segment, x, segment, use_reentrant=False)
            else:
                x, feats = self._run_segment(x, segment)
            out.update(feats)
        return out

    def _run_segment(self, x: torch.Tensor, segment: list[tuple[str, str]]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        out: dict[str, torch.Tensor] = {}
        previous_kept = False
        for name, kind in segment:
            if kind == "conv":
                x = self.convs[name](x)
            elif kind == "relu":
                # In-place saves one activation-sized buffer per layer, but must not
                # overwrite a conv output that was handed out as a feature.
                x = F.relu(x, inplace=not previous_kept)
            elif self.pool == "max":
                x = F.max_pool2d(x, 2, 2)
            else:
                x = F.avg_pool2d(x, 2, 2)
            previous_kept = name in self._wanted
            if previous_kept:
                out[name] = x
        return x, out

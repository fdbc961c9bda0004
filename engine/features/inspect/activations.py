"""Reading one layer's activations out of the forward pass that also gives the prediction.

:class:`LayerTap` holds at most one forward hook, on the chosen layer. It is installed
when the layer is chosen and removed when another is chosen or the tap is closed, so
running frames never adds hooks, however many frames or layer switches there are.
The hook keeps a detached copy of the layer's output (a later in-place ReLU would
otherwise change what we show).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.utils._pytree import tree_flatten

from engine.features.inspect.layer_table import find_layer

log = logging.getLogger(__name__)


class LayerTap:
    """Captures the output of one named layer of ``model`` on each forward pass.

    ``layer`` may be changed at any time between passes; ``output`` is the captured
    tensor (detached, on the model's device) of the latest pass, or None.
    """

    def __init__(self, model: nn.Module, layer: str, model_name: str = "the model") -> None:
        self.model = model
        self.model_name = model_name
        self._handle = None
        self._layer = ""
        self.output: torch.Tensor | None = None
        self.layer = layer

    @property
    def layer(self) -> str:
        return self._layer

    @layer.setter
    def layer(self, name: str) -> None:
        if name == self._layer and self._handle is not None:
            return
        module = find_layer(self.model, name, self.model_name)  # validate before dropping the old hook
        self.close()
        self._handle = module.register_forward_hook(self._capture)
        self._layer = name

    def _capture(self, module: nn.Module, inputs, output) -> None:
        tensors = [t for t in tree_flatten(output)[0] if isinstance(t, torch.Tensor)]
        self.output = tensors[0].detach().clone() if tensors else None

    def close(self) -> None:
        """Remove the hook (idempotent)."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        self.output = None

    def __enter__(self) -> "LayerTap":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class ChannelSummary:
    """The strongest channels of one activation map.

    maps: (K, h, w) float32 activations of the chosen channels (raw values, not
    normalised). channels: (K,) int64 channel indices, strongest first (with a
    ChannelPicker: in tile order, each channel in the tile it had last frame). means: (K,)
    float32 mean activation of each. shape: (C, H, W) of the whole layer output.
    """

    maps: np.ndarray
    channels: np.ndarray
    means: np.ndarray
    shape: tuple[int, ...]


class ChannelPicker:
    """Picks the strongest channels frame after frame without shuffling the tiles.

    Ranking every frame anew moved a channel to another tile whenever two means swapped by
    a hair, so the grid reordered every frame. Here a channel keeps its tile while it stays
    among the strongest; it gives the tile up only when a channel not on show beats it by
    ``margin`` (relative) on means smoothed over frames (``smoothing``: the weight of the
    past, 0..1). Another layer, width or ``k`` starts afresh (strongest first).
    """

    def __init__(self, margin: float = 0.1, smoothing: float = 0.6) -> None:
        self.margin = margin
        self.smoothing = smoothing
        self._key: tuple[str, int, int] | None = None
        self._smooth: np.ndarray | None = None
        self._shown: list[int] = []

    def pick(self, means: np.ndarray, k: int, layer: str = "") -> np.ndarray:
        """``means``: (C,) mean activation per channel of this frame. Returns (K,) int64 channel
        indices in tile order (K = min(k, C))."""
        means = np.asarray(means, np.float64)
        k = max(1, min(int(k), means.shape[0]))
        key = (layer, int(means.shape[0]), k)
        if key != self._key or self._smooth is None:
            self._key, self._smooth = key, means.copy()
            self._shown = [int(c) for c in np.argsort(-means, kind="stable")[:k]]
            return np.asarray(self._shown, np.int64)
        self._smooth = self.smoothing * self._smooth + (1.0 - self.smoothing) * means
        smooth = self._smooth
        shown = set(self._shown)
        for candidate in np.argsort(-smooth, kind="stable")[:k]:
            candidate = int(candidate)
            if candidate in shown:
                continue
            slot = min(range(k), key=lambda i: smooth[self._shown[i]])
            weakest = smooth[self._shown[slot]]
            if smooth[candidate] <= weakest + self.margin * abs(weakest) + 1e-12:
                break  # candidates come strongest first: none of the rest beats it either
            shown.discard(self._shown[slot])
            self._shown[slot] = candidate
            shown.add(candidate)
        return np.asarray(self._shown, np.int64)


def top_channels(activation: torch.Tensor, k: int = 16, picker: ChannelPicker | None = None,
                 layer: str = "") -> ChannelSummary:
    """The ``k`` channels with the largest mean activation of a (1, C, H, W) or (C, H, W) map,
    strongest first; with a ``picker``, its stable choice in tile order (see ChannelPicker).

    Non-spatial outputs (C,) or (1, C) are treated as C maps of 1 x 1.
    """
    act = activation.detach()
    if act.dim() == 4:
        act = act[0]
    elif act.dim() == 2:
        act = act[0][:, None, None]
    elif act.dim() == 1:
        act = act[:, None, None]
    if act.dim() != 3:
        raise ValueError(f"cannot show an activation of shape {tuple(activation.shape)} as channel maps")
    act = act.float()
    means = act.mean(dim=(1, 2))
    k = max(1, min(int(k), act.shape[0]))
    if picker is None:
        values, order = torch.topk(means, k)
    else:
        order = torch.as_tensor(picker.pick(means.cpu().numpy(), k, layer), device=means.device)
        values = means.index_select(0, order)
    maps = act.index_select(0, order)
    return ChannelSummary(
        maps=maps.cpu().numpy(),
        channels=order.cpu().numpy().astype(np.int64),
        means=values.cpu().numpy().astype(np.float32),
        shape=tuple(int(s) for s in act.shape),
    )


def channel_maps(activation: torch.Tensor, channels: list[int] | np.ndarray) -> np.ndarray:
    """Chosen channels of a (1, C, H, W) activation as (K, H, W) float32."""
    act = activation.detach()
    act = act[0] if act.dim() == 4 else act
    index = torch.as_tensor(np.asarray(channels, dtype=np.int64), device=act.device)
    return act.index_select(0, index).float().cpu().numpy()

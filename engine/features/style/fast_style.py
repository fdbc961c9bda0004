"""Running a fast style network (``TransformerNet``) on photos and live frames.

``FastStylizer.stylize(image)`` takes a BGR uint8 (H, W, 3) frame, runs the network at a
processing size (long side ``process_side``, rounded to a multiple of 4 so the strided
layers give back exactly that size), and returns a BGR uint8 frame of the input's size:
the network output is upscaled with a bicubic filter and a light unsharp mask ("sharp
upsample"), then mixed with the frame by ``strength`` (1 = full style). Cost grows with
the processed area, so halving the long side makes a frame about 4x cheaper.

Speed options, kept only where they measured faster (``bench/style.py``):
``channels_last`` (NHWC convolutions through oneDNN), ``half`` (float16 on CUDA),
``jit`` (TorchScript freeze + optimize_for_inference, which folds the graph for oneDNN).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch

from engine.features.style.imaging import combine_luminance
from engine.features.style.transformer_net import TransformerNet, build, read_state

log = logging.getLogger(__name__)

MIN_SIDE, MAX_SIDE = 160, 1280


@dataclass(frozen=True)
class SpeedOptions:
    """How the network is run; see the module docstring. Defaults: what measured best on a 2-core CPU."""

    channels_last: bool = False
    half: bool = False
    jit: bool = False
    sharpen: float = 0.5  # unsharp-mask amount after upscaling (0 = plain bicubic)


def processing_size(height: int, width: int, long_side: int) -> tuple[int, int]:
    """(h, w) with the long side at most ``long_side`` px, aspect kept, both multiples of 4 (>= 16)."""
    scale = min(1.0, long_side / max(height, width))
    h = max(16, int(round(height * scale / 4)) * 4)
    w = max(16, int(round(width * scale / 4)) * 4)
    return h, w


def sharp_resize(image: np.ndarray, width: int, height: int, amount: float = 0.5) -> np.ndarray:
    """Resize BGR uint8 ``image`` to (height, width); when enlarging, bicubic + unsharp mask of ``amount``."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    enlarging = width > image.shape[1]
    out = cv2.resize(image, (width, height), interpolation=cv2.INTER_CUBIC if enlarging else cv2.INTER_AREA)
    if enlarging and amount > 0:
        # the blur radius follows the upscale factor: it removes what bicubic smeared
        sigma = 0.5 * width / image.shape[1]
        blurred = cv2.GaussianBlur(out, (0, 0), sigma)
        out = cv2.addWeighted(out, 1.0 + amount, blurred, -amount, 0.0)
    return out


class FastStylizer:
    """A TransformerNet ready for inference on ``device``.

    net: a TransformerNet (or a state_dict in its layout). name: the style's display name.
    """

    def __init__(self, net: TransformerNet | dict, device: torch.device | str = "cpu", name: str = "fast style",
                 options: SpeedOptions | None = None) -> None:
        self.device = torch.device(device)
        self.name = name
        self.options = options or SpeedOptions()
        model = net if isinstance(net, TransformerNet) else build(net)
        model = model.eval().requires_grad_(False).to(self.device)
        self._dtype = torch.float16 if self.options.half and self.device.type == "cuda" else torch.float32
        model = model.to(self._dtype)
        if self.options.channels_last:
            model = model.to(memory_format=torch.channels_last)
        self.net: Any = model
        self._traced_shape: tuple[int, ...] | None = None
        self._eager = model

    def _run(self, x: torch.Tensor) -> torch.Tensor:
        if self.options.jit:
            if self._traced_shape != tuple(x.shape):
                # a frozen graph is specialised to a shape; re-trace when the processing size changes
                with torch.inference_mode(False), torch.no_grad():
                    traced = torch.jit.trace(self._eager, x.clone())
                    self.net = torch.jit.optimize_for_inference(torch.jit.freeze(traced))
                self._traced_shape = tuple(x.shape)
            with torch.no_grad():
                return self.net(x)
        return self.net(x)

    @torch.inference_mode()
    def stylize_tensor(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) RGB 0..255 -> (N, 3, H', W') RGB clamped to 0..255 (float32)."""
        x = x.to(self.device, self._dtype)
        if self.options.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return self._run(x).float().clamp_(0, 255)

    @torch.inference_mode()
    def stylize_small(self, image: np.ndarray, long_side: int) -> np.ndarray:
        """The network's output (BGR uint8) at the processing size for ``image`` (BGR uint8)."""
        h, w = processing_size(image.shape[0], image.shape[1], long_side)
        small = image if image.shape[:2] == (h, w) else cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA)
        rgb = np.ascontiguousarray(small[:, :, ::-1])
        x = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0).float()
        y = self.stylize_tensor(x)[0]
        if y.shape[-2:] != (h, w):
            y = y[:, :h, :w]
        out = y.permute(1, 2, 0).round_().to(torch.uint8).cpu().numpy()
        return np.ascontiguousarray(out[:, :, ::-1])

    def stylize(self, image: np.ndarray, long_side: int = 640, strength: float = 1.0,
                preserve_color: bool = False) -> np.ndarray:
        """Stylise a BGR uint8 (H, W, 3) image; returns BGR uint8 (H, W, 3).

        long_side: processing size (px, long side). strength: 0 = the image, 1 = full style.
        preserve_color: keep the image's colours, take only the style's luminance.
        """
        small = self.stylize_small(image, long_side)
        out = sharp_resize(small, image.shape[1], image.shape[0], self.options.sharpen)
        if preserve_color:
            out = combine_luminance(out, image)
        a = float(min(max(strength, 0.0), 1.0))
        if a < 1.0:
            out = cv2.addWeighted(out, a, image, 1.0 - a, 0.0)
        return out


def load_fast_file(path: str | Path, device: torch.device | str = "cpu", options: SpeedOptions | None = None) -> FastStylizer:
    """A FastStylizer from any state_dict file in the TransformerNet layout (FastStyleWeightsError otherwise)."""
    p = Path(path)
    return FastStylizer(read_state(p), device, name=p.stem, options=options)

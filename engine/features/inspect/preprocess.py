"""Turning a BGR frame into a network input, and mapping input pixels back to the frame.

Live inspection squashes the whole frame to the square input (no crop), so that maps,
saliency and receptive-field boxes cover the whole picture the user sees; the slight
change of aspect ratio does not matter for looking at features.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import torch

from engine.features.inspect.zoo import Preprocessing

_INTERPOLATION = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC, "nearest": cv2.INTER_NEAREST}


@dataclass(frozen=True)
class InputGeometry:
    """How network-input pixels relate to frame pixels.

    The network input is ``input_size`` x ``input_size``; frame x = input x * scale_x,
    frame y = input y * scale_y (pixel edges, so input pixel i covers frame
    [i * scale, (i + 1) * scale)).
    """

    input_size: int
    frame_width: int
    frame_height: int

    @property
    def scale_x(self) -> float:
        return self.frame_width / self.input_size

    @property
    def scale_y(self) -> float:
        return self.frame_height / self.input_size

    def to_frame(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box x1 y1 x2 y2 in input pixels -> the same box in frame pixels."""
        x1, y1, x2, y2 = box
        return (x1 * self.scale_x, y1 * self.scale_y, x2 * self.scale_x, y2 * self.scale_y)

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """A frame point -> the input point it lands on."""
        return x / self.scale_x, y / self.scale_y


def frame_to_tensor(image: np.ndarray, pre: Preprocessing, device: torch.device | str = "cpu") -> tuple[torch.Tensor, InputGeometry]:
    """BGR uint8 (H, W, 3) -> normalised float32 (1, C, S, S) on ``device``, with its geometry.

    C is 3 (RGB, the order torchvision weights expect) or 1 (gray) per ``pre.channels``.
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise ValueError(f"expected a BGR uint8 image of shape (H, W, 3), got {image.dtype} {image.shape}")
    height, width = image.shape[:2]
    size = pre.input_size
    resized = cv2.resize(image, (size, size), interpolation=_INTERPOLATION.get(pre.interpolation, cv2.INTER_LINEAR))
    if pre.channels == 1:
        pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2GRAY)[:, :, None]
    else:
        pixels = cv2.cvtColor(resized, cv2.COLOR_BGR2RGB)
    tensor = torch.from_numpy(np.ascontiguousarray(pixels)).to(device).permute(2, 0, 1).float().div_(255.0)
    mean = torch.tensor(pre.mean, device=tensor.device).view(-1, 1, 1)
    std = torch.tensor(pre.std, device=tensor.device).view(-1, 1, 1)
    tensor = ((tensor - mean) / std).unsqueeze(0).contiguous()
    return tensor, InputGeometry(size, width, height)

"""Frame -> network input tensor, with buffers reused from frame to frame.

The network sees RGB in [0, 1], shape (1, 3, H, W), made from a BGR uint8 frame either
by a plain bilinear resize to (W, H) — what Darknet and OpenCV's ``blobFromImage(...,
crop=False)`` do — or by a letterbox (aspect kept, centred, grey 0.5 padding) when the
cfg says ``letter_box=1``.

Per input size and device the preprocessor keeps: a host uint8 RGB buffer that
``cv2.resize``/``cvtColor`` write into (pinned memory on CUDA so the upload is
asynchronous) and a device tensor of the model's dtype/memory format; the per-frame path
allocates nothing on the host.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

from engine.features.detect.types import InputMapping


def letterbox_geometry(frame_w: int, frame_h: int, in_w: int, in_h: int) -> tuple[int, int, int, int, float]:
    """(new_w, new_h, pad_x, pad_y, scale) of a letterbox of the frame into the input."""
    scale = min(in_w / frame_w, in_h / frame_h)
    new_w = max(1, min(in_w, int(round(frame_w * scale))))
    new_h = max(1, min(in_h, int(round(frame_h * scale))))
    return new_w, new_h, (in_w - new_w) // 2, (in_h - new_h) // 2, scale


class Preprocessor:
    """Converts frames for one network input size; call ``__call__`` per frame."""

    def __init__(self, input_size: tuple[int, int], device: torch.device, dtype: torch.dtype,
                 channels_last: bool, letterbox: bool) -> None:
        self.input_w, self.input_h = input_size
        self.device, self.dtype = device, dtype
        self.channels_last, self.letterbox = channels_last, letterbox
        pin = device.type == "cuda"
        host = torch.empty((self.input_h, self.input_w, 3), dtype=torch.uint8, pin_memory=pin)
        self._host = host
        self._host_np = host.numpy()
        self._resized: np.ndarray | None = None  # letterbox: the scaled frame before padding
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        self._staging = (torch.empty((self.input_h, self.input_w, 3), dtype=torch.uint8, device=device)
                         if device.type != "cpu" else None)
        self._input = torch.empty((1, 3, self.input_h, self.input_w), dtype=dtype, device=device).contiguous(
            memory_format=fmt)

    def mapping(self, frame_w: int, frame_h: int) -> InputMapping:
        if not self.letterbox:
            return InputMapping(self.input_w, self.input_h, self.input_w / frame_w, self.input_h / frame_h)
        _, _, pad_x, pad_y, scale = letterbox_geometry(frame_w, frame_h, self.input_w, self.input_h)
        return InputMapping(self.input_w, self.input_h, scale, scale, float(pad_x), float(pad_y))

    def __call__(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, InputMapping]:
        """BGR uint8 (H, W, 3) -> ((1, 3, in_h, in_w) tensor on the device, mapping)."""
        h, w = image_bgr.shape[:2]
        host = self._host_np
        if self.letterbox:
            new_w, new_h, pad_x, pad_y, _ = letterbox_geometry(w, h, self.input_w, self.input_h)
            if self._resized is None or self._resized.shape[:2] != (new_h, new_w):
                self._resized = np.empty((new_h, new_w, 3), np.uint8)
            cv2.resize(image_bgr, (new_w, new_h), dst=self._resized, interpolation=cv2.INTER_LINEAR)
            host[...] = 127  # Darknet pads with 0.5 grey
            cv2.cvtColor(self._resized, cv2.COLOR_BGR2RGB, dst=host[pad_y:pad_y + new_h, pad_x:pad_x + new_w])
        else:
            if (w, h) == (self.input_w, self.input_h):
                cv2.cvtColor(image_bgr, cv2.COLOR_BGR2RGB, dst=host)
            else:
                # Resize in BGR then swap channels in place: two passes over the small image.
                cv2.resize(image_bgr, (self.input_w, self.input_h), dst=host, interpolation=cv2.INTER_LINEAR)
                cv2.cvtColor(host, cv2.COLOR_BGR2RGB, dst=host)
        src = self._host
        if self._staging is not None:
            self._staging.copy_(src, non_blocking=True)
            src = self._staging
        # HWC uint8 -> NCHW float scaled to [0, 1] in one pass (conversion and scale fused);
        # with channels_last the write is sequential.
        torch.mul(src.permute(2, 0, 1), 1.0 / 255.0, out=self._input[0])
        return self._input, self.mapping(w, h)

"""The one resolver of the preprocessing vocabulary (``engine.models.catalog.Transforms``):
a BGR uint8 frame (H, W, 3) -> the model's input tensor (1, C, h, w) + the mapping that
takes input pixels back to frame pixels.

Steps, in this order for every model: fit the frame to the input size as
``transforms.resize`` says (stretch, letterbox or crop, with ``interpolation``) while it
is still BGR uint8, convert the channels (RGB, BGR or GRAY), then
value = (pixel * scale - mean) / std per channel, in float32 (or the dtype asked for).

``InputResolver`` keeps its buffers from frame to frame (a host uint8 buffer the resize
and colour conversion write into, pinned on CUDA so the upload is asynchronous, and the
device tensor of the model's dtype and memory format), so the per-frame path allocates
nothing on the host: detectors build one and call it per frame. ``to_input`` and
``to_batch`` are the one-shot forms. The returned tensor of an ``InputResolver`` is
overwritten by its next call.

Coordinates: ``InputMapping`` maps pixel edges, x_in = x_frame * scale_x + pad_x (a
letterbox pads, a crop has negative pads), so a box in input pixels maps back with
``box_to_frame``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

import numpy as np

from engine.models.catalog import Transforms

if TYPE_CHECKING:
    import torch

# torch and OpenCV are imported where frames are resolved, not at import: result types
# (detections) carry an InputMapping and are read where neither is loaded.


@dataclass(frozen=True)
class InputMapping:
    """How network-input pixels relate to frame pixels: x_in = x_frame * scale_x + pad_x
    (same for y), so x_frame = (x_in - pad_x) / scale_x.

    Stretch: pad 0, scale_x = input_width / frame_width. Letterbox: equal scales, padding
    on the short side. Crop: equal scales, negative pads (the cut border). Sizes are in
    pixels: the network input's and the frame's it was made from.
    """

    input_width: int
    input_height: int
    frame_width: int
    frame_height: int
    scale_x: float
    scale_y: float
    pad_x: float = 0.0
    pad_y: float = 0.0

    def to_frame(self, x_in: np.ndarray | float, y_in: np.ndarray | float) -> tuple:
        """Input point(s) -> frame point(s) (arrays in, arrays out)."""
        return (np.asarray(x_in) - self.pad_x) / self.scale_x, (np.asarray(y_in) - self.pad_y) / self.scale_y

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """A frame point -> the input point it lands on."""
        return x * self.scale_x + self.pad_x, y * self.scale_y + self.pad_y

    def box_to_frame(self, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
        """A box x1 y1 x2 y2 in input pixels -> the same box in frame pixels."""
        x1, y1, x2, y2 = box
        fx1, fy1 = self.to_frame(x1, y1)
        fx2, fy2 = self.to_frame(x2, y2)
        return float(fx1), float(fy1), float(fx2), float(fy2)


def letterbox_geometry(frame_w: int, frame_h: int, in_w: int, in_h: int,
                       align: str = "centre") -> tuple[int, int, int, int, float]:
    """(new_w, new_h, pad_x, pad_y, scale) of a letterbox of the frame into the input.

    align "centre": sides rounded, the padding split; "top-left": sides truncated (int()
    of the scaled side, as YOLOX's ``preproc`` computes them), no padding before the frame.
    """
    scale = min(in_w / frame_w, in_h / frame_h)
    if align == "top-left":
        return max(1, min(in_w, int(frame_w * scale))), max(1, min(in_h, int(frame_h * scale))), 0, 0, scale
    new_w = max(1, min(in_w, int(round(frame_w * scale))))
    new_h = max(1, min(in_h, int(round(frame_h * scale))))
    return new_w, new_h, (in_w - new_w) // 2, (in_h - new_h) // 2, scale


def crop_geometry(frame_w: int, frame_h: int, in_w: int, in_h: int,
                  resize_size: int | None) -> tuple[int, int, int, int, float]:
    """(new_w, new_h, left, top, scale): the frame resized so its short side is
    ``resize_size`` (None: just covers the input), then cut at (left, top) to the input."""
    short = resize_size if resize_size is not None else max(in_w, in_h)
    scale = short / min(frame_w, frame_h)
    new_w = max(in_w, int(round(frame_w * scale)))
    new_h = max(in_h, int(round(frame_h * scale)))
    return new_w, new_h, int(round((new_w - in_w) / 2)), int(round((new_h - in_h) / 2)), scale


class InputResolver:
    """Frames of any size -> one model's input, with buffers reused; call it per frame.

    transforms: the model's ``Transforms``. size: (width, height) to use instead of
    ``transforms.size`` (a detector's chosen input size); resize: a fitting mode instead
    of ``transforms.resize`` (a feature that must see the whole frame). With no size at
    all, frames keep theirs (a model that resizes inside its forward). dtype and
    channels_last: the tensor the model wants; device: where it goes. pinned: keep the
    host buffer in page-locked memory so uploads overlap (None: on CUDA); worth it only
    for a resolver that is kept and called per frame.
    """

    def __init__(self, transforms: Transforms, *, size: tuple[int, int] | None = None, resize: str | None = None,
                 device: torch.device | str = "cpu", dtype: torch.dtype | None = None,
                 channels_last: bool = False, pinned: bool | None = None) -> None:
        import cv2
        import torch

        if resize is not None or size is not None:
            mode = resize or transforms.resize
            transforms = replace(transforms, resize=mode,
                                 size=(int(size[0]), int(size[1])) if size is not None else transforms.size,
                                 resize_size=transforms.resize_size if mode == "crop" else None)
        self.transforms = transforms
        self._interpolation = {"bilinear": cv2.INTER_LINEAR, "bicubic": cv2.INTER_CUBIC,
                               "nearest": cv2.INTER_NEAREST, "area": cv2.INTER_AREA}[transforms.interpolation]
        self.device = torch.device(device)
        self.dtype = dtype = dtype or torch.float32
        self.channels_last = channels_last
        self.pinned = self.device.type == "cuda" if pinned is None else bool(pinned and torch.cuda.is_available())
        self._size: tuple[int, int] | None = None  # (width, height) the buffers are made for
        self._fitted: np.ndarray | None = None  # letterbox/crop: the resized frame before padding or cutting
        # Skipped when they change nothing: Darknet's input is then one fused scaling pass.
        self._mean = (None if all(m == 0 for m in transforms.mean)
                      else torch.tensor(transforms.mean, device=self.device, dtype=dtype).view(-1, 1, 1))
        self._std = (None if all(s == 1 for s in transforms.std)
                     else torch.tensor(transforms.std, device=self.device, dtype=dtype).view(-1, 1, 1))

    def _buffers(self, width: int, height: int) -> None:
        import torch

        if self._size == (width, height):
            return
        channels = self.transforms.channels
        host = torch.empty((height, width, channels), dtype=torch.uint8, pin_memory=self.pinned)
        self._host, self._host_np = host, host.numpy()
        self._staging = (torch.empty((height, width, channels), dtype=torch.uint8, device=self.device)
                         if self.device.type != "cpu" else None)
        fmt = torch.channels_last if self.channels_last else torch.contiguous_format
        self._input = torch.empty((1, channels, height, width), dtype=self.dtype, device=self.device).contiguous(
            memory_format=fmt)
        self._size = (width, height)

    def mapping(self, frame_w: int, frame_h: int) -> InputMapping:
        """The input <-> frame mapping for a frame of this size."""
        t = self.transforms
        if t.size is None:
            return InputMapping(frame_w, frame_h, frame_w, frame_h, 1.0, 1.0)
        in_w, in_h = t.size
        if t.resize == "letterbox":
            _, _, pad_x, pad_y, scale = letterbox_geometry(frame_w, frame_h, in_w, in_h, t.align)
            return InputMapping(in_w, in_h, frame_w, frame_h, scale, scale, float(pad_x), float(pad_y))
        if t.resize == "crop":
            new_w, new_h, left, top, _ = crop_geometry(frame_w, frame_h, in_w, in_h, t.resize_size)
            return InputMapping(in_w, in_h, frame_w, frame_h, new_w / frame_w, new_h / frame_h, float(-left), float(-top))
        return InputMapping(in_w, in_h, frame_w, frame_h, in_w / frame_w, in_h / frame_h)

    def _convert(self, src: np.ndarray, dst: np.ndarray) -> None:
        """BGR uint8 -> the model's channel order, written into ``dst`` (may be ``src``)."""
        import cv2

        colour = self.transforms.colour
        if colour == "BGR":
            if dst is not src:
                dst[...] = src
        elif colour == "GRAY":
            cv2.cvtColor(src, cv2.COLOR_BGR2GRAY, dst=dst[:, :, 0])
        else:
            cv2.cvtColor(src, cv2.COLOR_BGR2RGB, dst=dst)

    def _resize(self, src: np.ndarray, width: int, height: int, dst: np.ndarray) -> None:
        """``src`` (h, w, 3) uint8 resized to (height, width) into ``dst``."""
        import cv2

        if not self.transforms.antialias:
            cv2.resize(src, (width, height), dst=dst, interpolation=self._interpolation)
            return
        import torch
        import torch.nn.functional as F

        # torch's uint8 kernel is the one torchvision (and so Hugging Face's processors)
        # call: same filter, same rounding, bit for bit.
        pixels = torch.from_numpy(src).permute(2, 0, 1).unsqueeze(0)
        out = F.interpolate(pixels, size=(height, width), mode=self.transforms.interpolation, antialias=True,
                            align_corners=False)
        dst[...] = out[0].permute(1, 2, 0).numpy()

    def _fitted_buffer(self, width: int, height: int) -> np.ndarray:
        if self._fitted is None or self._fitted.shape[:2] != (height, width):
            self._fitted = np.empty((height, width, 3), np.uint8)
        return self._fitted

    def __call__(self, image_bgr: np.ndarray) -> tuple[torch.Tensor, InputMapping]:
        """BGR uint8 (H, W, 3) -> ((1, C, h, w) tensor on the device, its mapping)."""
        import torch

        if image_bgr.ndim != 3 or image_bgr.shape[2] != 3 or image_bgr.dtype != np.uint8:
            raise ValueError(f"expected a BGR uint8 image of shape (H, W, 3), got {image_bgr.dtype} {image_bgr.shape}")
        image_bgr = np.ascontiguousarray(image_bgr)  # OpenCV refuses views with negative strides
        t = self.transforms
        h, w = image_bgr.shape[:2]
        in_w, in_h = t.size if t.size is not None else (w, h)
        self._buffers(in_w, in_h)
        host = self._host_np
        if t.resize == "letterbox" and t.size is not None:
            new_w, new_h, pad_x, pad_y, _ = letterbox_geometry(w, h, in_w, in_h, t.align)
            fitted = self._fitted_buffer(new_w, new_h)
            self._resize(image_bgr, new_w, new_h, fitted)
            host[...] = t.fill
            self._convert(fitted, host[pad_y:pad_y + new_h, pad_x:pad_x + new_w])
        elif t.resize == "crop" and t.size is not None:
            new_w, new_h, left, top, _ = crop_geometry(w, h, in_w, in_h, t.resize_size)
            fitted = self._fitted_buffer(new_w, new_h)
            self._resize(image_bgr, new_w, new_h, fitted)
            self._convert(np.ascontiguousarray(fitted[top:top + in_h, left:left + in_w]), host)
        elif (w, h) == (in_w, in_h):
            self._convert(image_bgr, host)
        elif t.channels == 3:
            # Resize in BGR, then convert in place: two passes over the small image.
            self._resize(image_bgr, in_w, in_h, host)
            self._convert(host, host)
        else:
            fitted = self._fitted_buffer(in_w, in_h)
            self._resize(image_bgr, in_w, in_h, fitted)
            self._convert(fitted, host)
        src = self._host
        if self._staging is not None:
            self._staging.copy_(src, non_blocking=True)
            src = self._staging
        # HWC uint8 -> NCHW scaled in one pass (conversion and scale fused); with
        # channels_last the write is sequential.
        x = self._input[0]
        torch.mul(src.permute(2, 0, 1), t.scale, out=x)
        if self._mean is not None:
            x.sub_(self._mean)
        if self._std is not None:
            x.div_(self._std)
        return self._input, self.mapping(w, h)


def to_input(image_bgr: np.ndarray, transforms: Transforms, *, size: tuple[int, int] | None = None,
             resize: str | None = None, device: torch.device | str = "cpu") -> tuple[torch.Tensor, InputMapping]:
    """One frame -> a new float32 (1, C, h, w) tensor on ``device`` and its mapping (see
    ``InputResolver`` for ``size`` and ``resize``)."""
    return InputResolver(transforms, size=size, resize=resize, device=device, pinned=False)(image_bgr)


def to_batch(images: Sequence[np.ndarray], transforms: Transforms, *,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """Several BGR uint8 images (e.g. face chips) -> float32 (N, C, h, w) on ``device``,
    each resolved as ``to_input`` does; an empty sequence gives (0, C, h, w) when the
    size is known."""
    import torch

    resolver = InputResolver(transforms, device=device, pinned=False)
    if not images:
        w, h = transforms.size or (0, 0)
        return torch.empty((0, transforms.channels, h, w), device=device)
    return torch.cat([resolver(image)[0].clone() for image in images])

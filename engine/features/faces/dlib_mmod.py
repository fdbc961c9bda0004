"""dlib's CNN face detector (mmod_human_face_detector.dat) in torch, with dlib's own geometry.

The network (dlib's dnn_mmod_face_detection_ex): three 5x5 stride-2 convolutions (16, 32,
32 filters) each with affine + relu, three 5x5 convolutions of 45 filters, and a 9x9
convolution to one score map; a score > 0 at output pixel (c, r) is an 80x80 detection
window centred on input-tensor point (8c + 14, 8r + 14).

What makes the boxes come out as dlib's:
- the input is a *tiled image pyramid* (dlib's input_rgb_image_pyramid<pyramid_down<6>>):
  the image and its successive 5/6 bilinear shrinks packed into one tensor with zero
  padding, so one pass of the network scans every scale; boxes are mapped back through
  the tile they fall in (tiled_pyramid_to_image);
- ``upsample`` first enlarges the image with dlib's pyramid_up (bilinear, 2x + 1 or 2 pixels)
  and maps the boxes back with pyramid_down<2>'s point_down;
- non-max suppression keeps the best-scoring box and drops any whose intersection over
  the area of the *bounding rectangle of the pair* exceeds the file's threshold (0.338),
  dlib's rule for its rectangles (inclusive integer corners).

Boxes returned: (N, 4) float32 x1 y1 x2 y2 where x2 = dlib's right + 1 (exclusive, the
engine's convention), and dlib's integer rectangle for exact comparisons.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from engine.features.faces.dlib_dnn import DnnFile, check_kinds, read_dnn
from engine.features.faces.dlib_pyramid import resize_bilinear_rgb

log = logging.getLogger(__name__)

# Outermost first: the 9x9 score conv, three rcon5 (relu affine con), the downsampler.
STRUCTURE = "L" + "LLL" * 3 + "LLL" * 2 + "LLI"
_KINDS = ["con", "affine", "relu"] * 6 + ["con"]
PYRAMID_N = 6


@dataclass(frozen=True)
class MmodDetection:
    """rect: dlib's inclusive integer rectangle (left, top, right, bottom); confidence: the
    network's score (> 0 means a face; larger is surer)."""

    rect: tuple[int, int, int, int]
    confidence: float

    @property
    def box(self) -> np.ndarray:
        """x1 y1 x2 y2 float32 pixels, x2/y2 exclusive (right + 1, bottom + 1)."""
        l, t, r, b = self.rect
        return np.array([l, t, r + 1, b + 1], np.float32)


def _lround(v: float) -> int:
    return int(math.floor(abs(v) + 0.5)) * (1 if v >= 0 else -1)


def tiled_pyramid_rects(nr: int, nc: int, padding: int, outer_padding: int) -> tuple[list[tuple[int, int, int, int]], int, int]:
    """dlib's compute_tiled_image_pyramid_details for pyramid_down<6>: the (l, t, r, b)
    inclusive rectangle of each level in the tiled image, and the tiled image's (rows, cols)."""
    if nr * nc == 0:
        return [], 0, 0
    rate = (PYRAMID_N - 1.0) / PYRAMID_N
    sizes = [(nc, nr)]
    while True:
        nr, nc = math.floor(rate * nr), math.floor(rate * nc)
        if nr * nc == 0 or nr < 5:
            break
        sizes.append((nc, nr))
    total_height = sum(h + padding for _, h in sizes) - 2 * padding
    height, prev_width = 0, 0
    w0, h0 = sizes[0]
    for w, h in sizes:
        if w <= w0 - prev_width - padding and (height - h0) * 2 >= (total_height - h0):
            break
        height += h + padding
        prev_width = w
    height -= padding
    width = w0
    out_nr, out_nc = height + 2 * outer_padding, width + 2 * outer_padding
    rects: list[tuple[int, int, int, int]] = []
    y, i = outer_padding, 0
    while y < height + outer_padding and i < len(sizes):
        w, h = sizes[i]
        rects.append((outer_padding, y, outer_padding + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    r0 = rects[0]
    while i < len(sizes):
        w, h = sizes[i]
        p1 = (outer_padding + width - 1, y - 1)
        rect = (p1[0] - (w - 1), p1[1] - (h - 1), p1[0], p1[1])
        if not (rect[2] < r0[0] or rect[0] > r0[2] or rect[3] < r0[1] or rect[1] > r0[3]):
            break  # the last column would run into the full-size image
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, out_nr, out_nc


def _nearest_rect(rects, px: int, py: int) -> int:
    best, best_d = 0, math.inf
    for i, (l, t, r, b) in enumerate(rects):
        if l <= px <= r and t <= py <= b:
            return i
        nx, ny = min(max(px, l), r), min(max(py, t), b)
        d = math.hypot(nx - px, ny - py)
        if d < best_d:
            best, best_d = i, d
    return best


def _tensor_to_image(rects, box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    l, t, r, b = box
    cx, cy = _lround((l + r) / 2), _lround((t + b) / 2)
    level = _nearest_rect(rects, cx, cy)
    ox, oy = rects[level][0], rects[level][1]
    pts = [l - ox, t - oy, r - ox, b - oy]
    for _ in range(level):  # pyramid_down<6>::point_up: p * 6/5 + 0.3
        pts = [v * (PYRAMID_N / (PYRAMID_N - 1.0)) + 0.3 for v in pts]
    return tuple(pts)  # type: ignore[return-value]


def _overlaps(a, b, iou_thresh: float, covered_thresh: float) -> bool:
    """dlib's test_box_overlap on inclusive integer rectangles."""
    il, it, ir, ib = max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])
    inner = max(0, ir - il + 1) * max(0, ib - it + 1) if ir >= il and ib >= it else 0
    if inner == 0:
        return False
    ul, ut, ur, ub = min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])
    outer = (ur - ul + 1) * (ub - ut + 1)
    area_a = (a[2] - a[0] + 1) * (a[3] - a[1] + 1)
    area_b = (b[2] - b[0] + 1) * (b[3] - b[1] + 1)
    return inner / outer > iou_thresh or inner / area_a > covered_thresh or inner / area_b > covered_thresh


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """dlib's pyramid_up with pyramid_down<2>: (H, W) -> (2H + 1, 2W + 2), bilinear (uint8 RGB)."""
    h, w = image.shape[:2]
    # rect_up of (0, 0, W-1, H-1): corners (p + (1.25, 0.75)) * 2, rounded like dlib's lround.
    right = _lround((w - 1 + 1.25) * 2)
    bottom = _lround((h - 1 + 0.75) * 2)
    return resize_bilinear_rgb(image, bottom + 1, right + 1)


class MmodNet(nn.Module):
    """The detector's convolutional network: (N, 3, H, W) normalised tiles -> (N, 1, h, w) scores."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.ModuleList([nn.Conv2d(c_in, c_out, 5, stride=2) for c_in, c_out in ((3, 16), (16, 32), (32, 32))])
        self.rcon = nn.ModuleList([nn.Conv2d(c_in, 45, 5, padding=2) for c_in in (32, 45, 45)])
        n = len(self.down) + len(self.rcon)
        self.register_buffer("gamma", torch.ones(n, 45))
        self.register_buffer("beta", torch.zeros(n, 45))
        self.score = nn.Conv2d(45, 1, 9, padding=4)
        self.register_buffer("mean_rgb", torch.tensor([122.782, 117.001, 104.298]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous(memory_format=torch.channels_last)  # oneDNN / tensor-core kernels
        for conv in list(self.down) + list(self.rcon):
            x = F.relu(conv(x))  # each affine layer is folded into its convolution (fold_affine)
        return self.score(x)

    def fold_affine(self) -> None:
        """conv -> affine (g, b) == conv with weights * g and bias * g + b: one pass less per layer."""
        with torch.no_grad():
            for i, conv in enumerate(list(self.down) + list(self.rcon)):
                k = conv.out_channels
                g, b = self.gamma[i, :k], self.beta[i, :k]
                conv.weight.mul_(g.view(k, 1, 1, 1))
                conv.bias.mul_(g).add_(b)
                self.gamma[i].fill_(1.0)
                self.beta[i].zero_()

    def load_dlib(self, net: DnnFile) -> None:
        check_kinds(net, _KINDS, "dlib MMOD face detector")
        convs = list(self.down) + list(self.rcon) + [self.score]
        layers = net.layers
        for i, conv in enumerate(convs):
            layer = layers[3 * i]
            s = layer.settings
            found = (s["num_filters"], s["nr"], s["stride_y"], s["padding_y"])
            expected = (conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.padding[0])
            if found != expected:
                raise ValueError(f"{net.path.name}: convolution {i} is {found}, expected {expected}")
            conv.weight.data.copy_(torch.from_numpy(layer.arrays["filters"]))
            conv.bias.data.copy_(torch.from_numpy(layer.arrays["biases"]))
            if i < len(convs) - 1:
                aff = layers[3 * i + 1].arrays
                k = aff["gamma"].size
                self.gamma[i, :k] = torch.from_numpy(aff["gamma"])
                self.beta[i, :k] = torch.from_numpy(aff["beta"])
        self.mean_rgb.copy_(torch.tensor(net.input["avg_rgb"], dtype=torch.float32))


class MmodDetector:
    """dlib's cnn_face_detection_model_v1, on torch: ``detect(rgb, upsample)`` -> [MmodDetection].

    Images are uint8 RGB (H, W, 3) (dlib's order; use ``detect_bgr`` for OpenCV frames).
    The network runs on ``device`` (fp16 on CUDA when ``half``); the pyramid geometry and
    the NMS run on the CPU, they are cheap.
    """

    def __init__(self, path: str | Path, device: torch.device | str = "cpu", half: bool | None = None) -> None:
        self.path = Path(path)
        net = read_dnn(self.path, STRUCTURE, "MMOD face detector")
        self.options = net.loss
        if net.loss.get("kind") != "mmod":
            from engine.features.faces.dlib_format import DlibFormatError

            raise DlibFormatError(f"{self.path.name}: not an MMOD detector (its loss is {net.loss.get('kind')}) ({self.path})")
        self.window = net.loss["detector_windows"][0]
        self.padding = int(net.input.get("pyramid_padding", 10))
        self.outer_padding = int(net.input.get("pyramid_outer_padding", 11))
        self.net = MmodNet()
        self.net.load_dlib(net)
        self.net.fold_affine()
        self.device = torch.device(device)
        self.half = (self.device.type == "cuda") if half is None else half
        self.net = self.net.to(self.device).eval().to(memory_format=torch.channels_last)
        if self.half:
            self.net = self.net.half()

    def to(self, device: torch.device | str) -> "MmodDetector":
        self.device = torch.device(device)
        self.net = self.net.to(self.device)
        return self

    def _tiled_input(self, images: list[np.ndarray]):
        h, w = images[0].shape[:2]
        rects, nr, nc = tiled_pyramid_rects(h, w, self.padding, self.outer_padding)
        batch = torch.from_numpy(np.stack(images)).to(self.device).permute(0, 3, 1, 2).float()
        mean = self.net.mean_rgb.float().view(1, 3, 1, 1)
        x = torch.zeros((len(images), 3, nr, nc), device=self.device)
        l, t, r, b = rects[0]
        x[:, :, t:b + 1, l:r + 1] = (batch - mean) / 256.0
        for prev, cur in zip(rects, rects[1:]):
            src = x[:, :, prev[1]:prev[3] + 1, prev[0]:prev[2] + 1]
            x[:, :, cur[1]:cur[3] + 1, cur[0]:cur[2] + 1] = F.interpolate(
                src, size=(cur[3] - cur[1] + 1, cur[2] - cur[0] + 1), mode="bilinear", align_corners=True)
        return x, rects

    @torch.inference_mode()
    def scores(self, images: list[np.ndarray]):
        """Score maps of a batch of same-size RGB images -> (numpy (N, h, w) float32, rects)."""
        x, rects = self._tiled_input(images)
        out = self.net(x.half() if self.half else x).float()[:, 0]
        return out.cpu().numpy(), rects

    def _to_detections(self, score: np.ndarray, rects, upsample: int, threshold: float) -> list[MmodDetection]:
        ww, wh = self.window
        rows, cols = np.nonzero(score > threshold)
        cands = []
        for r, c in zip(rows.tolist(), cols.tolist()):
            px, py = 8.0 * c + 14.0, 8.0 * r + 14.0  # output -> input tensor through the three stride-2 convs
            box = (px - (ww - 1) / 2, py - (wh - 1) / 2, px + (ww - 1) / 2, py + (wh - 1) / 2)
            rect = tuple(_lround(v) for v in _tensor_to_image(rects, box))
            cands.append((float(score[r, c]), rect))
        cands.sort(key=lambda d: d[0], reverse=True)
        iou, covered = self.options["overlaps_nms"]
        kept: list[tuple[float, tuple]] = []
        for conf, rect in cands:
            if any(_overlaps(k[1], rect, iou, covered) for k in kept):
                continue
            kept.append((conf, rect))
        out = []
        for conf, rect in kept:
            if upsample:
                # pyramid_down<2>::point_down applied ``upsample`` times: p / 2 - (1.25, 0.75)
                pts = list(rect)
                for _ in range(upsample):
                    pts = [pts[0] / 2 - 1.25, pts[1] / 2 - 0.75, pts[2] / 2 - 1.25, pts[3] / 2 - 0.75]
                rect = tuple(_lround(v) for v in pts)
            out.append(MmodDetection(rect, conf))  # type: ignore[arg-type]
        return out

    def detect(self, rgb: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> list[MmodDetection]:
        """Faces in one uint8 RGB image, best first (dlib's order)."""
        return self.detect_batch([rgb], upsample, threshold)[0]

    def detect_batch(self, images: list[np.ndarray], upsample: int = 0, threshold: float = 0.0) -> list[list[MmodDetection]]:
        """Faces in several same-size uint8 RGB images, one network pass."""
        if not images:
            return []
        for image in images:
            if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
                raise ValueError(f"MMOD needs uint8 (H, W, 3) images, got {image.dtype} {image.shape}")
            if image.shape != images[0].shape:
                raise ValueError("all images of one batch must have the same size")
        work = list(images)
        for _ in range(upsample):
            work = [pyramid_up(im) for im in work]
        h, w = work[0].shape[:2]
        if min(h, w) < 5:
            return [[] for _ in images]
        scores, rects = self.scores(work)
        return [self._to_detections(s, rects, upsample, threshold) for s in scores]

    def detect_bgr(self, bgr: np.ndarray, upsample: int = 0, threshold: float = 0.0) -> list[MmodDetection]:
        return self.detect(np.ascontiguousarray(bgr[..., ::-1]), upsample, threshold)


def load_mmod(path: str | Path, device: torch.device | str = "cpu") -> MmodDetector:
    """The detector of ``path`` (DlibFormatError when the file is not dlib's MMOD model)."""
    return MmodDetector(path, device)

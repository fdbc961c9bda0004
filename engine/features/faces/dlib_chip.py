"""dlib's face-chip alignment (get_face_chip_details + extract_image_chip), reproduced.

From five landmarks (dlib's 5-point order, integer pixels) a similarity transform maps
dlib's mean-face template, padded by ``padding`` on each side, onto the image; the chip
is sampled from it with bilinear interpolation, pixels outside the image black. For a
face more than about twice the chip's scale dlib samples from a 2:1 image pyramid;
that is reproduced too (dlib_pyramid.py), so large faces match dlib as well.

Coordinates: image pixels, x right, y down, pixel centres at integers (dlib's and
OpenCV's convention). Images: uint8 (H, W, 3) in any channel order (the chip keeps it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from engine.features.faces.dlib_shape import similarity_transform

CHIP_SIZE = 150
PADDING = 0.25

# dlib's template of the 5 points on a unit square (get_face_chip_details).
TEMPLATE_5 = np.array([
    [0.8595674595992, 0.2134981538014],
    [0.6460604764104, 0.2289674387677],
    [0.1205750620789, 0.2137274526848],
    [0.3340850613712, 0.2290642403242],
    [0.4901123135679, 0.6277975316475],
])


@dataclass(frozen=True)
class ChipDetails:
    """Where a chip comes from: a rectangle (l, t, r, b; dlib's inclusive drectangle) of
    the image rotated by ``angle`` radians about its centre, sampled at rows x cols."""

    rect: tuple[float, float, float, float]
    angle: float
    rows: int
    cols: int


def face_chip_details(points: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> ChipDetails:
    """points: (5, 2) dlib landmarks in image pixels -> the chip's placement."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    if points.shape[0] != 5:
        raise ValueError(f"face chips need dlib's 5 landmarks, got {points.shape[0]} points")
    chip_points = (padding + TEMPLATE_5) / (2 * padding + 1) * size
    m, t = similarity_transform(chip_points, points)
    px, py = m[0, 0], m[1, 0]  # the image of the unit x vector
    angle = math.atan2(py, px)
    scale = math.hypot(px, py)
    cx, cy = m @ np.array([size / 2.0, size / 2.0]) + t
    w = size * scale - 1.0  # centred_drect shrinks by one: dlib rectangles are inclusive
    h = size * scale - 1.0
    return ChipDetails((cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2), angle, size, size)


def _rotate(center: tuple[float, float], p: tuple[float, float], angle: float) -> tuple[float, float]:
    c, s = math.cos(angle), math.sin(angle)
    x, y = p[0] - center[0], p[1] - center[1]
    return (c * x - s * y + center[0], s * x + c * y + center[1])


def _area(rect: tuple[float, float, float, float]) -> float:
    l, t, r, b = rect
    if l > r or t > b:
        return 0.0
    return (r - l + 1) * (b - t + 1)


def _rect_down(rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    # pyramid_down<2>::point_down(p) = p / 2 - (1.25, 0.75)
    l, t, r, b = rect
    return (l / 2 - 1.25, t / 2 - 0.75, r / 2 - 1.25, b / 2 - 0.75)


def _bilinear(image: np.ndarray, xs: np.ndarray, ys: np.ndarray, bounds: tuple[int, int, int, int]) -> np.ndarray:
    """Sample ``image`` at float points like dlib's interpolate_bilinear; black outside ``bounds``
    (x1, y1, x2, y2 inclusive: the sub-image the chip is cut from)."""
    x1, y1, x2, y2 = bounds
    left = np.floor(xs).astype(np.int64)
    top = np.floor(ys).astype(np.int64)
    inside = (left >= x1) & (top >= y1) & (left + 1 <= x2) & (top + 1 <= y2)
    left_c = np.clip(left, 0, image.shape[1] - 2)
    top_c = np.clip(top, 0, image.shape[0] - 2)
    fx = (xs - left)[..., None]
    fy = (ys - top)[..., None]
    # Gather the four neighbours first, then convert: only the chip's pixels become doubles.
    tl = image[top_c, left_c].astype(np.float64)
    tr = image[top_c, left_c + 1].astype(np.float64)
    bl = image[top_c + 1, left_c].astype(np.float64)
    br = image[top_c + 1, left_c + 1].astype(np.float64)
    value = (1 - fy) * ((1 - fx) * tl + fx * tr) + fy * ((1 - fx) * bl + fx * br)
    out = np.clip(value, 0, 255).astype(np.uint8)  # dlib's vector_to_pixel truncates
    out[~inside] = 0
    return out


def extract_chip(image: np.ndarray, details: ChipDetails) -> np.ndarray:
    """Cut one chip as dlib's extract_image_chip does (bilinear) -> uint8 (rows, cols, C)."""
    if image.ndim == 2:
        image = image[..., None]
    h, w = image.shape[:2]
    rect = details.rect
    angle = details.angle
    centre = ((rect[0] + rect[2]) / 2, (rect[1] + rect[3]) / 2)
    corners = [_rotate(centre, p, angle) for p in ((rect[0], rect[1]), (rect[2], rect[1]), (rect[0], rect[3]), (rect[2], rect[3]))]
    xs_c = [p[0] for p in corners]
    ys_c = [p[1] for p in corners]
    size = details.rows * details.cols
    depth, grow, level_rect = 0, 2.0, _rect_down(rect)
    # dlib keeps a border around the cut that grows with each pyramid level it will need.
    while _area(level_rect) > size:
        level_rect = _rect_down(level_rect)
        depth += 1
        grow = grow * 2 + 2
    # grow_rect(rot_rect, grow) ∩ image, rounded to an integer rectangle as dlib converts it.
    gl, gt = max(min(xs_c) - grow, 0.0), max(min(ys_c) - grow, 0.0)
    gr, gb = min(max(xs_c) + grow, w - 1.0), min(max(ys_c) + grow, h - 1.0)
    bounds = tuple(int(np.floor(abs(v) + 0.5) * (1 if v >= 0 else -1)) for v in (gl, gt, gr, gb))
    level_rect = rect
    source = image
    if depth:
        from engine.features.faces.dlib_pyramid import pyramid_chain

        sub = image[bounds[1]:bounds[3] + 1, bounds[0]:bounds[2] + 1]
        shifted = (rect[0] - bounds[0], rect[1] - bounds[1], rect[2] - bounds[0], rect[3] - bounds[1])
        level_rect = shifted
        for _ in range(depth):
            level_rect = _rect_down(level_rect)
        source = pyramid_chain(sub, depth)
        bounds = (0, 0, source.shape[1] - 1, source.shape[0] - 1)
    l, t, r, b = level_rect
    centre = ((l + r) / 2, (t + b) / 2)
    tl = _rotate(centre, (l, t), angle)
    tr = _rotate(centre, (r, t), angle)
    bl = _rotate(centre, (l, b), angle)
    cols, rows = details.cols, details.rows
    # The affine map chip (0,0)->tl, (cols-1,0)->tr, (0,rows-1)->bl.
    ax = ((tr[0] - tl[0]) / (cols - 1), (tr[1] - tl[1]) / (cols - 1))
    ay = ((bl[0] - tl[0]) / (rows - 1), (bl[1] - tl[1]) / (rows - 1))
    cc, rr = np.meshgrid(np.arange(cols, dtype=np.float64), np.arange(rows, dtype=np.float64))
    xs = tl[0] + cc * ax[0] + rr * ay[0]
    ys = tl[1] + cc * ax[1] + rr * ay[1]
    chip = _bilinear(source, xs, ys, bounds)
    return chip if image.shape[2] != 1 else chip[..., 0]


def face_chip(image: np.ndarray, points: np.ndarray, size: int = CHIP_SIZE, padding: float = PADDING) -> np.ndarray:
    """dlib.get_face_chip(image, shape, size, padding): the aligned chip of one face."""
    return extract_chip(image, face_chip_details(points, size, padding))

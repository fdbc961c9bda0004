"""Turning activations, kernels and saliency into BGR uint8 pictures (numpy + OpenCV).

Used by the CLI for saved files and by the Feature maps tab for its grids; nothing here
draws into a live frame (the tab paints its overlays itself).
"""

from __future__ import annotations

import functools
import math

import cv2
import numpy as np

COLORMAPS: dict[str, int | None] = {
    "viridis": cv2.COLORMAP_VIRIDIS,
    "inferno": cv2.COLORMAP_INFERNO,
    "magma": cv2.COLORMAP_MAGMA,
    "jet": cv2.COLORMAP_JET,
    "gray": None,
}
NORMALISATIONS = ("channel", "shared")


def normalise_maps(maps: np.ndarray, mode: str = "channel") -> np.ndarray:
    """(K, h, w) raw activations -> float32 in [0, 1].

    mode "channel": each map stretched to its own min..max (shows the pattern of weak
    channels too); "shared": one min..max over all maps (shows which channels are strong).
    A constant map becomes 0.
    """
    if mode not in NORMALISATIONS:
        raise ValueError(f"unknown normalisation '{mode}': use one of {', '.join(NORMALISATIONS)}")
    maps = np.asarray(maps, dtype=np.float32)
    axes = (1, 2) if mode == "channel" else None
    low = maps.min(axis=axes, keepdims=axes is not None)
    span = maps.max(axis=axes, keepdims=axes is not None) - low
    return np.where(span > 0, (maps - low) / np.where(span > 0, span, 1.0), 0.0).astype(np.float32)


@functools.lru_cache(maxsize=None)
def colormap_lut(colormap: str) -> np.ndarray:
    """(256, 3) uint8 BGR: the colour of each grey level under ``colormap``.

    Made once per map from OpenCV's own colour maps. Why a table: cv2.applyColorMap
    rebuilds its table on every call (0.25 ms, more than colouring a small map), which the
    Feature maps tab paid for 16 maps per live frame.
    """
    if colormap not in COLORMAPS:
        raise ValueError(f"unknown colour map '{colormap}': use one of {', '.join(COLORMAPS)}")
    ramp = np.arange(256, dtype=np.uint8).reshape(256, 1)
    code = COLORMAPS[colormap]
    lut = cv2.cvtColor(ramp, cv2.COLOR_GRAY2BGR) if code is None else cv2.applyColorMap(ramp, code)
    lut = np.ascontiguousarray(lut.reshape(256, 3))
    lut.setflags(write=False)
    return lut


@functools.lru_cache(maxsize=None)
def _lut_bgra(colormap: str) -> np.ndarray:
    lut = np.concatenate([colormap_lut(colormap), np.full((256, 1), 255, np.uint8)], axis=1)
    lut.setflags(write=False)
    return lut


def colorize(values: np.ndarray, colormap: str = "viridis", alpha: bool = False) -> np.ndarray:
    """(..., h, w) float in [0, 1] -> (..., h, w, 3) uint8 BGR with ``colormap``
    (``alpha``: (..., h, w, 4) BGRA, opaque, the layout of a 32-bit screen image).

    A stack of maps (K, h, w) is coloured in one call.
    """
    lut = _lut_bgra(colormap) if alpha else colormap_lut(colormap)
    gray = np.clip(np.asarray(values, dtype=np.float32) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return lut[gray]


def mosaic(tiles: np.ndarray, columns: int | None = None, tile_size: int | None = None, gap: int = 2, background: int = 32) -> np.ndarray:
    """(K, h, w, 3) uint8 tiles -> one BGR image, row-major, ``gap`` pixels apart.

    columns: default a near-square grid. tile_size: scale each tile (nearest neighbour,
    so single activations stay crisp squares) to this many pixels on its longer side.
    """
    tiles = np.asarray(tiles)
    if tiles.ndim != 4 or tiles.shape[-1] != 3:
        raise ValueError(f"expected tiles of shape (K, h, w, 3), got {tiles.shape}")
    count, h, w = tiles.shape[:3]
    if tile_size:
        scale = tile_size / max(h, w)
        h, w = max(1, round(h * scale)), max(1, round(w * scale))
        tiles = np.stack([cv2.resize(t, (w, h), interpolation=cv2.INTER_NEAREST) for t in tiles])
    columns = columns or max(1, math.ceil(math.sqrt(count)))
    rows = max(1, math.ceil(count / columns))
    canvas = np.full((rows * h + (rows + 1) * gap, columns * w + (columns + 1) * gap, 3), background, np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, columns)
        y, x = gap + r * (h + gap), gap + c * (w + gap)
        canvas[y : y + h, x : x + w] = tile
    return canvas


def activation_grid(maps: np.ndarray, colormap: str = "viridis", normalisation: str = "channel", columns: int | None = None, tile_size: int = 96) -> np.ndarray:
    """(K, h, w) activations -> a BGR grid image of coloured maps."""
    unit = normalise_maps(maps, normalisation)
    return mosaic(np.stack([colorize(m, colormap) for m in unit]), columns=columns, tile_size=tile_size)


def heat_overlay(image: np.ndarray, heat: np.ndarray, alpha: float = 0.5, colormap: str = "jet") -> np.ndarray:
    """Blend a (h, w) [0, 1] heat map, resized to the image, over a BGR uint8 image.

    alpha: 0 shows only the image, 1 only the heat map.
    """
    height, width = image.shape[:2]
    heat = cv2.resize(np.asarray(heat, dtype=np.float32), (width, height), interpolation=cv2.INTER_LINEAR)
    coloured = colorize(heat, colormap)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    return cv2.addWeighted(image, 1.0 - alpha, coloured, alpha, 0.0)


def filter_tiles_rgb(rgb: np.ndarray) -> np.ndarray:
    """(K, kh, kw, 3) RGB in [0, 1] kernels -> (K, kh, kw, 3) uint8 BGR tiles."""
    return np.clip(np.asarray(rgb)[..., ::-1] * 255.0 + 0.5, 0, 255).astype(np.uint8)


def filter_tiles_gray(slices: np.ndarray, out_channel: int | None = None, limit: int = 64) -> np.ndarray:
    """Kernel slices (out, in, kh, kw) in [0, 1] -> (K, kh, kw, 3) uint8 gray tiles.

    With ``out_channel`` the tiles are that kernel's per-input-channel slices; without,
    the first input slice of each kernel. At most ``limit`` tiles.
    """
    chosen = slices[out_channel] if out_channel is not None else slices[:, 0]
    chosen = chosen[:limit]
    gray = np.clip(chosen * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return np.repeat(gray[..., None], 3, axis=-1)
